"""Building blocks shared by the Instance spec models.

* :class:`SpecModel` — camelCase aliases, unknown fields forbidden, immutable.
* :class:`KubeSchema` — marks a field holding a Kubernetes API structure (a Container, an
  Affinity, ...) that is passed through to the generated objects and validated against the
  official strict OpenAPI schema, so a typo inside a sidecar is reported at its spec path.
* Quantity, label and DNS-name checks with the rules Kubernetes applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from constructs_lib.spec import semantic
from constructs_lib.spec.kubeschema import (
    DEFAULT_KUBERNETES_VERSION,
    definition_validator,
    schema_errors,
)
from launcher.templates import Model


class SpecModel(Model):
    """Base of every spec model: camelCase field names, unknown fields are errors (the same
    conventions as the launcher's template schema), defaults validated too. Validators are
    built on first use (``defer_build``): importing the models costs a third less, and the
    nested models' schemas are built once, inside the Instance's."""

    model_config = ConfigDict(validate_default=True, defer_build=True)

    def dump(self) -> dict[str, Any]:
        """The model as the user would write it (camelCase, unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def _kube_checker(definition: str) -> Any:
    def check(value: Any) -> Any:
        validator = definition_validator(DEFAULT_KUBERNETES_VERSION, definition)
        problems = schema_errors(validator, value)
        if not problems:  # the schema holds: the API server's semantic rules next
            problems = semantic.pass_through_problems(definition, value, DEFAULT_KUBERNETES_VERSION)
        if problems:
            path, message = problems[0]
            where = f" at {path}" if path else ""
            raise PydanticCustomError(
                "kube_schema",
                "not a valid Kubernetes {kind}{where}: {message}",
                {
                    "kind": definition.rsplit(".", 1)[-1],
                    "where": where,
                    "message": message,
                    "inner": path,
                },
            )
        return value

    return check


@dataclass(frozen=True)
class KubeSchema:
    """Annotation: validate a pass-through value against a strict OpenAPI definition."""

    definition: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            _kube_checker(self.definition), handler(source)
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        document = handler(schema)
        document["description"] = (
            f"A Kubernetes {self.definition.rsplit('.', 1)[-1]} ({self.definition})."
        )
        return document


# Kubernetes resource.Quantity, e.g. 5Gi, 500m, 1.5, 1e3.
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$")


def quantity_text(value: Any) -> str:
    """The quantity as text; ValueError when Kubernetes would not parse it."""
    text = str(value)
    if isinstance(value, bool) or not _QUANTITY.match(text):
        raise ValueError(
            f"'{text}' is not a Kubernetes quantity; write a number with an optional suffix "
            "such as 5Gi, 512Mi, 500m or 2"
        )
    return text


def _quantity(value: Any) -> str:
    return quantity_text(value)


Quantity = Annotated[str | int | float, AfterValidator(_quantity)]


def _positive_quantity(value: Any) -> str:
    from constructs_lib.spec.semantic import quantity

    problem = quantity(value, positive=True)
    if problem:
        raise ValueError(problem)
    return quantity_text(value)


PositiveQuantity = Annotated[str | int | float, AfterValidator(_positive_quantity)]
"""A quantity greater than zero (storage requests)."""

# Integer fields carry the bounds of the Kubernetes type they end up in (int32 or int64), so
# a value the API server would wrap around (replicas: 4294967296 is stored as 0) is refused.
# Strict: `true` or "3" is not an integer.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
NonNegativeInt32 = Annotated[int, Strict(), Field(ge=0, le=INT32_MAX)]
PositiveInt32 = Annotated[int, Strict(), Field(ge=1, le=INT32_MAX)]
NonNegativeInt64 = Annotated[int, Strict(), Field(ge=0, le=INT64_MAX)]
PositiveInt64 = Annotated[int, Strict(), Field(ge=1, le=INT64_MAX)]
Port = Annotated[int, Strict(), Field(ge=1, le=65535)]
StrictBool = Annotated[bool, Strict()]

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def _dns_subdomain(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise PydanticCustomError(
            "dns_subdomain",
            "'{value}' is not a valid Kubernetes object name: use lower-case letters, digits, "
            "'-' and '.', starting and ending with a letter or digit (at most 253 characters)",
            {"value": value},
        )
    return value


def _hostname(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value.lower()):
        raise PydanticCustomError(
            "hostname",
            "'{value}' is not a host name: write a DNS name such as paperclip.example.com, "
            "without scheme, port or path",
            {"value": value},
        )
    return value


ObjectName = Annotated[str, AfterValidator(_dns_subdomain)]
Hostname = Annotated[str, AfterValidator(_hostname)]


def check_dns_label(value: str, *, max_length: int, what: str) -> str:
    if len(value) > max_length or not _DNS_LABEL.match(value):
        raise PydanticCustomError(
            "dns_label",
            "'{value}' is not a valid {what}: use at most {max} lower-case letters, digits and "
            "'-', starting with a letter and ending with a letter or digit",
            {"value": value, "what": what, "max": max_length},
        )
    return value


def check_label_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise PydanticCustomError(
            "label_value",
            "'{value}' is not a valid label value: at most 63 characters of letters, digits, "
            "'-', '_' and '.', starting and ending with a letter or digit",
            {"value": value},
        )
    return value


def check_label_key(key: str) -> str:
    prefix, _, name = key.rpartition("/")
    if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))) or (
        len(name) > 63 or not _LABEL_NAME.match(name)
    ):
        raise PydanticCustomError(
            "label_key",
            "'{key}' is not a valid label or annotation key: an optional DNS prefix and '/', "
            "then at most 63 letters, digits, '-', '_' or '.'",
            {"key": key},
        )
    return key


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, item in value.items():
        check_label_key(key)
        check_label_value(item)
    return value


def _annotations(value: dict[str, str]) -> dict[str, str]:
    """Keys as the API server checks them (the prefix lower-cased) and the 256 KiB total."""
    from constructs_lib.spec.semantic import annotations_problems

    problems = annotations_problems(value, "")
    if problems:
        where, message = problems[0]
        raise PydanticCustomError(
            "annotations",
            "{where}{message}",
            {"where": f"{where.lstrip('.')}: " if where.strip(".") else "", "message": message},
        )
    return value


Labels = Annotated[dict[str, str], AfterValidator(_labels)]
Annotations = Annotated[dict[str, str], AfterValidator(_annotations)]

_CIDR4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})$")


def _ipv4_cidr(value: str) -> str:
    match = _CIDR4.match(value)
    if not match or any(int(o) > 255 for o in match.groups()[:4]) or int(match.group(5)) > 32:
        raise PydanticCustomError(
            "cidr",
            "'{value}' is not an IPv4 CIDR such as 10.0.0.0/8",
            {"value": value},
        )
    return value


IPv4CIDR = Annotated[str, AfterValidator(_ipv4_cidr)]

_CREDENTIAL_QUERY = re.compile(
    r"(^|[;&])(password|passwd|pwd|secret|token|api[-_]?key|access[-_]?key|sslpassword)=",
    re.IGNORECASE,
)


def credentials_in_url(value: str) -> str | None:
    """What in a URL would put a credential into git (user-info or a credential query
    parameter), or None."""
    parts = urlsplit(value)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "user name or password before the host"
    if _CREDENTIAL_QUERY.search(parts.query):
        return "a credential in the query string"
    return None


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError(
            "http_url",
            "'{value}' is not an http(s) URL with a host, e.g. https://paperclip.example.com",
            {"value": value},
        )
    found = credentials_in_url(value)
    if found:
        raise PydanticCustomError(
            "credentials_in_url",
            "contains {found}, which would be committed to git; remove it (credentials belong "
            "in a Secret referenced by the spec)",
            {"found": found},
        )
    return value


HttpURL = Annotated[str, AfterValidator(_http_url)]
"""An http(s) URL kept exactly as written, refused when it carries credentials."""


def _empty_is_unset(value: Any) -> Any:
    return None if value == "" else value


OptionalHttpURL = Annotated[HttpURL | None, BeforeValidator(_empty_is_unset)]
"""An optional http(s) URL; "" (as the operator's examples write unset fields) is unset."""


class LocalObjectReference(SpecModel):
    """A reference to an object in the Instance's namespace."""

    name: ObjectName
    """Name of the referenced object."""


class SecretKeySelector(SpecModel):
    """One key of a Secret in the Instance's namespace (the value is never read or written)."""

    name: ObjectName
    """Name of the Secret."""
    key: Annotated[str, Field(min_length=1, pattern=r"^[-._a-zA-Z0-9]+$")]
    """Key inside the Secret."""
    optional: StrictBool | None = None
    """Whether the pod may start when the Secret or key is missing. Default: unset (false)."""
