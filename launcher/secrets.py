"""ensure-secrets: create named Secrets with random values when they are absent.

Never overwrites an existing Secret or key, and never prints a value.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

from launcher.kube import ApiError, Kube, namespaced

FORMS = {
    "hex32": lambda: secrets.token_hex(32),
    "hex16": lambda: secrets.token_hex(16),
    "base64-32": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    "token": lambda: secrets.token_urlsafe(32),
}


@dataclass(frozen=True)
class SecretSpec:
    name: str
    key: str
    form: str

    @classmethod
    def parse(cls, text: str) -> SecretSpec:
        """NAME/KEY=FORM, e.g. paperclip-launcher-token/token=token."""
        target, _, form = text.partition("=")
        name, _, key = target.partition("/")
        if not name or not key or form not in FORMS:
            raise ValueError(f"{text!r}: write NAME/KEY=FORM with FORM one of {', '.join(FORMS)}")
        return cls(name, key, form)


async def ensure(
    kube: Kube, namespace: str, wanted: list[SecretSpec], labels: dict[str, str] | None = None
) -> list[str]:
    """Create what is missing; returns lines saying what was done (names only)."""
    report = []
    for name in sorted({w.name for w in wanted}):
        keys = [w for w in wanted if w.name == name]
        path = namespaced(namespace, "secrets", name)
        try:
            existing: dict[str, Any] | None = await kube.get(path)
        except ApiError as exc:
            if exc.status != 404:
                raise
            existing = None
        if existing is None:
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
                "stringData": {w.key: FORMS[w.form]() for w in keys},
            }
            try:
                await kube.create(namespaced(namespace, "secrets"), body)
                report.append(f"created secret {name} ({', '.join(w.key for w in keys)})")
                continue
            except ApiError as exc:
                if exc.status != 409:
                    raise
                existing = await kube.get(path)
        present = set((existing or {}).get("data") or {})
        missing = [w for w in keys if w.key not in present]
        if not missing:
            report.append(f"secret {name} exists; left unchanged")
            continue
        await kube.patch(path, {"stringData": {w.key: FORMS[w.form]() for w in missing}})
        report.append(
            f"secret {name}: added missing key(s) "
            f"{', '.join(w.key for w in missing)}; existing keys unchanged"
        )
    return report
