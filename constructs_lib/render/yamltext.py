"""Deterministic YAML text: block style, insertion order, multi-line strings as | blocks,
sequences written the way kubectl writes them.

Objects are plain JSON data, so a small emitter writes them directly; it produces the same
text as libyaml with these settings (a test compares them on every object of dist/ and on
hostile strings) at a fraction of the cost of PyYAML's Python representer. A scalar whose
safe spelling it is not sure of sends the whole object through libyaml instead.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import yaml

_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
# Printable characters libyaml writes as they are (allow_unicode), minus the line breaks; a
# string with any other character is left to libyaml.
_PRINTABLE = "\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff"
_UNSAFE = re.compile(f"[^{_PRINTABLE}]|[\ufeff\u2028\u2029]")
_START_INDICATORS = set("#,[]{}&*!|>'\"%@`")
_MAX_FAST = 4000  # longer strings may be folded by libyaml; leave them to it


class _Fallback(Exception):
    """A scalar the fast path does not handle."""


class _Dumper(yaml.CSafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # a value used twice is written twice, never as an anchor


def literal_blocks(dumper: yaml.representer.SafeRepresenter, value: str) -> yaml.Node:
    """The representer of strings that writes a multi-line one as a | block."""
    return dumper.represent_scalar(_STR_TAG, value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, literal_blocks)


def _libyaml(obj: Any) -> str:
    text: str = yaml.dump(
        obj,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=10_000,
        allow_unicode=True,
    )
    return text


def _plain_ok(text: str) -> bool:
    """Whether libyaml writes ``text`` unquoted in block context."""
    if not text or text[0] in _START_INDICATORS or text[0] == " " or text[-1] == " ":
        return False
    if text.startswith(("---", "...")) or (text[0] in "?:-" and (len(text) == 1 or text[1] == " ")):
        return False
    if ": " in text or " #" in text or text.endswith(":") or "\t" in text:
        return False
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag == _STR_TAG


@lru_cache(maxsize=1 << 16)
def _string(value: str) -> str:
    """A one-line string as libyaml spells it (plain or single-quoted), or _Fallback."""
    if len(value) > _MAX_FAST or "\n" in value or _UNSAFE.search(value):
        raise _Fallback
    if _plain_ok(value):
        return value
    return "'" + value.replace("'", "''") + "'"


# The same, allowing line breaks (inside a | block).
_UNSAFE_IN_BLOCK = re.compile(f"[^\n{_PRINTABLE}]|[\ufeff\u2028\u2029]")
_TRAILING_SPACE = re.compile(" $", re.MULTILINE)


@lru_cache(maxsize=1 << 12)
def _block(value: str, indent: str) -> str:
    """A | block scalar, as libyaml writes it, or _Fallback; remembered: the same scripts
    and dashboards recur in every instance."""
    if value[0] in " \n" or _UNSAFE_IN_BLOCK.search(value) or _TRAILING_SPACE.search(value):
        raise _Fallback
    if value.endswith("\n\n"):
        raise _Fallback  # libyaml marks the document open-ended ("...") after a |+ block
    lines = value.split("\n")
    head, body = ("|", lines[:-1]) if value.endswith("\n") else ("|-", lines)
    text = [f"{indent}{line}" if line else "" for line in body]
    return head + "\n" + "\n".join(text) + "\n"


_BASES: tuple[type[Any], ...] = (bool, str, int, dict, list)  # bool first: a bool is an int


def _plain(value: Any) -> Any:
    """A value of a subclass (a StrEnum, an OrderedDict) as its exact base type, so the
    emitter below sees only str, dict, list, bool, int and None; anything else (floats,
    tuples) is left to libyaml."""
    for base in _BASES:
        if isinstance(value, base):
            return base(value)
    raise _Fallback


def _scalar(item: Any, inner: str) -> str | None:
    """What follows a key's ``: `` or an item's dash when ``item`` fits on that line (a scalar,
    an empty mapping or sequence, a | block indented by ``inner``), its line break included;
    None for a non-empty mapping or sequence or a value of another type."""
    kind = type(item)
    if kind is str:
        return _block(item, inner) if "\n" in item else f"{_string(item)}\n"
    if kind is bool:
        return "true\n" if item else "false\n"
    if kind is int:
        return f"{item}\n"
    if item is None:
        return "null\n"
    if (kind is dict or kind is list) and not item:
        return "{}\n" if kind is dict else "[]\n"
    return None


def _mapping(value: dict[Any, Any], indent: str, out: list[str], prefix: str) -> None:
    """A mapping in block style, one list append per line; ``prefix`` starts its first line
    (``indent``, or the dash of a sequence item)."""
    inner = indent + "  "
    for key, item in value.items():
        if type(key) is not str:
            raise _Fallback
        spelled = _string(key)
        kind = type(item)
        if kind is dict and item:
            out.append(f"{prefix}{spelled}:\n")
            _mapping(item, inner, out, inner)
        elif kind is list and item:
            out.append(f"{prefix}{spelled}:\n")
            _sequence(item, indent, out)
        elif (text := _scalar(item, inner)) is not None:
            out.append(f"{prefix}{spelled}: {text}")
        else:
            _mapping({key: _plain(item)}, indent, out, prefix)
        prefix = indent


def _sequence(value: list[Any], indent: str, out: list[str]) -> None:
    """A sequence the way kubectl writes it: items at the indentation of their key."""
    dash = indent + "- "
    inner = indent + "  "
    for item in value:
        kind = type(item)
        if kind is dict and item:
            _mapping(item, inner, out, dash)
        elif kind is list and item:
            raise _Fallback
        elif (text := _scalar(item, inner)) is not None:
            out.append(dash + text)
        else:
            _sequence([_plain(item)], indent, out)


def dump(obj: Any) -> str:
    """One object as YAML text."""
    if isinstance(obj, dict) and obj:
        out: list[str] = []
        try:
            _mapping(obj, "", out, "")
            return "".join(out)
        except _Fallback:
            pass
    return _libyaml(obj)
