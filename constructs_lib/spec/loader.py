"""Load apps: Instance YAML files (one or more documents) or Python modules.

A Python app defines ``instances()`` returning the :class:`Instance` objects it declares.
An app's name is its file's stem; it becomes the directory name under ``dist/``.

Input is treated as untrusted:

* YAML is read as strict UTF-8 (a bad byte is reported with its offset) and checked event by
  event before anything is built: duplicate mapping keys (which the API server rejects; a YAML
  parser silently keeps the last one), nesting depth, alias expansion (a "billion laughs" file
  is refused in milliseconds), self-referencing aliases and tags outside the JSON subset.
  Unquoted timestamps stay strings, as in Kubernetes YAML.
* A Python app runs in a forked child process with a time limit. It can neither exit the
  generator nor patch it: any exit, exception or output of the app is an error naming the
  app, and the instances come back as plain data that the parent validates again (so a model
  changed with ``model_copy(update=...)`` or built with ``model_construct`` is checked too).
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import importlib.util
import io
import json
import os
import re
import select
import signal
import sys
import tempfile
import time
import traceback
import typing
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from constructs_lib.errors import Problem, UserError
from constructs_lib.lifetime import die_with_parent
from constructs_lib.spec import rules
from constructs_lib.spec.base import credentials_in_url
from constructs_lib.spec.instance import API_VERSION, KIND, Instance
from constructs_lib.spec.kubeschema import format_path
from constructs_lib.spec.unsupported import NOT_BUILT_YET

APP_SUFFIXES = (".py", ".yaml", ".yml")
# An app's name becomes a directory under dist/.
_APP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

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

APP_TIMEOUT_ENV = "PAPERCLIP_GITOPS_APP_TIMEOUT"
DEFAULT_APP_TIMEOUT = 30.0
"""Seconds a Python app may take to import and return its instances."""
_MAX_RESULT_BYTES = 64 * 1024 * 1024

# The JSON subset of YAML that Kubernetes reads; other explicit tags are refused.
_JSON_TAGS = {
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")
}
_NO_IMPLICIT = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}


class _YamlLoader(yaml.CSafeLoader):
    """The libyaml safe loader, with unquoted timestamps and ``=`` kept as strings."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _NO_IMPLICIT]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class App:
    """An app: a named set of instances from one file."""

    name: str
    source: Path
    instances: tuple[Instance, ...]

    def label(self, index: int) -> str:
        """How messages name instance ``index`` (0-based): its document, ``document 2
        (team-a)``, as the loader names it."""
        return document_label(index + 1, {"metadata": {"name": self.instances[index].name}})


def discover(apps_dir: Path) -> list[Path]:
    """App files in a directory, sorted by name; names starting with _ or . are skipped."""
    if not apps_dir.is_dir():
        raise UserError.single(
            f"the apps directory {apps_dir} does not exist.",
            fix="create it, or name app files on the command line.",
        )
    files = sorted(
        p
        for p in apps_dir.iterdir()
        if p.is_file() and p.suffix in APP_SUFFIXES and not p.name.startswith(("_", "."))
    )
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen:
            raise UserError.single(
                f"two apps are named {path.stem!r}: {seen[path.stem].name} and {path.name}.",
                file=str(path),
                fix="rename one; an app's name is its file's stem and its dist/ directory.",
            )
        seen[path.stem] = path
    return files


def resolve(app: str, apps_dir: Path) -> Path:
    """An APP argument: an app name from apps/, or a path to an app file."""
    candidate = Path(app)
    if candidate.suffix in APP_SUFFIXES or "/" in app:
        if not candidate.is_file():
            raise UserError.single(f"no app file at {app}.", fix="check the path.")
        return candidate
    if _APP_NAME.match(app):
        for suffix in APP_SUFFIXES:
            path = apps_dir / f"{app}{suffix}"
            if path.is_file():
                return path
    known = [p.stem for p in discover(apps_dir)] if apps_dir.is_dir() else []
    hint = difflib.get_close_matches(app, known, n=1)
    raise UserError.single(
        f"no app named {app!r} in {apps_dir}/" + (f"; did you mean {hint[0]!r}?" if hint else "."),
        fix=f"use one of: {', '.join(known) or '(none)'}, or a path to an app file.",
    )


def check_app_name(path: Path) -> str:
    """The app name (the file's stem), refused when it cannot name a directory of dist/."""
    name = path.stem
    if path.suffix not in APP_SUFFIXES:
        raise UserError.single(
            f"is not an app file: the name must end in {', '.join(APP_SUFFIXES)}.",
            file=str(path),
            fix="rename the file.",
        )
    if not _APP_NAME.match(name):
        raise UserError.single(
            f"names the app {name!r}, which cannot be a directory name under dist/.",
            file=str(path),
            fix="rename the file: its name (without extension) must start with a letter or "
            "digit and hold only letters, digits, '.', '_' and '-'.",
        )
    return name


Check = Callable[[Instance], list[Problem]]
"""A check of a valid Instance from a later layer (the features' own errors), run beside the
synth-time rules whenever a file has field errors, so that one run reports every problem."""


def load_app(path: Path, *, timeout: float | None = None, checks: Sequence[Check] = ()) -> App:
    """Load and validate one app file; a :class:`UserError` lists every problem found.

    ``timeout`` bounds a Python app's run (default: $PAPERCLIP_GITOPS_APP_TIMEOUT or 30 s).
    """
    name = check_app_name(path)
    if path.suffix == ".py":
        instances = _load_python(path, app_timeout() if timeout is None else timeout, checks)
    else:
        instances = load_yaml(decode(read_app_file(path), str(path)), str(path), checks)
    _check_unique(instances, str(path))
    return App(name=name, source=path, instances=tuple(instances))


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
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UserError.single(
            f"cannot be read: {exc.strerror or exc}.",
            file=str(path),
            fix="check the path and its permissions.",
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise UserError.single(
            f"is over {MAX_FILE_BYTES} bytes.", file=str(path), fix="split the app file."
        )
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


def load_yaml(text: str, file: str, checks: Sequence[Check] = ()) -> list[Instance]:
    """Every Instance document of a YAML text, validated; raises with every problem."""
    documents = yaml_documents(text, file)
    if not documents:
        raise UserError.single(
            "holds no documents.",
            file=file,
            fix=f"add at least one 'apiVersion: {API_VERSION}' 'kind: {KIND}' document.",
        )
    labelled = [(document_label(i, d), d) for i, d in enumerate(documents, start=1)]
    return parse_all(labelled, file, checks)


def yaml_documents(text: str, file: str) -> list[Any]:
    """The non-empty documents of a YAML text as plain data, after :func:`check_yaml`;
    raises :class:`UserError` (located at ``file``) when it is not safe, valid YAML."""
    try:
        check_yaml(text)
        return [d for d in yaml.load_all(text, Loader=_YamlLoader) if d is not None]
    except UserError as exc:
        raise UserError(p.located(file=file) for p in exc.problems) from None
    except ValueError as exc:  # e.g. a value the YAML constructor cannot convert
        raise UserError.single(
            f"holds a value that cannot be read: {_text(exc)}.",
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


def parse_all(
    documents: list[tuple[str, Any]], file: str, checks: Sequence[Check] = ()
) -> list[Instance]:
    """Every (label, document) as an Instance; raises with the problems of all of them. When
    any document is refused, the rules and ``checks`` of the valid ones are reported too."""
    parsed: list[tuple[str, Instance | list[Problem]]] = []
    for label, document in documents:
        try:
            parsed.append((label, parse_instance(document, checks)))
        except UserError as exc:
            parsed.append((label, exc.problems))
    instances = [item for _, item in parsed if isinstance(item, Instance)]
    if len(instances) == len(parsed):
        return instances
    problems: list[Problem] = []
    for label, item in parsed:
        if isinstance(item, Instance):
            item = [*rules.errors(item), *(p for check in checks for p in check(item))]
        problems.extend(p.located(file=file, document=label) for p in item)
    raise UserError(problems)


@dataclass
class _Frame:
    """An open mapping or sequence while walking YAML events."""

    mapping: bool
    path: str
    anchor: str | None
    size: int = 1
    index: int = 0
    key: str | None = None
    expecting_key: bool = True
    keys: dict[str, int] | None = None


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

    def fail(message: str, line: int, path: str, fix: str) -> UserError:
        doc = f"document {document}" if document > 1 else ""
        path = path if len(path) <= 120 else path[:117] + "..."
        return UserError(
            [*problems, Problem(f"{message} (line {line}).", path=path, fix=fix, document=doc)]
        )

    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.DocumentStartEvent):
            document += 1
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
        if parent is not None:
            if parent.mapping and parent.expecting_key:
                if not isinstance(event, yaml.ScalarEvent):
                    raise fail(
                        "a mapping key is a collection or an alias; Kubernetes keys are strings",
                        line,
                        parent.path,
                        "write a plain string key.",
                    )
                key = event.value
                seen = parent.keys if parent.keys is not None else {}
                parent.keys = seen
                key_path = _join(parent.path, key)
                if key in seen and key != "<<":
                    problems.append(
                        Problem(
                            f"the key {key!r} appears twice in one mapping (lines {seen[key]} "
                            f"and {line}); the API server rejects duplicate fields.",
                            path=key_path,
                            fix="keep one of them.",
                            document=f"document {document}" if document > 1 else "",
                        )
                    )
                else:
                    seen[key] = line
                parent.key = key
                parent.expecting_key = False
                _check_tag(event, line, key_path, fail)
                continue
            if parent.mapping:
                path = _join(parent.path, parent.key or "")
                parent.expecting_key = True
            else:
                path = f"{parent.path}[{parent.index}]"
                parent.index += 1
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            name = event.anchor or ""
            if name in open_anchors:
                raise fail(
                    f"the alias *{name} refers to a node that contains it",
                    line,
                    path,
                    "remove the self-reference.",
                )
            if aliases > MAX_ALIASES:
                raise fail(
                    f"the file uses more than {MAX_ALIASES} aliases",
                    line,
                    path,
                    "write the values out, or split the file.",
                )
            size = anchors.get(name, 1)
            total += size
            if parent is not None:
                parent.size += size
        else:
            total += 1
            _check_tag(event, line, path, fail)
            if (
                isinstance(event, yaml.ScalarEvent)
                and event.implicit[0]
                and len(event.value) > MAX_NUMBER_DIGITS
                and _NUMBER.match(event.value)
            ):
                raise fail(
                    f"a number has more than {MAX_NUMBER_DIGITS} characters",
                    line,
                    path,
                    "write a number that fits the field (quote it if it is text).",
                )
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise fail(
                        f"the nesting is deeper than {MAX_DEPTH} levels",
                        line,
                        path,
                        "flatten the document; no Instance field is nested that deep.",
                    )
                stack.append(
                    _Frame(
                        mapping=isinstance(event, yaml.MappingStartEvent),
                        path=path,
                        anchor=event.anchor,
                    )
                )
                if event.anchor is not None:
                    open_anchors.add(event.anchor)
            else:
                if event.anchor is not None:
                    anchors[event.anchor] = 1
                if parent is not None:
                    parent.size += 1
        if total > MAX_NODES:
            raise fail(
                f"the file expands to more than {MAX_NODES} values once its aliases are "
                "resolved (an alias bomb?)",
                line,
                path,
                "write the values out without nested aliases, or split the file.",
            )
    if problems:
        raise UserError(problems)


def _check_tag(event: Any, line: int, path: str, fail: Any) -> None:
    tag = getattr(event, "tag", None)
    if tag is None or tag == "!" or tag in _JSON_TAGS:
        return
    raise fail(
        f"the tag {tag} is not supported; Kubernetes YAML holds only strings, numbers, "
        "booleans, null, mappings and sequences",
        line,
        path,
        "remove the tag (quote the value if it must be a string).",
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def parse_instance(document: Any, checks: Sequence[Check] = ()) -> Instance:
    """Validate one decoded document as an Instance.

    When fields are invalid, the synth-time rules and ``checks`` also run on a copy of the
    document without the invalid fields, so one run reports every problem; their problems
    about an invalid field (or a field around one) are left out.
    """
    if not isinstance(document, dict):
        raise UserError.single(
            f"is a {type(document).__name__}, not a mapping.",
            fix=f"each document must be an 'apiVersion: {API_VERSION}' 'kind: {KIND}' mapping.",
        )
    kind, api_version = document.get("kind"), document.get("apiVersion")
    if kind != KIND or api_version != API_VERSION:
        raise UserError.single(
            f"is apiVersion {_short(api_version)} kind {_short(kind)}; only {API_VERSION} "
            f"{KIND} is an app document.",
            path="kind" if kind != KIND else "apiVersion",
            fix=f"set 'apiVersion: {API_VERSION}' and 'kind: {KIND}', or move other "
            "objects out of the app file.",
        )
    if not isinstance(document.get("spec"), dict):
        raise UserError.single(
            "is missing or not a mapping.",
            path="spec",
            fix="add the Instance spec (at least image.tag and database.mode).",
        )
    try:
        return Instance.model_validate(document)
    except ValidationError as exc:
        problems = problems_from(exc, Instance)
        problems += _rule_problems_despite(document, exc, [p.path for p in problems], checks)
        raise UserError(problems) from None
    except RecursionError:
        raise UserError.single(
            "is nested too deeply to validate.", fix="flatten the document."
        ) from None


def _rule_problems_despite(
    document: dict[str, Any],
    error: ValidationError,
    field_paths: list[str],
    checks: Sequence[Check] = (),
) -> list[Problem]:
    """Rule and check problems of the document with its invalid fields removed (none if that
    copy does not validate either), except those about an invalid field or a field around
    one."""
    pruned = copy.deepcopy(document)
    for item in error.errors(include_url=False):
        loc = [p for p in item["loc"] if not _is_internal_loc(p)]
        if not loc:
            return []
        _remove(pruned, loc)
    try:
        instance = Instance.model_validate(_drop_removed(pruned))
    except (ValidationError, RecursionError):
        return []
    found = rules.errors(instance)
    for check in checks:
        try:
            found += check(instance)
        except Exception:
            continue
    return [p for p in found if not any(_related(p.path, field) for field in field_paths)]


_REMOVED = object()


def _remove(data: Any, loc: list[Any]) -> None:
    for part in loc[:-1]:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return
    last = loc[-1]
    if (isinstance(data, dict) and last in data) or (
        isinstance(data, list) and isinstance(last, int) and 0 <= last < len(data)
    ):
        data[last] = _REMOVED


def _drop_removed(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _drop_removed(v) for k, v in data.items() if v is not _REMOVED}
    if isinstance(data, list):
        return [_drop_removed(v) for v in data if v is not _REMOVED]
    return data


def _related(a: str, b: str) -> bool:
    """Whether one field path is the other or lies inside it."""
    shorter, longer = sorted((a, b), key=len)
    return longer == shorter or (longer.startswith(shorter) and longer[len(shorter)] in ".[")


def problems_from(
    error: ValidationError, model: type[BaseModel], prefix: str = ""
) -> list[Problem]:
    """Readable problems from a pydantic error: field path, what is wrong, the fix."""
    problems = []
    for item in error.errors(include_url=False):
        loc = [p for p in item["loc"] if not _is_internal_loc(p)]
        path = prefix + format_path(loc)
        kind = item["type"]
        message = str(item["msg"]).removeprefix("Value error, ")
        fix = ""
        if kind == "extra_forbidden":
            known = _known_fields(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            message = "is not a field of the Instance spec."
            fix = f"did you mean {close[0]!r}?" if close else ""
            if known and not close:
                fix = "known fields here: " + ", ".join(sorted(known)) + "."
        elif kind == NOT_BUILT_YET:
            message = f"{message}; it is reported rather than silently ignored."
            fix = "remove it, or use a supported value (see 'paperclip-gitops schema')."
        elif kind == "missing":
            message = "is required."
        elif kind == "kube_schema" and (item.get("ctx") or {}).get("inner"):
            ctx = item.get("ctx") or {}
            inner = str(ctx["inner"])
            path += inner if inner.startswith("[") else f".{inner}"
            message = f"not a valid Kubernetes {ctx.get('kind')}: {ctx.get('message')}."
        elif kind in ("enum", "literal_error"):
            message = f"{message} ({_shown_input(item.get('input'))})."
        elif isinstance(item.get("input"), dict | list):
            message = f"{message}."
        else:
            message = f"{message} ({_shown_input(item.get('input'))})."
        problems.append(Problem(message=message, path=path, fix=fix))
    return problems


def _is_internal_loc(part: Any) -> bool:
    # pydantic adds the name of a union member or validator function to some locations
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _shown_input(value: Any) -> str:
    """A refused input as a message shows it: never a value that holds a credential."""
    if isinstance(value, str) and any(
        credentials_in_url(part) for part in value.split() if "://" in part
    ):
        return "the value is not shown: it holds a credential"
    return f"got {_short(value)}"


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def _known_fields(model: type[BaseModel], loc: list[Any]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = next(
            (f for n, f in current.model_fields.items() if (f.alias or n) == part or n == part),
            None,
        )
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items() if not f.exclude]
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def document_label(index: int, document: Any, prefix: str = "document") -> str:
    """How every message names a document: ``document 2 (team-a)`` (``prefix`` N, and the
    name when it has one; a name that is not a plain DNS-like word is quoted)."""
    name = None
    if isinstance(document, dict) and isinstance(document.get("metadata"), dict):
        name = document["metadata"].get("name")
    if not isinstance(name, str) or not name:
        return f"{prefix} {index}"
    return f"{prefix} {index} ({name if _PLAIN_NAME.match(name) else _short(name)})"


def _check_unique(instances: list[Instance], file: str) -> None:
    seen: set[str] = set()
    for instance in instances:
        if instance.name in seen:
            raise UserError.single(
                f"two instances are named {instance.name!r}; their objects would collide.",
                path="metadata.name",
                file=file,
                fix="give every instance in an app a distinct name.",
            )
        seen.add(instance.name)


# --- Python apps ------------------------------------------------------------------------


def app_timeout() -> float:
    """Seconds a Python app may run: $PAPERCLIP_GITOPS_APP_TIMEOUT, default 30."""
    raw = os.environ.get(APP_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_APP_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise UserError.single(
            f"{raw!r} is not a number of seconds between 0 and 3600.",
            path=APP_TIMEOUT_ENV,
            fix=f"set it to e.g. {DEFAULT_APP_TIMEOUT:g}, or unset it.",
        )
    return value


def _load_python(path: Path, timeout: float, checks: Sequence[Check] = ()) -> list[Instance]:
    """Run the app in a child process; validate what it returns in this one."""
    result = _run_app_child(path, timeout)
    file = str(path)
    if "problems" in result:
        raise UserError(
            Problem(
                message=str(p.get("message", "")),
                path=str(p.get("path", "")),
                fix=str(p.get("fix", "")),
                file=str(p.get("file", "")) or file,
            )
            for p in result["problems"]
        )
    documents = result.get("instances")
    if not isinstance(documents, list):
        raise UserError.single("returned no result.", file=file)
    labelled = [(document_label(i, d), d) for i, d in enumerate(documents, start=1)]
    return parse_all(labelled, file, checks)


def _run_app_child(path: Path, timeout: float) -> dict[str, Any]:
    """Fork, run the app in the child, and read its JSON answer within ``timeout`` seconds."""
    read_end, write_end = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child never returns from here
        os.close(read_end)
        die_with_parent(parent, code=70)  # an app that loops forever dies with the synth
        _child_main(path, write_end)
    os.close(write_end)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also done by the child; whichever runs first
    chunks: list[bytes] = []
    received = 0
    deadline = time.monotonic() + timeout
    finished = False
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select([read_end], [], [], remaining)
            if not ready:
                break
            data = os.read(read_end, 1 << 16)
            if not data:
                finished = True
                break
            received += len(data)
            if received > _MAX_RESULT_BYTES:
                break
            chunks.append(data)
        exited = _exited(pid, deadline if finished else time.monotonic())
    finally:
        os.close(read_end)
        status = _kill_and_reap(pid)
    file = str(path)
    if received > _MAX_RESULT_BYTES:
        raise UserError.single(
            f"returned more than {_MAX_RESULT_BYTES} bytes of instances.", file=file
        )
    if not finished or not exited:
        raise UserError.single(
            f"did not finish within {timeout:g} seconds and was stopped (it hangs, or waits "
            "for input).",
            file=file,
            fix="make instances() return quickly and not wait for input, network or locks; "
            f"raise the limit with {APP_TIMEOUT_ENV}=SECONDS if it is just slow.",
        )
    try:
        answer = json.loads(b"".join(chunks)) if chunks else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        raise UserError.single(
            f"{how} before returning its instances (os._exit, a crash, or a signal).",
            file=file,
            fix="let the module import and instances() return normally; an app must not exit.",
        )
    return answer


def _exited(pid: int, deadline: float) -> bool:
    """Whether the child has exited by the deadline (it is not reaped here)."""
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    while True:
        try:
            if os.waitid(os.P_PID, pid, flags) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)


def _kill_and_reap(pid: int) -> int:
    """Kill the child's process group (anything the app started) while the child's pid is
    still reserved (not reaped), then reap it: its exit status, negative for a signal."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    return os.waitstatus_to_exitcode(status)


def _child_main(path: Path, write_end: int) -> typing.NoReturn:
    """In the forked child: run the app with every output captured, answer in JSON, exit."""
    code = 0
    try:
        os.setpgid(0, 0)
        # Drop inherited descriptors (the parent's jsii pipes, sockets, ...).
        os.closerange(3, write_end)
        os.closerange(write_end + 1, 1 << 16)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        captured = tempfile.TemporaryFile()  # noqa: SIM115 - lives until os._exit
        os.dup2(captured.fileno(), 1)
        os.dup2(captured.fileno(), 2)
        answer = _run_app(path, captured)
        payload = json.dumps(answer, allow_nan=True).encode()
        view = memoryview(payload)
        while view:
            view = view[os.write(write_end, view) :]
    except BaseException:
        code = 70
    os._exit(code)


def _run_app(path: Path, captured: Any) -> dict[str, Any]:
    """Run the app; its answer, with an extra problem when it wrote any output."""
    stdout, stderr = io.StringIO(), io.StringIO()
    sys.stdout, sys.stderr, sys.stdin = stdout, stderr, io.StringIO()
    try:
        answer = _app_answer(path)
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    for stream in (sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    captured.seek(0)
    output = stdout.getvalue() + stderr.getvalue()
    output += captured.read(4096).decode("utf-8", errors="replace")
    if not output:
        return answer
    printed = _problem(
        f"wrote to stdout or stderr while it ran: {_short(output)}; an app must not print "
        "(its output would mix with the generator's).",
        str(path),
        "remove the print/log calls (or raise an exception to report a problem).",
    )
    return {"problems": answer.get("problems", []) + printed["problems"]}


def _app_answer(path: Path) -> dict[str, Any]:
    file = str(path)
    try:
        return {"instances": _call_app(path)}
    except SystemExit as exc:
        return _problem(
            f"called sys.exit({_short(exc.code)}){_user_line(exc, path)}; an app must not exit "
            "(it would end synth, check or validate without doing their work).",
            file,
            "return the instances from instances() and raise no SystemExit.",
        )
    except UserError as exc:
        return {
            "problems": [
                {"message": p.message, "path": p.path, "fix": p.fix, "file": p.file}
                for p in exc.problems
            ]
        }
    except ValidationError as exc:
        where = f"{file}{_user_line(exc, path)}"
        return {
            "problems": [
                {"message": p.message, "path": p.path, "fix": p.fix, "file": where}
                for p in problems_from(exc, _model_named(exc.title))
            ]
        }
    except BaseException as exc:  # anything the app raises is its error
        return _problem(
            f"raised {type(exc).__name__}{_user_line(exc, path)}: {_text(exc)}",
            file,
            "correct the app module.",
        )


def _call_app(path: Path) -> list[dict[str, Any]]:
    module_name = f"paperclip_app_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserError.single("cannot be loaded as a Python module.", file=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    factory = getattr(module, "instances", None)
    if not callable(factory):
        raise UserError.single(
            "defines no instances() function.",
            file=str(path),
            fix="add 'def instances() -> list[Instance]:' returning the app's instances.",
        )
    result = list(factory())
    bad = sorted({type(item).__name__ for item in result if not isinstance(item, Instance)})
    if bad:
        raise UserError.single(
            f"instances() returned {', '.join(bad)} objects.",
            file=str(path),
            fix="return constructs_lib.spec.Instance objects.",
        )
    if not result:
        raise UserError.single("instances() returned no instances.", file=str(path))
    documents = []
    for index, item in enumerate(result):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = item.model_dump(by_alias=True, mode="json", exclude_none=True)
            json.dumps(data)
        except Exception as exc:
            raise UserError.single(
                f"instances()[{index}] cannot be read back as data: {_text(exc)}",
                file=str(path),
                fix="build instances with the spec classes' constructors, not model_construct.",
            ) from None
        documents.append(data)
    return documents


def _problem(message: str, file: str, fix: str) -> dict[str, Any]:
    return {"problems": [{"message": message, "path": "", "fix": fix, "file": file}]}


def _text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = "(no message)"
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _user_line(exc: BaseException, path: Path) -> str:
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
    return f" (line {lines[-1]})" if lines else ""


def _model_named(title: str) -> type[BaseModel]:
    from constructs_lib.spec import data, instance, platform, server

    for module in (instance, platform, server, data):
        found = getattr(module, title, None)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return Instance


__all__ = [
    "App",
    "check_app_name",
    "check_yaml",
    "decode",
    "discover",
    "load_app",
    "load_yaml",
    "parse_instance",
    "resolve",
]
