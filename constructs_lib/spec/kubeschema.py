"""Strict validation of every kind the generator emits, fast.

* Core kinds and pass-through definitions: the official Kubernetes OpenAPI schemas
  (PyPI ``kubernetes-validate``, strict form).
* Non-core kinds (ServiceMonitor, HTTPRoute, Argo CD, Flux, ...): the upstream CRD pinned in
  :mod:`constructs_lib.spec.crds`, its ``openAPIV3Schema`` translated by
  :func:`crd_json_schema` into a JSON Schema with the API server's structural-schema and strict
  field validation rules. CEL rules (``x-kubernetes-validations``) cannot be evaluated here;
  the control-plane tests apply every such object to a real API server, which does.
* Any other ``(apiVersion, kind)`` raises :class:`UnknownKind`.

Each schema is compiled once into a closure tree (:mod:`constructs_lib.spec.fastschema`) that
gives the verdict; only an invalid object goes through jsonschema, which explains the problem
with the same messages as before. Validators are cached per (Kubernetes version, schema).
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any

from constructs_lib.spec import bundled_schemas as kv
from constructs_lib.spec import crds
from constructs_lib.spec.fastschema import Check, Compiler, Documents, Unsupported
from constructs_lib.spec.patterns import INT32, INT64
from constructs_lib.spec.versions import DEFAULT_KUBERNETES_VERSION as DEFAULT_KUBERNETES_VERSION

if TYPE_CHECKING:
    import jsonschema

_DEFS_URI = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = f"{_DEFS_URI}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


class UnknownKubernetesVersion(ValueError):
    """The requested Kubernetes version has no bundled schema."""


class UnknownKind(ValueError):
    """No schema is bundled or pinned for this apiVersion and kind."""


class SchemaValidator:
    """A strict validator: a compiled fast verdict, jsonschema for the messages (loaded and
    built only when they are needed: most objects are valid)."""

    def __init__(self, schema: dict[str, Any], compiler: Compiler):
        self.schema = schema
        self.documents = compiler.documents
        self._jsonschema: jsonschema.protocols.Validator | None = None
        self.fast: Check | None
        try:
            self.fast = compiler.compile(schema)
        except Unsupported:
            self.fast = None

    @property
    def jsonschema(self) -> jsonschema.protocols.Validator:
        """The jsonschema validator of the same schema (its verdict is the reference)."""
        if self._jsonschema is None:
            import jsonschema
            from referencing import Registry
            from referencing.jsonschema import DRAFT202012

            registry: Registry[Any] = Registry()
            for document in self.documents.resolver(self.schema).by_uri.values():  # and the root
                registry = DRAFT202012.create_resource(document) @ registry
            validator = jsonschema.validators.Draft202012Validator
            self._jsonschema = validator(self.schema, registry=registry)
        return self._jsonschema

    def _fast_verdict(self, data: Any) -> bool | None:
        """The compiled verdict, or None where only jsonschema can tell."""
        if self.fast is not None:
            try:
                return self.fast(data)
            except Unsupported:  # met in a subschema compiled on first use: jsonschema from now
                self.fast = None
        return None

    def is_valid(self, data: Any) -> bool:
        verdict = self._fast_verdict(data)
        return bool(self.jsonschema.is_valid(data)) if verdict is None else verdict

    def errors(self, data: Any) -> list[tuple[str, str]]:
        """(json path, message) for every violation, deepest and most specific first (none for
        valid data: jsonschema reports nothing then)."""
        if self._fast_verdict(data):
            return []
        import jsonschema

        errors = sorted(self.jsonschema.iter_errors(data), key=lambda e: list(map(str, e.path)))
        best = [jsonschema.exceptions.best_match([error]) for error in errors]
        return [(format_path(error.absolute_path), _short_message(error)) for error in best]


def supported_versions() -> list[str]:
    """Every bundled minor version (``1.33``), oldest first."""
    return list(dict.fromkeys(kv.major_minor(v) for v in kv.all_versions()))


@cache
def _registry(version: str) -> tuple[str, Compiler]:
    schema_dir = kv.strict_dir(version)
    if schema_dir is None:
        raise UnknownKubernetesVersion(version)
    return schema_dir, Compiler(Documents(kv.definitions(schema_dir)))


@cache
def object_validator(version: str, api_version: str, kind: str) -> SchemaValidator:
    """The strict validator for one top-level kind (cached).

    Raises :class:`UnknownKind` when neither Kubernetes nor a pinned CRD defines the kind, and
    :class:`constructs_lib.spec.crds.SchemaUnavailable` when its pinned CRD cannot be fetched.
    """
    schema_dir, compiler = _registry(version)
    try:
        schema = kv.kind_schema(schema_dir, api_version, kind)
    except FileNotFoundError:
        schema = _crd_object_schema(api_version, kind)
    return SchemaValidator(schema, compiler)


@cache
def definition_validator(version: str, definition: str) -> SchemaValidator:
    """The strict validator for one OpenAPI definition, e.g. ``io.k8s.api.core.v1.Container``."""
    _, compiler = _registry(version)
    return SchemaValidator({"$ref": f"{_DEFS_URI}#/$defs/{definition}"}, compiler)


def schema_errors(validator: SchemaValidator, data: Any) -> list[tuple[str, str]]:
    """(json path, message) for every violation, deepest and most specific first."""
    return validator.errors(data)


def format_path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _short_message(error: jsonschema.ValidationError) -> str:
    message = str(error.message)
    if error.validator == "additionalProperties":
        return message.replace("Additional properties are not allowed", "unknown field")
    return message[:300] + "..." if len(message) > 300 else message


# --- CRD schemas ------------------------------------------------------------------------------


def _crd_object_schema(api_version: str, kind: str) -> dict[str, Any]:
    crd = crds.crd_for(api_version, kind)
    if crd is None:
        raise UnknownKind(f"{api_version} {kind}")
    structural = crds.version_schema(crd, api_version)
    if structural is None:
        served = ", ".join(
            f"{crd['spec']['group']}/{v['name']}" for v in crd["spec"]["versions"] if v["served"]
        )
        raise UnknownKind(f"{api_version} {kind} (the pinned CRD serves {served})")
    return crd_json_schema(structural, api_version, kind)


_INT_BOUNDS = {"int32": INT32, "int64": INT64}
_COPIED = (
    "enum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minimum",
    "maximum",
    "multipleOf",
    "required",
    "uniqueItems",
)


def crd_json_schema(structural: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """A JSON Schema (2020-12) for objects of one CRD version, as strict as the API server.

    * unknown fields are errors except under ``x-kubernetes-preserve-unknown-fields``;
    * ``nullable``, ``x-kubernetes-int-or-string``, ``format: int32/int64`` bounds, enums,
      patterns, lengths, bounds and ``required`` as declared;
    * ``x-kubernetes-embedded-resource`` objects need ``apiVersion`` and ``kind``, and their
      ``metadata`` (like the top-level object's) is validated as a Kubernetes ObjectMeta;
    * ``x-kubernetes-validations`` (CEL) and the uniqueness of ``x-kubernetes-list-type``
      set/map items are not evaluated (the control-plane tests apply every object: they are).

    Deliberately stricter than the API server, which accepts both and leaves the failure to
    the controller or drops the value: ``format: int32/int64`` ranges (the controller's Go
    type cannot decode a larger number) and ``null`` for a field that is not ``nullable``.
    """
    schema = _translate(structural, junctor=False)
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string", "enum": [api_version]}
    properties["kind"] = {"type": "string", "enum": [kind]}
    properties["metadata"] = {"$ref": _OBJECT_META}
    schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind"})
    schema["$id"] = f"https://paperclip-gitops.invalid/crds/{api_version}/{kind}"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def _go_pattern(pattern: str) -> str | None:
    """A Go (RE2) pattern as a Python one, or None when Python cannot express it.

    Spelled differently: ``\\z`` and ``$`` (end of text) and flag groups such as ``(?i)`` after the
    start, which Go applies to the rest of the enclosing group (scoped ``(?i:...)`` here).
    """
    text = re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", pattern)
    flags = re.compile(r"\(\?([imsU]+)\)")
    out, depth, index, in_class, closing = [], 0, 0, False, 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            out.append(text[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif depth == 0 and index > 0 and (match := flags.match(text, index)):
            out.append(f"(?{match.group(1)}:")
            closing += 1
            index = match.end()
            continue
        elif char == "$" and "(?m" not in text:
            out.append("\\Z")  # Go's $ is the end of text; Python's also before a final \n
            index += 1
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        out.append(char)
        index += 1
    translated = "".join(out) + ")" * closing
    try:
        re.compile(translated)
    except re.error:
        return None
    return translated


def _translate(node: dict[str, Any], *, junctor: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    nullable = bool(node.get("nullable"))
    types: list[str] = [node["type"]] if "type" in node else []
    if node.get("x-kubernetes-int-or-string"):
        types = ["integer", "string"]
    if types:
        listed = [*types, "null"] if nullable else types
        out["type"] = listed[0] if len(listed) == 1 else listed
    out.update((keyword, node[keyword]) for keyword in _COPIED if keyword in node)
    if nullable and "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if node.get(exclusive) is True and bound in out:
            out[exclusive] = out.pop(bound)
    if "pattern" in node and (pattern := _go_pattern(node["pattern"])) is not None:
        out["pattern"] = pattern
    bounds = _INT_BOUNDS.get(node.get("format", ""))
    if bounds and "integer" in types:
        low, high = bounds
        if "exclusiveMinimum" not in out:
            out["minimum"] = max(out.get("minimum", low), low)
        if "exclusiveMaximum" not in out:
            out["maximum"] = min(out.get("maximum", high), high)
    if "properties" in node:
        out["properties"] = {
            name: _translate(sub, junctor=junctor) for name, sub in node["properties"].items()
        }
    for keyword in ("items", "additionalProperties"):
        if isinstance(node.get(keyword), dict):
            out[keyword] = _translate(node[keyword], junctor=junctor)
    if isinstance(node.get("additionalProperties"), bool):
        out["additionalProperties"] = node["additionalProperties"]
    for keyword in ("allOf", "anyOf", "oneOf"):
        if keyword in node:
            out[keyword] = [_translate(sub, junctor=True) for sub in node[keyword]]
    if "not" in node:
        out["not"] = _translate(node["not"], junctor=True)
    if node.get("x-kubernetes-embedded-resource"):
        properties = out.setdefault("properties", {})
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties["metadata"] = {"$ref": _OBJECT_META}
        out["required"] = sorted({*out.get("required", ()), "apiVersion", "kind"})
    if (
        not junctor
        and "object" in types
        and not node.get("x-kubernetes-preserve-unknown-fields")
        and "additionalProperties" not in out
    ):
        out["additionalProperties"] = False
    return out
