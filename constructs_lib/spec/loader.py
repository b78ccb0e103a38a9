"""Load apps: Instance YAML files (one or more documents) or Python modules.

A Python app defines ``instances()`` returning the :class:`Instance` objects it declares.
An app's name is its file's stem; it becomes the directory name under ``dist/``.

Input is treated as untrusted: YAML is checked by :mod:`.yaml_safety` before anything is
built, a Python app runs in a child process (:mod:`.python_apps`), and every document's
problems are reported at the user's field paths (:mod:`.instance_errors`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from constructs_lib.errors import UserError
from constructs_lib.spec.gitops import CONFIG_FILE, GITOPS_DIR
from constructs_lib.spec.instance import API_VERSION, KIND, Instance
from constructs_lib.spec.instance_errors import Check, document_label, parse_all, parse_instance
from constructs_lib.spec.python_apps import app_timeout, load_python
from constructs_lib.spec.yaml_safety import decode, read_app_file, yaml_documents

APP_SUFFIXES = (".py", ".yaml", ".yml")
# An app's name becomes a directory under dist/.
_APP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


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
    candidate, config = Path(app), apps_dir / CONFIG_FILE
    missing_config = candidate.name == CONFIG_FILE and not candidate.is_file()
    if (app == config.stem or missing_config) and config.is_file():
        check_app_name(config)  # explains what the file is
    if candidate.suffix in APP_SUFFIXES or "/" in app:
        if not candidate.is_file():
            raise UserError.single(
                f"no app file at {app} (a path is relative to the current directory).",
                fix=path_hint(candidate, apps_dir),
            )
        return candidate
    if _APP_NAME.fullmatch(app):
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


def path_hint(missing: Path, apps_dir: Path, *, by_name: bool = True) -> str:
    """The fix for a missing app-file path: the apps directory's app file of that name (any
    app-file suffix) when there is one, by app name (``by_name``) or by path; else check
    the path."""
    if missing.suffix in APP_SUFFIXES and apps_dir.is_dir():
        names = [missing.name, *(f"{missing.stem}{s}" for s in APP_SUFFIXES)]
        for existing in (apps_dir / n for n in names):
            if existing.is_file() and existing.name != CONFIG_FILE:
                named = by_name and _APP_NAME.fullmatch(existing.stem)  # as discover() finds
                either = f"`{existing.stem}` or " if named else ""
                return f"{existing} exists: name it as {either}`{existing}`."
    return "check the path."


def check_app_name(path: Path) -> str:
    """The app name (the file's stem), refused when it cannot name a directory of dist/ or
    is the GitOps config."""
    name = path.stem
    if path.name == CONFIG_FILE:
        raise UserError.single(
            "is the GitOps configuration (repository URL and Argo CD/Flux settings), not an app.",
            file=str(path),
            fix="name only app files here, and keep its name (renamed, no Argo CD or Flux "
            "objects are written): `paperclip-gitops synth` without app names"
            + ("" if path.parent == Path("apps") else f" and with --apps-dir {path.parent}")
            + f" checks it and writes dist/{GITOPS_DIR}/ from it.",
        )
    if path.suffix not in APP_SUFFIXES:
        raise UserError.single(
            f"is not an app file: the name must end in {', '.join(APP_SUFFIXES)}.",
            file=str(path),
            fix="rename the file.",
        )
    if not _APP_NAME.fullmatch(name):
        raise UserError.single(
            f"names the app {name!r}, which cannot be a directory name under dist/.",
            file=str(path),
            fix="rename the file: its name (without extension) must start with a letter or "
            "digit and hold only letters, digits, '.', '_' and '-'.",
        )
    return name


def load_app(path: Path, *, timeout: float | None = None, checks: Sequence[Check] = ()) -> App:
    """Load and validate one app file; a :class:`UserError` lists every problem found.

    ``timeout`` bounds a Python app's run (default: $PAPERCLIP_GITOPS_APP_TIMEOUT or 30 s).
    """
    name = check_app_name(path)
    if path.suffix == ".py":
        instances = load_python(path, app_timeout() if timeout is None else timeout, checks)
    else:
        instances = load_yaml(decode(read_app_file(path), str(path)), str(path), checks)
    seen: set[str] = set()
    for instance in instances:
        if instance.name in seen:
            raise UserError.single(
                f"two instances are named {instance.name!r}; their objects would collide.",
                path="metadata.name",
                file=str(path),
                fix="give every instance in an app a distinct name.",
            )
        seen.add(instance.name)
    return App(name=name, source=path, instances=tuple(instances))


def load_yaml(text: str, file: str, checks: Sequence[Check] = ()) -> list[Instance]:
    """Every Instance document of a YAML text, validated; raises with every problem."""
    documents = yaml_documents(text, file)
    if not documents:
        raise UserError.single(
            "holds no documents.",
            file=file,
            fix=f"add at least one 'apiVersion: {API_VERSION}' 'kind: {KIND}' document.",
        )
    return parse_all(documents, file, checks)


__all__ = [
    "App",
    "check_app_name",
    "decode",
    "discover",
    "load_app",
    "load_yaml",
    "parse_instance",
    "path_hint",
    "resolve",
]
