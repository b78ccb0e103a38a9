"""What the importer works on: one operator Instance document on its way to an app file, the
changes made to it and the commands to run before its first sync; field-path helpers."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from constructs_lib.errors import Problem
from constructs_lib.spec.kubeschema import format_path

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_PATH = re.compile(r"^[^.\[\]]+(\.[^.\[\]]+|\[\d+\])*$")

SET_OPTION = "--set"
"""The option that sets a field of a document (also the rule of the changes it makes)."""


@dataclass(frozen=True)
class Change:
    """One change made to a document: by which rule, at which field, what, and why it is
    safe (or, for a decision given on the command line, which option gave it)."""

    rule: str
    path: str
    what: str
    why: str

    def render(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"[{self.rule}] {where}{self.what} — {self.why}"


@dataclass(frozen=True)
class Command:
    """A command to run once before the first sync (e.g. one that creates a Secret the app
    now references). Its text never holds a secret value: it reads the value where it is."""

    purpose: str
    text: str


@dataclass
class Document:
    """One Instance being imported: where it came from, its body (changed in place by the
    rules), what was done to it, and what is still wrong with it."""

    source: str
    """The input it came from, as messages name it (a path, or ``<stdin>``)."""
    label: str
    """How messages name it inside its input: ``document 2 (team-a)`` or ``document 1
    items[0] (team-a)`` for an item of a List."""
    body: dict[str, Any]
    original: dict[str, Any]
    """The document as read (its status is read by the rules; never written)."""
    changes: list[Change] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return _meta(self.body, "name")

    @property
    def namespace(self) -> str:
        return _meta(self.body, "namespace", "default")

    @property
    def live_name(self) -> str:
        """The name of the object the document was read from (a --set may change ``name``)."""
        return _meta(self.original, "name")

    @property
    def live_namespace(self) -> str:
        return _meta(self.original, "namespace", "default")

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.body.get("spec")
        if not isinstance(spec, dict):
            spec = self.body["spec"] = {}
        return spec

    def refuse(self, message: str, path: str = "", fix: str = "") -> None:
        """Add a problem of this document, located at its input."""
        self.problems.append(Problem(message, path, fix, file=self.source, document=self.label))

    def kubectl(self, *arguments: str, namespace: str = "") -> str:
        """A kubectl command line in this document's namespace (or in ``namespace``)."""
        return shlex.join(["kubectl", "-n", namespace or self.namespace, *arguments])


def _meta(body: dict[str, Any], key: str, default: str = "") -> str:
    """The string ``metadata.<key>`` of ``body``, or ``default`` when it is not one (or empty)."""
    value = dig(body, ["metadata", key])
    return value if isinstance(value, str) and value else default


def parse_path(path: str) -> list[str | int] | None:
    """``spec.a.b[0].c`` as ``["spec", "a", "b", 0, "c"]``; None when it is not a path."""
    if not _PATH.fullmatch(path):
        return None
    return [int(index) if index else key for key, index in _PART.findall(path)]


def dig(data: Any, parts: Sequence[str | int]) -> Any:
    """The value at ``parts`` under ``data``, or None."""
    for part in parts:
        if isinstance(part, int):
            data = data[part] if isinstance(data, list) and 0 <= part < len(data) else None
        else:
            data = data.get(part) if isinstance(data, dict) else None
        if data is None:
            return None
    return data


def put(data: dict[str, Any], parts: list[str | int], value: Any) -> str | None:
    """Set ``parts`` to ``value`` (None removes the field), creating mappings on the way;
    why it cannot, or None when done."""
    current: Any = data
    for position, part in enumerate(parts):
        if isinstance(part, int):
            if not isinstance(current, list) or not 0 <= part < len(current):
                return f"{_show(parts[:position])} has no item [{part}]"
        elif not isinstance(current, dict):
            return f"{_show(parts[:position])} is not a mapping"
        if position == len(parts) - 1:
            break  # ``current`` holds the field to set
        if isinstance(part, str) and current.get(part) is None:
            following = parts[position + 1]
            if isinstance(following, int):
                return f"{_show(parts[: position + 1])} has no item [{following}]"
            if value is None:
                return None  # nothing to remove
            current[part] = {}
        current = current[part]
    last = parts[-1]
    if value is not None:
        current[last] = value
    elif isinstance(last, int) or last in current:
        del current[last]
    return None


def _show(parts: list[str | int]) -> str:
    return format_path(parts) or "the document"


__all__ = ["Change", "Command", "Document", "dig", "parse_path", "put"]
