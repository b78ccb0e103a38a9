"""What goes where in a chart template: the kinds of sites a probe finds, and the helpers that
read and hash objects."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from constructs_lib.constructs.names import config_hash

Pointer = tuple[str | int, ...]
MISSING: Any = object()

NAMESPACE_SENTINEL = "zqhelmnsq"
NAMESPACE_EXPR = "$.Release.Namespace"


def values_ref(prefix: tuple[str, ...], path: tuple[str, ...]) -> str:
    """The Go template expression reading a values key (``$.Values.a.b``, or ``index`` when
    a segment is not an identifier, e.g. an instance name with a hyphen)."""
    parts = (*prefix, *path)
    if all(p.isidentifier() and p.isascii() for p in parts):
        return "$.Values." + ".".join(parts)
    return "(index $.Values " + " ".join(json.dumps(p) for p in parts) + ")"


# --- what goes where ---------------------------------------------------------------------


@dataclass(frozen=True)
class Whole:
    """The whole leaf is the value. ``form``: json, int, intstr (an int written as text)."""

    expr: str
    form: str = "json"
    guarded: bool = False
    """Written under ``{{- with }}``: the key is absent when the value is empty."""


@dataclass(frozen=True)
class Spans:
    """Expressions spliced into a string leaf: (start, end, template text) in the default."""

    parts: tuple[tuple[int, int, str], ...]


@dataclass(frozen=True)
class Merge:
    """User keys merged into a generated mapping; generated keys win."""

    expr: str
    generated: tuple[str, ...]


@dataclass(frozen=True)
class Hash:
    """The sha256 of a rendered ConfigMap's data (``paperclip.inc/config-hash``)."""

    config: str
    """The named template (``define``) that holds the ConfigMap's template."""
    wrap_key: str
    """When set, the data is hashed as ``{wrap_key: data[wrap_key]}`` (one key)."""
    python_default: str
    go_default: str


Site = Whole | Spans | Merge | Hash


def get(obj: Any, pointer: Pointer) -> Any:
    for part in pointer:
        try:
            obj = obj[part]
        except (KeyError, IndexError, TypeError):
            return MISSING
    return obj


def hashed_config(
    objects: list[dict[str, Any]], value: Any
) -> tuple[int, str, dict[str, Any]] | None:
    """(index, wrap key, the data hashed) of the ConfigMap whose data (or one key of it) the
    hash value is the digest of."""
    for index, obj in enumerate(objects):
        if obj["kind"] != "ConfigMap":
            continue
        data = obj.get("data", {})
        for wrap, hashed in [("", data), *((k, {k: v}) for k, v in data.items())]:
            if config_hash(hashed) == value:
                return index, wrap, hashed
    return None


def find_hash(objects: list[dict[str, Any]], value: Any, name_of: Callable[[int], str]) -> Hash:
    """The ConfigMap whose data the default hash value is the digest of."""
    found = hashed_config(objects, value)
    if found is None:
        raise LookupError("no ConfigMap hashes to this value")
    index, wrap, hashed = found
    # what Helm's toJson writes, after the template turns its HTML escapes back
    go_json = json.dumps(hashed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    go_json = go_json.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Hash(
        config=name_of(index),
        wrap_key=wrap,
        python_default=value,
        go_default=hashlib.sha256(go_json.encode()).hexdigest(),
    )
