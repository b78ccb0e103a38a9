"""Load apps: Instance YAML files (one or more documents) or Python modules.

A Python app defines ``instances()`` returning the :class:`Instance` objects it declares.
An app's name is its file's stem; it becomes the directory name under ``dist/``.
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
import traceback
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from constructs_lib.errors import Problem, UserError
from constructs_lib.spec.instance import API_VERSION, KIND, Instance
from constructs_lib.spec.kubeschema import format_path
from constructs_lib.spec.unsupported import NOT_BUILT_YET

APP_SUFFIXES = (".py", ".yaml", ".yml")


@dataclass(frozen=True)
class App:
    """An app: a named set of instances from one file."""

    name: str
    source: Path
    instances: tuple[Instance, ...]


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


def load_app(path: Path) -> App:
    """Load and validate one app file; a :class:`UserError` lists every problem found."""
    if path.suffix == ".py":
        instances = _load_python(path)
    else:
        instances = load_yaml(path.read_text(encoding="utf-8", errors="replace"), str(path))
    _check_unique(instances, str(path))
    return App(name=path.stem, source=path, instances=tuple(instances))


def load_yaml(text: str, file: str) -> list[Instance]:
    try:
        documents = [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError.single(
            f"is not valid YAML{where}: {problem}.",
            file=file,
            fix="correct the YAML syntax (indentation, quoting, colons).",
        ) from None
    if not documents:
        raise UserError.single(
            "holds no documents.",
            file=file,
            fix=f"add at least one 'apiVersion: {API_VERSION}' 'kind: {KIND}' document.",
        )
    problems: list[Problem] = []
    instances: list[Instance] = []
    for index, document in enumerate(documents, start=1):
        label = _document_label(index, document)
        try:
            instances.append(parse_instance(document))
        except UserError as exc:
            problems.extend(p.located(file=file, document=label) for p in exc.problems)
    if problems:
        raise UserError(problems)
    return instances


def parse_instance(document: Any) -> Instance:
    """Validate one decoded document as an Instance."""
    if not isinstance(document, dict):
        raise UserError.single(
            f"is a {type(document).__name__}, not a mapping.",
            fix=f"each document must be an 'apiVersion: {API_VERSION}' 'kind: {KIND}' mapping.",
        )
    kind, api_version = document.get("kind"), document.get("apiVersion")
    if kind != KIND or api_version != API_VERSION:
        raise UserError.single(
            f"is apiVersion {api_version!r} kind {kind!r}; only {API_VERSION} {KIND} is an "
            "app document.",
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
        raise UserError(problems_from(exc, Instance)) from None


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
        elif kind in ("enum", "literal_error"):
            message = f"{message} (got {item.get('input')!r})."
        elif isinstance(item.get("input"), dict | list):
            message = f"{message}."
        else:
            message = f"{message} (got {_short(item.get('input'))})."
        problems.append(Problem(message=message, path=path, fix=fix))
    return problems


def _is_internal_loc(part: Any) -> bool:
    # pydantic adds the name of a union member or validator function to some locations
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _short(value: Any) -> str:
    text = repr(value)
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


def _document_label(index: int, document: Any) -> str:
    name = None
    if isinstance(document, dict) and isinstance(document.get("metadata"), dict):
        name = document["metadata"].get("name")
    return f"document {index}" + (f" ({name})" if name else "")


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


def _load_python(path: Path) -> list[Instance]:
    module_name = f"paperclip_app_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserError.single("cannot be loaded as a Python module.", file=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
        factory = getattr(module, "instances", None)
        if not callable(factory):
            raise UserError.single(
                "defines no instances() function.",
                file=str(path),
                fix="add 'def instances() -> list[Instance]:' returning the app's instances.",
            )
        result = list(factory())
    except UserError:
        raise
    except ValidationError as exc:
        raise UserError(
            p.located(file=f"{path}{_user_line(exc, path)}")
            for p in problems_from(exc, _model_named(exc.title))
        ) from None
    except Exception as exc:
        raise UserError.single(
            f"raised {type(exc).__name__}{_user_line(exc, path)}: {exc}",
            file=str(path),
            fix="correct the app module.",
        ) from None
    finally:
        sys.modules.pop(module_name, None)
    bad = [type(item).__name__ for item in result if not isinstance(item, Instance)]
    if bad:
        raise UserError.single(
            f"instances() returned {', '.join(sorted(set(bad)))} objects.",
            file=str(path),
            fix="return constructs_lib.spec.Instance objects.",
        )
    if not result:
        raise UserError.single("instances() returned no instances.", file=str(path))
    return result


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


__all__ = ["App", "discover", "load_app", "load_yaml", "parse_instance", "resolve"]
