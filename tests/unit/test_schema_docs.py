"""Field descriptions come from attribute docstrings when a schema is asked for, not at import."""

from __future__ import annotations

from pydantic import Field

from launcher.schema_docs import attribute_docs, json_schema
from launcher.templates import Model, TemplateEnv


class _Parent(Model):
    kept: int = 0
    """Kept by children that do not annotate it again."""
    dropped: int = 0
    """Dropped by a child that annotates it again without a docstring."""
    given: int = Field(default=0, description="given in Field")
    """A docstring that loses to the Field's description."""


class _Child(_Parent):
    dropped: int = 1
    own: str = ""
    """The child's own field."""


def test_model_classes_do_not_read_their_source() -> None:
    assert not Model.model_config.get("use_attribute_docstrings")
    assert TemplateEnv.model_fields["name"].description is None


def test_a_fields_docstring_is_its_description() -> None:
    properties = json_schema(TemplateEnv)["properties"]
    assert properties["name"]["description"] == "The variable's name."


def test_inherited_overridden_and_explicit_descriptions() -> None:
    assert attribute_docs(_Child) == {
        "kept": "Kept by children that do not annotate it again.",
        "given": "A docstring that loses to the Field's description.",
        "own": "The child's own field.",
    }
    properties = json_schema(_Child)["properties"]
    assert properties["kept"]["description"] == "Kept by children that do not annotate it again."
    assert "description" not in properties["dropped"]
    assert properties["given"]["description"] == "given in Field"
    assert properties["own"]["description"] == "The child's own field."
    assert list(properties["own"]) == ["default", "description", "title", "type"]


def test_nested_models_get_their_descriptions() -> None:
    from constructs_lib.spec.instance import Instance

    schema = json_schema(Instance)
    described = [
        name
        for definition in schema["$defs"].values()
        for name, prop in definition.get("properties", {}).items()
        if "description" in prop
    ]
    assert len(described) > 100
