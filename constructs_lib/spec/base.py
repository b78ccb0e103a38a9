"""Building blocks shared by the Instance spec models.

* :class:`SpecModel` — camelCase aliases, unknown fields forbidden, immutable.
* :class:`KubeSchema` — marks a field holding a Kubernetes API structure (a Container, an
  Affinity, ...) that is passed through to the generated objects and validated against the
  official strict OpenAPI schema, so a typo inside a sidecar is reported at its spec path.
* Quantity, label and DNS-name checks with the rules Kubernetes applies.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote, unquote_plus, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from constructs_lib.memo import by_value
from constructs_lib.spec import semantic
from constructs_lib.spec.kubeschema import (
    DEFAULT_KUBERNETES_VERSION,
    definition_validator,
    schema_errors,
)
from constructs_lib.spec.patterns import (
    IMAGE_DIGEST_PATTERN,
    IMAGE_REPOSITORY_PATTERN,
    IMAGE_TAG_PATTERN,
    INT32,
    INT64,
    QUANTITY,
)
from launcher.templates import Model, image_reference_problem


class SpecModel(Model):
    """Base of every spec model: camelCase field names, unknown fields are errors (the same
    conventions as the launcher's template schema), defaults validated too. Validators are
    built on first use (``defer_build``): importing the models costs a third less, and the
    nested models' schemas are built once, inside the Instance's."""

    model_config = ConfigDict(validate_default=True, defer_build=True)

    def dump(self) -> dict[str, Any]:
        """The model as the user would write it (camelCase, unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


_VERDICTS_KEPT = 1 << 14


def _kube_checker(definition: str) -> Any:
    """The check of one definition. A value's verdict is remembered by its exact image (see
    :func:`~constructs_lib.memo.by_value`): an instance's pass-through values are checked
    again for every probe render of the chart analysis, and rarely change."""

    @by_value(_VERDICTS_KEPT)
    def verdict(value: Any) -> tuple[str, str] | None:
        validator = definition_validator(DEFAULT_KUBERNETES_VERSION, definition)
        problems = schema_errors(validator, value)
        if not problems:  # the schema holds: the API server's semantic rules next
            problems = semantic.pass_through_problems(definition, value, DEFAULT_KUBERNETES_VERSION)
        return problems[0] if problems else None

    def check(value: Any) -> Any:
        found = verdict(value)
        if found is not None:
            raise _kube_schema_error(definition.rsplit(".", 1)[-1], *found)
        return value

    return check


def _kube_schema_error(kind: str, path: str, message: str) -> PydanticCustomError:
    """The error of a value that is not a valid Kubernetes ``kind``: ``message`` at ``path``
    inside it (``inner``: where the spec's error is reported)."""
    return PydanticCustomError(
        "kube_schema",
        "not a valid Kubernetes {kind}{where}: {message}",
        {"kind": kind, "where": f" at {path}" if path else "", "message": message, "inner": path},
    )


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


def MergedByKey(definition: str, field: str, scalar_key: str = "") -> AfterValidator:
    """Annotation of a list that ends up as list ``field`` of OpenAPI ``definition`` (e.g. the
    server's ``env`` as a Container's env): its items must be unique by the merge keys the
    Kubernetes schema declares for that list (``x-kubernetes-list-map-keys``), or
    server-side apply refuses the object. A repeated key is reported at the item.

    ``scalar_key``: for a list of plain values that become objects (``["a"]`` ->
    ``[{"name": "a"}]``), the field each value becomes."""

    def plain(item: Any) -> Any:
        if isinstance(item, BaseModel):
            return item.model_dump(by_alias=True, exclude_none=True, mode="json")
        return {scalar_key: item} if scalar_key and not isinstance(item, dict) else item

    def check(value: Any) -> Any:
        found = semantic.duplicate_items([plain(item) for item in value], definition, field)
        if found:
            path, message = found[0]
            if scalar_key:
                path = path.removesuffix(f".{scalar_key}")
            raise _kube_schema_error(f"{definition.rsplit('.', 1)[-1]}.{field}", path, message)
        return value

    return AfterValidator(check)


def quantity_text(value: Any) -> str:
    """The quantity as text; ValueError when Kubernetes would not parse it."""
    text = str(value)
    if isinstance(value, bool) or not QUANTITY.fullmatch(text):
        raise ValueError(
            f"'{text}' is not a Kubernetes quantity; write a number with an optional suffix "
            "such as 5Gi, 512Mi, 500m or 2"
        )
    return text


Quantity = Annotated[str | int | float, AfterValidator(quantity_text)]


def _positive_quantity(value: Any) -> str:
    problem = semantic.quantity(value, positive=True)
    if problem:
        raise ValueError(problem)
    return quantity_text(value)


PositiveQuantity = Annotated[str | int | float, AfterValidator(_positive_quantity)]
"""A quantity greater than zero (storage requests)."""

# Integer fields carry the bounds of the Kubernetes type they end up in (int32 or int64), so
# a value the API server would wrap around (replicas: 4294967296 is stored as 0) is refused.
# Strict: `true` or "3" is not an integer.
NonNegativeInt32 = Annotated[int, Strict(), Field(ge=0, le=INT32[1])]
PositiveInt32 = Annotated[int, Strict(), Field(ge=1, le=INT32[1])]
NonNegativeInt64 = Annotated[int, Strict(), Field(ge=0, le=INT64[1])]
Port = Annotated[int, Strict(), Field(ge=1, le=65535)]
StrictBool = Annotated[bool, Strict()]


def _dns_subdomain(value: str) -> str:
    if semantic.dns_subdomain(value):
        raise PydanticCustomError(
            "dns_subdomain",
            "'{value}' is not a valid Kubernetes object name: use lower-case letters, digits, "
            "'-' and '.', starting and ending with a letter or digit (at most 253 characters)",
            {"value": value},
        )
    return value


def _hostname(value: str) -> str:
    if semantic.dns_subdomain(value.lower()):
        raise PydanticCustomError(
            "hostname",
            "'{value}' is not a host name: write a DNS name such as paperclip.example.com, "
            "without scheme, port or path",
            {"value": value},
        )
    return value


def _lower_case_hostname(value: str) -> str:
    if value != value.lower():
        raise PydanticCustomError(
            "hostname_case",
            "'{value}' has upper-case letters, which the API server refuses in an Ingress or "
            "HTTPRoute host: write '{lower}' (host names match in any case)",
            {"value": value, "lower": value.lower()},
        )
    return value


ObjectName = Annotated[str, AfterValidator(_dns_subdomain)]
Hostname = Annotated[str, AfterValidator(_hostname)]
RouteHostname = Annotated[Hostname, AfterValidator(_lower_case_hostname)]
"""A host name an Ingress or HTTPRoute routes: lower case, as the API server requires."""


def dns_label_check(
    what: str, max_length: int = 63, *, digit_first: bool = False
) -> AfterValidator:
    """An after-validator refusing a value that is not a DNS-1035 label (a DNS-1123 label with
    ``digit_first``: it may start with a digit) of at most ``max_length`` characters; ``what``
    names the value in the message."""
    label = semantic.dns_label if digit_first else semantic.dns1035_label
    first = "a letter or digit" if digit_first else "a letter"

    def check(value: str) -> str:
        if len(value) > max_length or label(value):
            raise PydanticCustomError(
                "dns_label",
                "'{value}' is not a valid {what}: use at most {max} lower-case letters, digits "
                "and '-', starting with {first} and ending with a letter or digit",
                {"value": value, "what": what, "max": max_length, "first": first},
            )
        return value

    return AfterValidator(check)


Namespace = Annotated[str, dns_label_check("namespace", digit_first=True)]
"""A namespace name: a DNS-1123 label (``2024-prod`` is one)."""


def _semantic(problems_of: Callable[[Any, str], list[semantic.Finding]], kind: str) -> Any:
    """An after-validator refusing what one of the API server's semantic checks refuses."""

    def check(value: Any) -> Any:
        problems = problems_of(value, "")
        if problems:
            where, message = problems[0]
            where = where.removeprefix(".")
            raise PydanticCustomError(
                kind,
                "{where}{message}",
                {"where": f"{where}: " if where else "", "message": message},
            )
        return value

    return check


Labels = Annotated[dict[str, str], AfterValidator(_semantic(semantic.labels_problems, "labels"))]
Annotations = Annotated[
    dict[str, str], AfterValidator(_semantic(semantic.annotations_problems, "annotations"))
]
"""Keys as the API server checks them (the prefix lower-cased) and the 256 KiB total."""

_CIDR4 = re.compile(r"^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$")


def _ipv4_cidr(value: str) -> str:
    match = _CIDR4.fullmatch(value)
    if not match or any(int(o) > 255 for o in match.groups()[:4]) or int(match.group(5)) > 32:
        raise PydanticCustomError(
            "cidr",
            "'{value}' is not an IPv4 CIDR such as 10.0.0.0/8",
            {"value": value},
        )
    return value


IPv4CIDR = Annotated[str, AfterValidator(_ipv4_cidr)]

_CREDENTIAL_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "signature",
    "credential",
    "sessionkey",
)
"""A URL parameter whose name (lower-cased, decoded, without '-', '_' or '.') contains one of
these carries a credential: access_token, client_secret, X-Amz-Signature, sslpassword, ..."""
_CREDENTIAL_NAMES = frozenset({"pwd", "pass", "sig", "key", "auth", "code"})
"""... and so does one named exactly one of these (sig: Azure SAS, key: Google API keys)."""
_TOKEN_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox")
_TOKEN_LIKE = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9_\-.~+/=%]{24,}$")


def _credential_parameter(text: str) -> str | None:
    """The first parameter of a query or fragment (``a=1&b=2``, also ``;``-separated) whose
    decoded name says it carries a credential and whose value is not empty."""
    for pair in re.split(r"[&;]", text):
        name, equals, value = pair.partition("=")
        if not equals or not value:
            continue
        plain = re.sub(r"[-_.\s]", "", unquote_plus(name)).lower()
        if plain in _CREDENTIAL_NAMES or any(part in plain for part in _CREDENTIAL_PARTS):
            return unquote_plus(name)
    return None


def _token_like(user: str) -> bool:
    """Whether a user name is really a token (``https://<token>@github.com``)."""
    plain = unquote(user)
    return plain.lower().startswith(_TOKEN_PREFIXES) or bool(_TOKEN_LIKE.fullmatch(plain))


def credentials_in_url(value: str) -> str | None:
    """What in a URL would put a credential into git, or None: a password (``user:pw@``), a
    user name that is really a token, or a credential parameter in the query or fragment
    (names are decoded: ``pass%77ord`` is ``password``). A user name alone is no secret."""
    parts = urlsplit(value)
    user, _, password = parts.netloc.rpartition("@")[0].partition(":")
    if password:
        return "a password before the host"
    if user and _token_like(user):
        return "a token in place of the user name before the host"
    for where, text in (("query string", parts.query), ("fragment", parts.fragment)):
        name = _credential_parameter(text)
        if name is not None:
            return f"a credential in the {where} (parameter {name!r})"
    return None


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError(
            "http_url",
            "'{value}' is not an http(s) URL with a host, e.g. https://paperclip.example.com",
            {"value": value},
        )
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = 0
    if port == 0:
        raise PydanticCustomError(
            "http_url_port",
            "'{value}' has an invalid port: write a number from 1 to 65535, or none for the "
            "scheme's default (80 for http, 443 for https)",
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


def empty_is_unset(value: Any) -> Any:
    """The operator's ``omitempty`` strings: ``""`` means unset."""
    return None if value == "" else value


OptionalHttpURL = Annotated[HttpURL | None, BeforeValidator(empty_is_unset)]
"""An optional http(s) URL; "" (as the operator's examples write unset fields) is unset."""


def image_repository(value: str) -> str:
    """An image repository (no tag or digest) by the container tools' grammar."""
    problem = image_reference_problem(value, name_only=True)
    if problem:
        raise ValueError(problem)
    return value


ImageRepository = Annotated[
    str, Field(min_length=1, pattern=IMAGE_REPOSITORY_PATTERN), AfterValidator(image_repository)
]
ImageTag = Annotated[str, Field(pattern=IMAGE_TAG_PATTERN)]
ImageDigest = Annotated[str, Field(pattern=IMAGE_DIGEST_PATTERN)]


class LocalObjectReference(SpecModel):
    """A reference to an object in the Instance's namespace."""

    name: ObjectName
    """Name of the referenced object."""


SecretKey = Annotated[str, Field(min_length=1, pattern=r"^[-._a-zA-Z0-9]+$")]
"""The name of a key inside a Secret or ConfigMap."""


class SecretKeySelector(SpecModel):
    """One key of a Secret in the Instance's namespace (the value is never read or written)."""

    name: ObjectName
    """Name of the Secret."""
    key: SecretKey
    """Key inside the Secret."""
    optional: StrictBool | None = None
    """Whether the pod may start when the Secret or key is missing. Default: unset (false)."""
