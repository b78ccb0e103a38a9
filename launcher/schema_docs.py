"""JSON Schemas of our models with each field's attribute docstring as its description.

Pydantic can read those docstrings when a model class is created
(``use_attribute_docstrings``), but that reads and tokenizes the source of every model at
import, a third of the command line's start-up, for descriptions that only the schemas
(``paperclip-gitops schema``, the launcher's OpenAPI document, the docs' reference) show.
So the docstrings are read here, when a schema is asked for, and placed where pydantic
would place them.
"""

from __future__ import annotations

import ast
import inspect
import sys
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

_UPDATE_ORDER = ("title", "description", "deprecated", "examples")
"""The order pydantic writes a field's own JSON Schema keys in."""


@cache
def _module_classes(module: str) -> dict[str, ast.ClassDef]:
    """The top-level classes of a module's source, by name."""
    try:
        tree = ast.parse(inspect.getsource(sys.modules[module]))
    except (KeyError, OSError, TypeError):
        return {}
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


@cache
def _own_docs(cls: type[Any]) -> dict[str, str]:
    """The docstrings written under the fields ``cls`` itself annotates."""
    node = _module_classes(cls.__module__).get(cls.__name__)
    docs: dict[str, str] = {}
    if node is None:
        return docs
    for before, after in zip(node.body, node.body[1:], strict=False):
        if (
            isinstance(before, ast.AnnAssign)
            and isinstance(before.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[before.target.id] = inspect.cleandoc(after.value.value)
    return docs


def attribute_docs(cls: type[Any]) -> dict[str, str]:
    """Each field's docstring, read in the class that last annotates the field (pydantic's
    own base classes declare no fields: their source is not read)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("pydantic."):
            continue
        annotated = inspect.get_annotations(klass)
        own = _own_docs(klass) if annotated else {}
        for name in annotated:
            if name in own:
                docs[name] = own[name]
            else:
                docs.pop(name, None)
    return docs


class _Described(GenerateJsonSchema):
    """Pydantic's generator, adding each field's docstring where no description is given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._models: list[type[Any]] = []

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        self._models.append(schema["cls"])
        try:
            return super().model_schema(schema)
        finally:
            self._models.pop()

    def model_fields_schema(self, schema: core_schema.ModelFieldsSchema) -> JsonSchemaValue:
        docs = attribute_docs(self._models[-1]) if self._models else {}
        if docs:
            fields = {
                name: _with_doc(field, docs.get(name)) for name, field in schema["fields"].items()
            }
            schema = {**schema, "fields": fields}
        return super().model_fields_schema(schema)


def _with_doc(field: core_schema.ModelField, doc: str | None) -> core_schema.ModelField:
    metadata: dict[str, Any] = dict(field.get("metadata") or {})
    updates: dict[str, Any] = metadata.get("pydantic_js_updates") or {}
    if doc is None or "description" in updates:
        return field
    merged = {**updates, "description": doc}
    ordered = {key: merged[key] for key in _UPDATE_ORDER if key in merged}
    metadata["pydantic_js_updates"] = {**ordered, **merged}
    return {**field, "metadata": metadata}


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model.model_json_schema(by_alias=True)`` (validation mode), with the fields'
    attribute docstrings."""
    return model.model_json_schema(by_alias=True, schema_generator=_Described)


__all__ = ["attribute_docs", "json_schema"]
