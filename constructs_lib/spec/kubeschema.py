"""Strict validation against the official Kubernetes OpenAPI schemas (kubernetes-validate).

Validators are compiled once per (Kubernetes version, schema) and cached, so validating many
objects costs one schema walk each, not one schema load each.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import jsonschema
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

DEFAULT_KUBERNETES_VERSION = "1.33"

_DEFS_URI = "https://kubernetes.io/api/_definitions.json"


class UnknownKubernetesVersion(ValueError):
    """The requested Kubernetes version has no bundled schema."""


class UnknownKind(ValueError):
    """No schema is bundled for this apiVersion and kind."""


def supported_versions() -> list[str]:
    return sorted({kv.major_minor(v) for v in kv.all_versions()}, key=_version_key)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _schema_dir(version: str) -> str:
    wanted = kv.major_minor(version.removeprefix("v"))
    if not re.fullmatch(r"\d+\.\d+", wanted):
        raise UnknownKubernetesVersion(version)
    candidates = [v for v in kv.all_versions() if kv.major_minor(v) == wanted]
    if not candidates:
        raise UnknownKubernetesVersion(version)
    return f"kubernetes-json-schema/v{candidates[-1]}-local-strict"


@cache
def _registry(version: str) -> tuple[str, Registry[Any]]:
    schema_dir = _schema_dir(version)
    definitions = kv.schema_contents(f"{schema_dir}/_definitions.json", version)
    return schema_dir, Resource.from_contents(definitions) @ Registry()


@cache
def object_validator(version: str, api_version: str, kind: str) -> jsonschema.Validator:
    """The strict validator for one top-level kind (cached)."""
    schema_dir, registry = _registry(version)
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv.schema_contents(f"{schema_dir}/{kind.lower()}-{group_version}.json", version)
    except FileNotFoundError as exc:
        raise UnknownKind(f"{api_version} {kind}") from exc
    return jsonschema.validators.Draft202012Validator(
        schema, registry=Resource.from_contents(schema) @ registry
    )


@cache
def definition_validator(version: str, definition: str) -> jsonschema.Validator:
    """The strict validator for one OpenAPI definition, e.g. ``io.k8s.api.core.v1.Container``."""
    _, registry = _registry(version)
    schema = {"$ref": f"{_DEFS_URI}#/$defs/{definition}"}
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def schema_errors(validator: jsonschema.Validator, data: Any) -> list[tuple[str, str]]:
    """(json path, message) for every violation, deepest and most specific first."""
    found: list[tuple[str, str]] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        best = jsonschema.exceptions.best_match([error])
        found.append((format_path(best.absolute_path), _short_message(best)))
    return found


def format_path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _short_message(error: jsonschema.ValidationError) -> str:
    message = str(error.message)
    if error.validator == "additionalProperties":
        return message.replace("Additional properties are not allowed", "unknown field")
    if len(message) > 300:
        message = message[:300] + "..."
    return message
