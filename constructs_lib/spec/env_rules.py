"""Literal environment values, wherever the spec takes them: the server's ``env``, the env of
sidecars and init containers, agent templates' env, and the adapter registry's
``defaultEnv``. Every literal value is committed to git (in the ConfigMap, the pod spec or
the launcher's templates), so:

* a URL in a value that carries a credential (a password, a token as the user name, a
  credential parameter: see :func:`constructs_lib.spec.base.credentials_in_url`) is an error;
* a value under a name that says secret/token/password/key, or an OpenTelemetry headers
  variable with a credential header (``Authorization=Bearer ...``), is a warning.

Values are never printed: a problem names the field, the variable and what was found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from constructs_lib.errors import Problem
from constructs_lib.spec.base import credentials_in_url
from constructs_lib.spec.instance import Instance

SECRET_LOOKING_NAME = re.compile(
    r"(SECRET|TOKEN|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|API_?KEY|ACCESS_?KEY|(^|_)KEY($|_))",
    re.IGNORECASE,
)
"""A variable (or header) name that says its value is a credential."""
_OTEL_HEADERS = re.compile(r"^OTEL_EXPORTER_OTLP(_TRACES|_METRICS|_LOGS)?_HEADERS$")
_CREDENTIAL_HEADER = re.compile(r"^(authorization|proxy-authorization|cookie)$", re.IGNORECASE)
URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>,]+")
"""A URL inside a text: a scheme, ``://`` and what follows up to a space, a quote, ``<``,
``>`` or a comma."""


def credential_in_text(text: str) -> str | None:
    """What the first URL of ``text`` that carries a credential carries (see
    :func:`constructs_lib.spec.base.credentials_in_url`); None when no URL does."""
    for url in URL_IN_TEXT.findall(text):
        found = credentials_in_url(url)
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class Literal:
    """One literal value of the spec: where it is (the value's own path), its name."""

    path: str
    name: str
    value: str
    secret_fix: str
    """How to take the value from a Secret at this place instead."""
    named: bool = True
    """Whether a secret-looking name is reported here (the adapter registry does that
    itself)."""


_VALUE_FROM = "put the value in a Secret and use valueFrom.secretKeyRef."


def literals(instance: Instance) -> Iterator[Literal]:
    spec = instance.spec
    yield from _env_list(spec.env, "spec.env")
    for group, containers in (
        ("sidecars", spec.sidecars),
        ("initContainers", spec.init_containers),
    ):
        for index, container in enumerate(containers):
            yield from _env_list(container.get("env") or [], f"spec.{group}[{index}].env")
    for name, template in sorted(spec.agents.templates.items()):
        for index, item in enumerate(template.env):
            if item.value is not None:
                yield Literal(
                    f"spec.agents.templates.{name}.env[{index}].value",
                    item.name,
                    item.value,
                    "put the value in one of spec.agents.secretNames and use secretKeyRef.",
                )
    for index, entry in enumerate(spec.adapters.registry):
        for key, value in entry.default_env.items():
            path = f"spec.adapters.registry[{index}].defaultEnv.{key}"
            fix = "set it in the agent's own environment in Paperclip, not in git."
            yield Literal(path, key, value, fix, named=False)


def _env_list(items: list[dict[str, Any]], path: str) -> Iterator[Literal]:
    for index, item in enumerate(items):
        value = item.get("value")
        if isinstance(value, str) and value:
            yield Literal(f"{path}[{index}].value", str(item.get("name", "")), value, _VALUE_FROM)


def errors(instance: Instance) -> Iterator[Problem]:
    """A literal value holding a URL with a credential."""
    for literal in literals(instance):
        what = credential_in_text(literal.value)
        if what is not None:
            yield Problem(
                f"{literal.name} holds a URL with {what}, which would be committed to git.",
                literal.path,
                literal.secret_fix,
            )


def warnings(instance: Instance) -> Iterator[Problem]:
    """A literal value under a secret-looking name, or credential OpenTelemetry headers."""
    for literal in literals(instance):
        if _OTEL_HEADERS.fullmatch(literal.name):
            header = _credential_header(literal.value)
            if header is not None:
                yield Problem(
                    f"{literal.name} holds the header {header}, whose value (a credential) "
                    "is committed to git in the generated ConfigMap/pod spec.",
                    literal.path,
                    _VALUE_FROM,
                )
        elif literal.named and SECRET_LOOKING_NAME.search(literal.name):
            yield Problem(
                f"{literal.name} looks like a credential, and a literal value is committed "
                "to git in the generated ConfigMap/pod spec.",
                literal.path,
                literal.secret_fix,
            )


def _credential_header(value: str) -> str | None:
    """The first header of an OTLP headers value (``k1=v1,k2=v2``) that carries a credential."""
    for pair in value.split(","):
        name, equals, _ = pair.partition("=")
        name = name.strip()
        plain = name.replace("-", "_")  # x-api-key is an API_KEY
        if equals and (_CREDENTIAL_HEADER.fullmatch(name) or SECRET_LOOKING_NAME.search(plain)):
            return name
    return None
