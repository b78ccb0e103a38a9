"""ensure-secrets, the secrets bootstrap: create named Secrets with random values when they
are absent.

It needs only ``create`` on Secrets and ``get`` on the registered names. It never overwrites,
patches or deletes a Secret and never prints a value: an existing Secret is adopted as it is
(e.g. one the operator created); one that lacks a required key is reported and makes the run
fail, so the gap is visible instead of silently filled. A key registered as optional
(``NAME/KEY?=FORM``: no consumer needs it, e.g. the database user name the operator's Secret
lacks) is only reported when absent.

Forms: random ``hex32``, ``hex16``, ``base64-32``, ``token`` (URL-safe), or ``literal:TEXT``
for a fixed, non-secret value (a user name, a host, a port).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from launcher.kube import ApiError, Kube, namespaced

FORMS: dict[str, Callable[[], str]] = {
    "hex32": lambda: secrets.token_hex(32),
    "hex16": lambda: secrets.token_hex(16),
    "base64-32": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    "token": lambda: secrets.token_urlsafe(32),
}


LITERAL = "literal:"


@dataclass(frozen=True)
class SecretSpec:
    name: str
    key: str
    form: str
    optional: bool = False

    @classmethod
    def parse(cls, text: str) -> SecretSpec:
        """NAME/KEY=FORM or NAME/KEY?=FORM (optional key), e.g.
        paperclip-launcher-token/token=token or team-a-db-credentials/port?=literal:5432."""
        target, _, form = text.partition("=")
        optional = target.endswith("?")
        name, _, key = target.removesuffix("?").partition("/")
        valid_form = form in FORMS or (form.startswith(LITERAL) and len(form) > len(LITERAL))
        if not name or not key or "/" in key or not valid_form:
            raise ValueError(
                f"{text!r}: write NAME/KEY=FORM or NAME/KEY?=FORM (optional key) with FORM one "
                f"of {', '.join(FORMS)} or literal:VALUE"
            )
        return cls(name, key, form, optional)

    def value(self) -> str:
        if self.form.startswith(LITERAL):
            return self.form[len(LITERAL) :]
        return FORMS[self.form]()


@dataclass
class Outcome:
    """What ensure did: lines naming Secrets and keys (never values), and the gaps left."""

    lines: list[str]
    missing: list[str]
    """Required keys an existing Secret lacks (fatal)."""

    @property
    def ok(self) -> bool:
        return not self.missing


async def _get(kube: Kube, path: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = await kube.get(path)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return found


async def ensure(
    kube: Kube, namespace: str, wanted: list[SecretSpec], labels: dict[str, str] | None = None
) -> Outcome:
    """Create every missing Secret; report existing ones and keys they lack."""
    outcome = Outcome([], [])
    for name in sorted({w.name for w in wanted}):
        keys = [w for w in wanted if w.name == name]
        path = namespaced(namespace, "secrets", name)
        existing = await _get(kube, path)
        if existing is None:
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
                "stringData": {w.key: w.value() for w in keys},
            }
            try:
                await kube.create(namespaced(namespace, "secrets"), body)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                existing = await _get(kube, path)  # created meanwhile by someone else
            else:
                outcome.lines.append(f"created secret {name} ({', '.join(w.key for w in keys)})")
                continue
        present = set((existing or {}).get("data") or {})
        lacking = [w.key for w in keys if w.key not in present and not w.optional]
        spare = [w.key for w in keys if w.key not in present and w.optional]
        if lacking:
            outcome.missing += [f"{name}/{key}" for key in lacking]
            outcome.lines.append(
                f"secret {name} exists without key(s) {', '.join(lacking)}; it is left "
                "unchanged: add the key(s) yourself, or delete the Secret to have it created"
            )
        else:
            outcome.lines.append(f"secret {name} exists; left unchanged")
        if spare:
            outcome.lines.append(
                f"secret {name} has no optional key(s) {', '.join(spare)} (nothing needs "
                "them); left unchanged"
            )
    return outcome
