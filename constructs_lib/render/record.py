"""The record synth keeps in every generated app directory, so that ``check`` can take an
unchanged app as it is instead of synthesizing it again.

The record is the marker file ``<out>/<app>/.paperclip-gitops`` after its first line (the
generated header :func:`~constructs_lib.render.layout.is_generated` reads):

* ``inputs``: a digest of everything the directory was made from: the generator (every file
  of the ``constructs_lib`` and ``launcher`` packages but compiled, ``__pycache__`` and hidden
  ones, and the versions of Python and of the libraries that shape the text), the app file's
  bytes and its name in the repository (a Python app: also every other file of its directory
  and of the directories below it, which it may import or read), the Kubernetes version and
  the outputs written (``--only``);
* ``outputs``: a digest of every file the directory holds, the marker included without this
  one line: a hand edit anywhere in the directory, the record included, changes it;
* ``warnings``: how many warnings synth reported for the app (``check --strict`` synthesizes
  those apps again, to report them);
* ``summary``: what ``dist/gitops/`` needs of the app (:class:`AppSummary`), so the entry
  objects can be built without synthesizing it.

An app is *fresh* when its inputs digest is the recorded one and its files hash to the
recorded outputs digest: a synth would write exactly what is there.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import import_module, metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from constructs_lib.render.inputs import source_label
from constructs_lib.render.layout import MARKER_FILE, marker_text, not_as_written

if TYPE_CHECKING:
    from constructs_lib.render.synth import RenderedApp

RECORD_FORMAT = "1"
"""Changes when the digests are computed differently: every record is then out of date."""
RECORD_NOTE = "# Below, the record `check` reads to skip this app while unchanged (docs/cli.md).\n"
INPUTS, OUTPUTS, WARNINGS, SUMMARY = "inputs", "outputs", "warnings", "summary"
_FIELDS = (INPUTS, OUTPUTS, WARNINGS, SUMMARY)
_PREFIXES = tuple(f"# {name}: " for name in _FIELDS)
_OUTPUTS_PREFIX = f"# {OUTPUTS}: "
GENERATOR_PACKAGES = ("constructs_lib", "launcher")
"""The packages whose files make the generator (constructs_lib reads launcher's adapter
files and version into the objects)."""
LIBRARIES = (
    "paperclip-gitops",
    "pydantic",
    "pydantic-core",
    "PyYAML",
    "kubernetes-validate",
    "jsonschema",  # its verdict decides where the fast schema check cannot compile a schema
    "referencing",
    "cdk8s",
    "constructs",
)
"""The distributions whose versions shape the generated text (or which objects pass)."""


@dataclass(frozen=True)
class AppSummary:
    """What ``dist/gitops/`` needs of one app: built from the rendered app, or read from its
    record when the app was not synthesized."""

    name: str
    namespaces: tuple[str, ...]
    """The instances' namespaces, in the app's order, each once (the first is the app's)."""
    kinds: tuple[tuple[str, str, bool], ...]
    """(API group, kind, namespaced) of every generated object, sorted, each once."""
    object_namespaces: tuple[str, ...]
    """The namespaces the objects land in (the instances' and others, e.g. a sandbox's)."""
    instances: tuple[tuple[str, str], ...]
    """(namespace, name) of every instance, in the app's order: two apps must not share one."""

    @classmethod
    def of(cls, rendered: RenderedApp) -> AppSummary:
        metas = [
            (o["apiVersion"].rpartition("/")[0], o["kind"], o["metadata"]) for o in rendered.objects
        ]
        return cls(
            name=rendered.app.name,
            namespaces=tuple(dict.fromkeys(i.namespace for i in rendered.app.instances)),
            kinds=tuple(
                sorted({(group, kind, "namespace" in meta) for group, kind, meta in metas})
            ),
            object_namespaces=tuple(
                sorted({m["namespace"] for _, _, m in metas if "namespace" in m})
            ),
            instances=tuple((i.namespace, i.name) for i in rendered.app.instances),
        )

    def to_json(self) -> str:
        """One line of JSON (the record's ``summary``)."""
        data = {
            "app": self.name,
            "kinds": [list(k) for k in self.kinds],
            "namespaces": list(self.namespaces),
            "objectNamespaces": list(self.object_namespaces),
            "instances": [list(i) for i in self.instances],
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> AppSummary | None:
        """The summary of :meth:`to_json`, or None when ``text`` is not one."""
        try:
            data = json.loads(text)
            summary = cls(
                name=_string(data["app"]),
                namespaces=tuple(_string(n) for n in data["namespaces"]),
                kinds=tuple(_kind(k) for k in data["kinds"]),
                object_namespaces=tuple(_string(n) for n in data["objectNamespaces"]),
                instances=tuple((_string(n), _string(i)) for n, i in data["instances"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        return summary if summary.namespaces else None


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _kind(value: Any) -> tuple[str, str, bool]:
    group, kind, namespaced = value
    if not isinstance(namespaced, bool):
        raise TypeError("not a boolean")
    return _string(group), _string(kind), namespaced


@dataclass(frozen=True)
class Record:
    """The record of one app directory, as its marker holds it."""

    inputs: str
    outputs: str
    warnings: int
    summary: AppSummary


# --- digests ------------------------------------------------------------------------------


def _field(digest: Any, name: str, value: bytes | str) -> None:
    """One named, length-prefixed field: no two different sequences hash alike."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    digest.update(f"{name}\0{len(data)}\0".encode())
    digest.update(data)


def _hex(digest: Any) -> str:
    return f"sha256:{digest.hexdigest()}"


@cache
def generator_digest() -> str:
    """A digest of the generator: every file of its packages (sorted by path), the versions
    of the libraries that shape its output and the Python version. Computed once per
    process."""
    digest = hashlib.sha256()
    for package in GENERATOR_PACKAGES:
        root = Path(import_module(package).__file__ or "").parent
        # the walk of a Python app's directory (no __pycache__ or hidden files), less compiled files
        for relative, path in sorted(_module_files(root, f"{package}/", set())):
            if not relative.endswith((".pyc", ".pyo")):
                _field(digest, relative, path.read_bytes())
    for library in LIBRARIES:
        try:
            version = metadata.version(library)
        except metadata.PackageNotFoundError:
            version = "absent"
        _field(digest, f"library {library}", version)
    python = f"{sys.implementation.name} {sys.version_info[0]}.{sys.version_info[1]}"
    _field(digest, "python", python)
    return _hex(digest)


def file_bytes(path: Path) -> bytes:
    """A file's bytes, or for an unreadable (or missing) one bytes never the same as a readable
    file's, so a digest or comparison differs (and a diff shows why)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        return f"\0unreadable: {exc.strerror}".encode()


def _directory_digest(directory: Path) -> str:
    """What a Python app may read besides itself: every file of its directory and of the
    directories below it — packages, namespace packages (no ``__init__.py``) and data
    directories alike (no hidden files or directories, no ``__pycache__``, no generated app
    directory: an output written there is no input)."""
    digest = hashlib.sha256()
    for relative, path in sorted(_module_files(directory, "", set())):
        _field(digest, relative, file_bytes(path))
    return _hex(digest)


def _module_files(
    directory: Path, prefix: str, seen: set[tuple[int, int]]
) -> Iterator[tuple[str, Path]]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
        found = os.stat(directory)
    except OSError:
        return
    if (found.st_dev, found.st_ino) in seen:  # a symbolic link back up the tree
        return
    seen.add((found.st_dev, found.st_ino))
    for entry in entries:
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_file():
            yield prefix + entry.name, Path(entry.path)
        elif entry.is_dir() and not os.path.isfile(os.path.join(entry.path, MARKER_FILE)):
            yield from _module_files(Path(entry.path), f"{prefix}{entry.name}/", seen)


def inputs_digests(paths: Iterable[Path], version: str, outputs: Sequence[str]) -> dict[Path, str]:
    """Each app file's inputs digest: of what ``<out>/<app>/`` of the app file is made from,
    written with the outputs (writer names) ``outputs`` for Kubernetes ``version`` (take them
    before the apps are loaded: a file changed meanwhile then leaves a record that no longer
    matches, never one that matches wrongly)."""
    directory_digest = cache(_directory_digest)  # each Python app directory is hashed once
    found: dict[Path, str] = {}
    for path in paths:
        digest = hashlib.sha256()
        _field(digest, "record", RECORD_FORMAT)
        _field(digest, "generator", generator_digest())
        _field(digest, "kubernetes", version)
        _field(digest, "outputs", ",".join(outputs))
        _field(digest, "source", source_label(path))
        _field(digest, "app", file_bytes(path))
        if path.suffix == ".py":
            _field(digest, "directory", directory_digest(path.resolve().parent))
        found[path] = _hex(digest)
    return found


def _outputs_digest(files: Iterable[tuple[str, bytes]]) -> str:
    """The digest of (relative path, bytes) pairs, the marker among them without its
    ``outputs`` line: the bytes of each file in path order, then the list of paths and sizes
    (one update per file: thousands of them are hashed per second)."""
    digest = hashlib.sha256()
    listing = []
    for relative, data in sorted(files, key=lambda file: file[0]):
        if relative == MARKER_FILE:
            lines = data.splitlines(keepends=True)
            data = b"".join(line for line in lines if not line.startswith(_OUTPUTS_PREFIX.encode()))
        digest.update(data)
        listing.append(f"{relative}\0{len(data)}\0")
    _field(digest, "files", "".join(listing))
    return _hex(digest)


# --- the marker ---------------------------------------------------------------------------


def record_marker(
    source: str, tree: Mapping[str, str], inputs: str, warnings: int, summary: AppSummary
) -> str:
    """The marker of an app directory whose other files are ``tree``, with its record."""
    lines = [
        marker_text(source),
        RECORD_NOTE,
        f"# {INPUTS}: {inputs}\n",
        f"# {WARNINGS}: {warnings}\n",
        f"# {SUMMARY}: {summary.to_json()}\n",
    ]
    files = [(r, t.encode("utf-8")) for r, t in tree.items() if r != MARKER_FILE]
    outputs = _outputs_digest([*files, (MARKER_FILE, "".join(lines).encode("utf-8"))])
    lines.insert(3, f"{_OUTPUTS_PREFIX}{outputs}\n")
    return "".join(lines)


def strip_record(marker: str) -> str:
    """The marker without its record (what ``check`` compares: the record is a cache, and an
    out-of-date one only makes ``check`` slower)."""
    lines = marker.splitlines(keepends=True)
    return "".join(line for line in lines if line != RECORD_NOTE and not line.startswith(_PREFIXES))


def parse_record(marker: bytes) -> Record | None:
    """The record in a marker's bytes, or None when it holds none (or a damaged one)."""
    try:
        lines = marker.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None
    parts = (line.removeprefix("# ").partition(": ") for line in lines[1:])
    fields = {name: value for name, separator, value in parts if separator and name in _FIELDS}
    summary = AppSummary.from_json(fields.get(SUMMARY, ""))
    warnings = fields.get(WARNINGS, "")
    if summary is None or not warnings.isdigit() or INPUTS not in fields or OUTPUTS not in fields:
        return None
    return Record(fields[INPUTS], fields[OUTPUTS], int(warnings), summary)


# --- reading an app directory back --------------------------------------------------------

_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
_CHUNK = 1 << 16
"""Most generated files are smaller: one read takes them whole."""


def _read_file(path: str) -> bytes | None:
    """A file's bytes with plain system calls: for thousands of small files much quicker than
    file objects (a short read only makes the digest differ: the app is synthesized). None
    for a file synth does not write (it is then synthesized, and the diff names the file): a
    symbolic link, a special file, or one whose permission bits git records differently (an
    execute bit): synth writes every file ``0666 & ~umask``."""
    handle = os.open(path, _READ_FLAGS)
    try:
        mode = os.fstat(handle).st_mode
        if not stat.S_ISREG(mode) or not_as_written(mode):
            return None
        data = os.read(handle, _CHUNK)
        if len(data) < _CHUNK:
            return data
        chunks = [data]
        while chunk := os.read(handle, _CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(handle)


def _disk_files(root: Path) -> list[tuple[str, bytes]] | None:
    """(relative path, bytes) of every file under ``root``, or None when it holds anything a
    synth does not write (a symbolic link — ``root`` itself too —, a special file, an
    executable file) or cannot be read."""
    found: list[tuple[str, bytes]] = []
    pending = [("", str(root))]
    if os.path.islink(root):  # synth refuses to replace it: never taken as it is
        return None
    try:
        while pending:
            prefix, directory = pending.pop()
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((f"{prefix}{entry.name}/", entry.path))
                        continue
                    data = _read_file(entry.path) if entry.is_file(follow_symlinks=False) else None
                    if data is None:
                        return None
                    found.append((prefix + entry.name, data))
    except OSError:
        return None
    return found


def fresh_apps(
    inputs: Mapping[Path, str], out: Path, *, with_warnings: bool = True
) -> dict[Path, Record]:
    """The app files of ``inputs`` (file -> inputs digest) whose directory under ``out`` is
    fresh — recorded with these inputs and holding exactly the files recorded — with their
    records; ``with_warnings`` False leaves out the apps synth reported warnings for (they
    must be synthesized again to report them)."""
    found: dict[Path, Record] = {}
    for path, digest in inputs.items():
        app_dir = out / path.stem
        record = parse_record(file_bytes(app_dir / MARKER_FILE))  # an unreadable one holds none
        if record is None or record.inputs != digest or record.summary.name != app_dir.name:
            continue
        if record.warnings and not with_warnings:
            continue
        files = _disk_files(app_dir)
        if files is not None and _outputs_digest(files) == record.outputs:
            found[path] = record
    return found
