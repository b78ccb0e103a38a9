"""Values as the importer shows them: short, one line, and never a credential."""

from __future__ import annotations

import json
import re
from typing import Any

from constructs_lib.spec.env_rules import SECRET_LOOKING_NAME, credential_in_text

HIDDEN = "<not shown: a credential>"
_SECRET_FIELD = re.compile(
    r"^(password|passwd|token|secret|(api|access|private|auth)[-_]?key)$", re.IGNORECASE
)
"""A field whose value is a credential (a reference to one is named ...Ref)."""


def holds_credential(text: str) -> bool:
    """Whether a text holds a URL with a credential (a password, a token, a secret
    parameter)."""
    return credential_in_text(text) is not None


def _masked(value: Any, secret: bool = False) -> Any:
    """``secret``: the value sits where a credential does (a field named like one, or the
    value of an env entry named like one)."""
    if isinstance(value, dict):
        named = SECRET_LOOKING_NAME.search(str(value.get("name", "")))
        return {
            k: _masked(v, bool(_SECRET_FIELD.match(str(k)) or (named and k == "value")))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v, secret) for v in value]
    if isinstance(value, str) and (secret or holds_credential(value)):
        return HIDDEN
    return value


def shown(value: Any, limit: int = 120) -> str:
    """``value`` in one line (JSON, which is YAML), credentials replaced by a marker."""
    text = json.dumps(_masked(value), ensure_ascii=False, sort_keys=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = ["HIDDEN", "holds_credential", "shown"]
