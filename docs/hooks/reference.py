"""MkDocs hook: the Instance reference (reference/instance.md), generated at build time from
the spec models (the JSON Schema `paperclip-gitops schema` prints, which pydantic makes from
the models and their docstrings): every field, its type, its default, its rules. Nothing
generated is committed, so the reference cannot go stale."""

from __future__ import annotations

import json
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

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


def _rules(schema: dict[str, Any]) -> str:
    found = []
    branches = [schema, *schema.get("anyOf", [])]
    if isinstance(schema.get("items"), dict):
        branches.append(schema["items"])
    for branch in branches:
        for rule in RULES:
            if rule in branch:
                found.append(f"{rule}: `{branch[rule]}`")
    return "; ".join(dict.fromkeys(found))


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(schema: dict[str, Any], required: bool) -> str:
    if required:
        return "required"
    if "default" in schema:
        return f"`{json.dumps(schema['default'])}`"
    return ""


def section(name: str, schema: dict[str, Any]) -> list[str]:
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
            f"{_cell(_rules(child))} | {_cell(child.get('description', ''))} |"
        )
    return [*lines, ""]


def reference_markdown() -> str:
    from constructs_lib.spec import Instance

    schema = Instance.model_json_schema(by_alias=True, mode="validation")
    lines = [
        "# Instance reference",
        "",
        "Every field of the `paperclip.inc/v1alpha1` `Instance` spec paperclip-gitops reads, "
        "with its type, default and rules — generated from the spec models when this site is "
        "built (`paperclip-gitops schema` prints the same as a JSON Schema for editors).",
        "",
        "## Instance",
        "",
        *section("Instance", schema)[2:],
        "## Types",
        "",
    ]
    for name, child in sorted(schema.get("$defs", {}).items()):
        lines += section(name, child)
    return "\n".join(lines) + "\n"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    files.append(File.generated(config, PAGE, content=reference_markdown()))
    return files
