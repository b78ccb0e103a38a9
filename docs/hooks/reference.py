"""MkDocs hook: the Instance reference (reference/instance.md), generated at build time from
the spec models (the JSON Schema `paperclip-gitops schema` prints, which pydantic makes from
the models and their docstrings): every field, its type, its default, its rules. Nothing
generated is committed, so the reference cannot go stale."""

from __future__ import annotations

import json
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

from launcher.schema_docs import json_schema

PAGE = "reference/instance.md"
RULES = (
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "format",
)


def _ref(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    return None


def _type(schema: dict[str, Any]) -> str:
    ref = _ref(schema)
    if ref:
        return f"[{ref}](#{ref.lower()})"
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            parts = [_type(s) for s in schema[key] if s.get("type") != "null"]
            return " or ".join(dict.fromkeys(parts)) or "null"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type", "object")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {_type(schema['additionalProperties'])}"
    return str(kind)


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema and the parts of it a value's rules live in: anyOf branches (an optional
    field is ``anyOf: [X, null]``), list items and map values."""
    found = [schema]
    for branch in schema.get("anyOf", []):
        found += _branches(branch)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += _branches(schema[key])
    return found


def _rules(schema: dict[str, Any], required: bool, defs: dict[str, Any]) -> str:
    """Every constraint the spec checks on a field: required, the allowed values of an enum
    (also one behind a $ref), a constant, bounds, lengths, patterns, key patterns."""
    found = ["required"] if required else []
    for branch in _branches(schema):
        target = defs.get(_ref(branch) or "", {})
        for source in (branch, target):
            if "enum" in source:
                found.append("one of: " + ", ".join(f"`{v}`" for v in source["enum"]))
            if "const" in source:
                found.append(f"exactly `{source['const']}`")
        for rule in RULES:
            if rule in branch:
                found.append(f"{rule}: `{branch[rule]}`")
        for key_pattern in branch.get("patternProperties", {}):
            found.append(f"keys match `{key_pattern}`")
        names = branch.get("propertyNames", {})
        if isinstance(names, dict) and "pattern" in names:
            found.append(f"keys match `{names['pattern']}`")
    return "; ".join(dict.fromkeys(found))


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(schema: dict[str, Any], required: bool) -> str:
    """What an absent field means: its default (``null``: unset), or none when it is
    required."""
    if required:
        return "none (required)"
    if "default" not in schema:
        return ""
    if schema["default"] is None:
        return "unset"
    return f"`{json.dumps(schema['default'])}`"


def section(name: str, schema: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [_cell(schema["description"]), ""]
    if "enum" in schema:
        lines += ["One of: " + ", ".join(f"`{v}`" for v in schema["enum"]) + ".", ""]
        return lines
    properties = schema.get("properties", {})
    if not properties:
        return lines
    required = set(schema.get("required", []))
    lines += ["| Field | Type | Default | Rules | Description |", "|---|---|---|---|---|"]
    for field, child in properties.items():
        lines.append(
            f"| `{field}` | {_type(child)} | {_default(child, field in required)} | "
            f"{_cell(_rules(child, field in required, defs))} | "
            f"{_cell(child.get('description', ''))} |"
        )
    return [*lines, ""]


def reference_markdown() -> str:
    from constructs_lib.spec import Instance

    schema = json_schema(Instance)
    defs = schema.get("$defs", {})
    lines = [
        "# Instance reference",
        "",
        "Every field of the `paperclip.inc/v1alpha1` `Instance` spec paperclip-gitops reads, "
        "with its type, its default (what an absent field means) and its rules (what the spec "
        "checks: required, allowed values, bounds, patterns) — generated from the spec models "
        "when this site is built (`paperclip-gitops schema` prints the same as a JSON Schema for "
        "editors). Rules that span fields (e.g. several replicas need object storage) are "
        "described with the field and on the [Instances](../instances.md) page.",
        "",
        "## Instance",
        "",
        *section("Instance", schema, defs)[2:],
        "## Types",
        "",
    ]
    for name, child in sorted(defs.items()):
        lines += section(name, child, defs)
    return "\n".join(lines) + "\n"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    files.append(File.generated(config, PAGE, content=reference_markdown()))
    return files
