"""Reading an app file safely: size limit, strict UTF-8, and a YAML check event by event
before anything is built (duplicate keys, keys that are not strings, depth, alias expansion,
self-referencing aliases, tags outside the JSON subset or that do not fit their value;
unquoted timestamps and base-60 numbers such as 12:30 stay strings, as in Kubernetes YAML)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from constructs_lib.errors import Problem, UserError
from constructs_lib.spec.semantic import join_path

MAX_FILE_BYTES = 4 * 1024 * 1024
"""Largest app file read (an object in the API server may hold at most ~1.5 MiB)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences in a YAML file."""
MAX_ALIASES = 1000
"""Most alias uses (``*name``) in a YAML file."""
MAX_NODES = 200_000
"""Most nodes of a YAML file once every alias is expanded."""
MAX_NUMBER_DIGITS = 100
"""Longest unquoted number (no Kubernetes number has more than 20 digits)."""
_NUMBER = re.compile(r"^[-+]?[0-9_.]+([eE][-+]?[0-9]+)?$|^[-+]?0[xob][0-9a-fA-F_]+$")

# No tag, the non-specific "!" or a tag of the JSON subset of YAML that Kubernetes reads;
# other explicit tags are refused.
_ACCEPTED_TAGS = {
    None,
    "!",
    *(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")),
}
_NO_IMPLICIT = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}
_INT, _FLOAT, _BOOL, _NULL = (f"tag:yaml.org,2002:{t}" for t in ("int", "float", "bool", "null"))
_SCALAR_KINDS = {_INT: "a number", _FLOAT: "a number", _BOOL: "a boolean", _NULL: "null"}
_DECIMAL = re.compile(r"^[-+]?[0-9][0-9_]*$")
_TAG_KINDS = {**_SCALAR_KINDS, _INT: "an integer", _FLOAT: "a floating-point number"}


def _without_base_60(tag: str, regexp: re.Pattern[str]) -> re.Pattern[str]:
    """YAML 1.1 reads 12:30 as the base-60 integer 750; Kubernetes' YAML (go-yaml), as text."""
    if tag not in (_INT, _FLOAT):
        return regexp
    return re.compile(r"(?![^:]*:)" + regexp.pattern, regexp.flags)


class _YamlLoader(yaml.CSafeLoader):
    """The libyaml safe loader, with unquoted timestamps, base-60 numbers and ``=`` kept as
    strings."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, _without_base_60(tag, regexp)) for tag, regexp in resolvers if tag not in _NO_IMPLICIT
    ]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


# How _YamlLoader reads an untagged scalar (for the checks of keys and tags).
_RESOLVER = yaml.resolver.BaseResolver()
_RESOLVER.yaml_implicit_resolvers = _YamlLoader.yaml_implicit_resolvers


def _resolved(value: str, implicit: tuple[bool, bool] = (True, False)) -> str:
    """The tag the loader gives an untagged scalar (plain, by default) of text ``value``."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, implicit)  # type: ignore[no-untyped-call]
    return tag


def _scalar_tag(event: yaml.ScalarEvent) -> str:
    """The tag the loader gives a scalar: its explicit tag, or the one its text resolves to."""
    if event.tag is None or event.tag == "!":
        return _resolved(event.value, event.implicit)
    return str(event.tag)


def read_app_file(path: Path) -> bytes:
    """The bytes of an app file, refused when unreadable or too large."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UserError.single(
                f"is {size} bytes; app files are limited to {MAX_FILE_BYTES} bytes.",
                file=str(path),
                fix="split the instances over several app files.",
            )
        with path.open("rb") as handle:
            return read_limited(handle, str(path), "split the app file.")
    except OSError as exc:
        raise UserError.single(
            f"cannot be read: {exc.strerror or exc}.",
            file=str(path),
            fix="check the path and its permissions.",
        ) from None


def read_limited(stream: BinaryIO, file: str, fix: str) -> bytes:
    """Everything ``stream`` holds, refused when over :data:`MAX_FILE_BYTES`."""
    data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise UserError.single(f"is over {MAX_FILE_BYTES} bytes.", file=file, fix=fix)
    return data


def decode(data: bytes, file: str) -> str:
    """Strict UTF-8 (a leading byte-order mark is allowed)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError.single(
            f"is not UTF-8: byte offset {exc.start} (line {line}) holds "
            f"{data[exc.start : exc.start + 1]!r} ({exc.reason}).",
            file=file,
            fix="save the file as UTF-8.",
        ) from None


def yaml_documents(text: str, file: str) -> list[Any]:
    """The non-empty documents of a YAML text as plain data, after :func:`check_yaml`;
    raises :class:`UserError` (located at ``file``) when it is not safe, valid YAML."""
    try:
        check_yaml(text)
        return [d for d in yaml.load_all(text, Loader=_YamlLoader) if d is not None]
    except UserError as exc:
        raise UserError(p.located(file=file) for p in exc.problems) from None
    except (ValueError, LookupError) as exc:  # a value the YAML constructor cannot convert
        raise UserError.single(
            f"holds a value that cannot be read: {exception_text(exc)}.",
            file=file,
            fix="quote the value, or correct it.",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError.single(
            f"is not valid YAML{where}: {problem}.",
            file=file,
            fix="correct the YAML syntax (indentation, quoting, colons).",
        ) from None


@dataclass
class _Frame:
    """An open mapping or sequence while walking YAML events."""

    mapping: bool
    path: str
    anchor: str | None
    size: int = 1
    index: int = 0
    key: str | None = None
    """The key whose value comes next in a mapping (None while a key is expected)."""
    keys: dict[str, int] = field(default_factory=dict)


def check_yaml(text: str) -> None:
    """Refuse, before anything is built, what a YAML parser would accept but Kubernetes (or
    memory) would not: duplicate keys, non-string keys, deep nesting, alias bombs,
    self-referencing aliases, tags outside the JSON subset. Raises :class:`UserError`."""
    problems: list[Problem] = []
    stack: list[_Frame] = []
    anchors: dict[str, int] = {}
    open_anchors: set[str] = set()
    aliases = 0
    total = 0
    document = 0
    doc = ""

    def note(message: str, path: str, fix: str) -> None:
        """Record a problem of the current document and go on."""
        problems.append(Problem(message, path=path, fix=fix, document=doc))

    def fail(message: str, path: str, fix: str) -> UserError:
        """The problems found so far and this one, at the current event's line."""
        note(f"{message} (line {line}).", path if len(path) <= 120 else path[:117] + "...", fix)
        return UserError(problems)

    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.DocumentStartEvent):
            document += 1
            doc = f"document {document}" if document > 1 else ""
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            frame = stack.pop()
            if frame.anchor is not None:
                anchors[frame.anchor] = frame.size
                open_anchors.discard(frame.anchor)
            if stack:
                stack[-1].size += frame.size
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        parent = stack[-1] if stack else None
        path = ""
        is_key = parent is not None and parent.mapping and parent.key is None
        if parent is not None and is_key:
            if not isinstance(event, yaml.ScalarEvent):
                raise fail(
                    "a mapping key is a collection or an alias; Kubernetes keys are strings",
                    parent.path,
                    "write a plain string key.",
                )
            key = event.value
            parent.key = key
            path = join_path(parent.path, key)
            if kind := _SCALAR_KINDS.get(_scalar_tag(event)):
                note(
                    f"the key {key!r} is read as {kind}, not a string (line {line}); "
                    "Kubernetes keys are strings.",
                    path,
                    _key_fix(event),
                )
            if key in parent.keys and key != "<<":
                note(
                    f"the key {key!r} appears twice in one mapping (lines {parent.keys[key]} "
                    f"and {line}); the API server rejects duplicate fields.",
                    path,
                    "keep one of them.",
                )
            else:
                parent.keys[key] = line
        elif parent is not None and parent.mapping:
            path = join_path(parent.path, parent.key or "")
            parent.key = None
        elif parent is not None:
            path = f"{parent.path}[{parent.index}]"
            parent.index += 1
        if (tag := getattr(event, "tag", None)) not in _ACCEPTED_TAGS:
            raise fail(
                f"the tag {tag} is not supported; Kubernetes YAML holds only strings, numbers, "
                "booleans, null, mappings and sequences",
                path,
                "remove the tag (quote the value if it must be a string).",
            )
        if is_key:
            continue

        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            name = event.anchor or ""
            if name in open_anchors:
                raise fail(
                    f"the alias *{name} refers to a node that contains it",
                    path,
                    "remove the self-reference.",
                )
            if aliases > MAX_ALIASES:
                raise fail(
                    f"the file uses more than {MAX_ALIASES} aliases",
                    path,
                    "write the values out, or split the file.",
                )
            size = anchors.get(name, 1)
        elif isinstance(event, yaml.ScalarEvent):
            if problem := _misfit(event, line, path):
                problems.append(problem.located(document=doc))
            if (
                event.implicit[0]
                and len(event.value) > MAX_NUMBER_DIGITS
                and _NUMBER.match(event.value)
            ):
                raise fail(
                    f"a number has more than {MAX_NUMBER_DIGITS} characters",
                    path,
                    "write a number that fits the field (quote it if it is text).",
                )
            if event.anchor is not None:
                anchors[event.anchor] = 1
            size = 1
        else:  # a mapping or a sequence starts; its size is added to its parent's when it ends
            if len(stack) >= MAX_DEPTH:
                raise fail(
                    f"the nesting is deeper than {MAX_DEPTH} levels",
                    path,
                    "flatten the document; no Instance field is nested that deep.",
                )
            mapping = isinstance(event, yaml.MappingStartEvent)
            stack.append(_Frame(mapping=mapping, path=path, anchor=event.anchor))
            if event.anchor is not None:
                open_anchors.add(event.anchor)
            total += 1
            size = 0
        total += size
        if parent is not None:
            parent.size += size
        if total > MAX_NODES:
            raise fail(
                f"the file expands to more than {MAX_NODES} values once its aliases are "
                "resolved (an alias bomb?)",
                path,
                "write the values out without nested aliases, or split the file.",
            )
    if problems:
        raise UserError(problems)


def _key_fix(event: yaml.ScalarEvent) -> str:
    if event.tag is not None and event.tag != "!":
        return f"remove the tag !!{event.tag.rsplit(':', 1)[-1]} from the key."
    return f"quote the key: '{event.value}':" if event.value else "write a string key."


def _misfit(event: yaml.ScalarEvent, line: int, path: str) -> Problem | None:
    """The problem of a scalar whose explicit tag does not fit its text (``!!bool maybe``,
    ``!!int ''``), which the YAML constructor cannot convert: the text must be one read as
    that tag untagged (for ``!!float``, a decimal integer too)."""
    tag = event.tag
    if tag not in _TAG_KINDS:
        return None
    if _resolved(event.value) == tag or (tag == _FLOAT and _DECIMAL.match(event.value)):
        return None
    return Problem(
        f"the value {event.value!r} is not {_TAG_KINDS[tag]}, as its tag "
        f"!!{tag.rsplit(':', 1)[-1]} says (line {line}).",
        path=path,
        fix="correct the value, or remove the tag (quote the value if it is text).",
    )


def exception_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = "(no message)"
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."
