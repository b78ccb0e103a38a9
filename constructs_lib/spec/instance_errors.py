"""From documents to Instances, and pydantic's errors to the user's: every problem of every
document at its field path (``spec.x[0].y``), with what was given and how to fix it; the
synth-time rules run even when a document has field errors, so one run reports every
problem. ``document_label`` is the one way messages name a document."""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from constructs_lib.errors import Problem, UserError
from constructs_lib.spec import rules
from constructs_lib.spec.env_rules import credential_in_text
from constructs_lib.spec.instance import API_VERSION, KIND, Instance
from constructs_lib.spec.kubeschema import format_path

Check = Callable[[Instance], list[Problem]]
"""A check of a valid Instance from a later layer (the features' own errors), run beside the
synth-time rules whenever a file has field errors, so that one run reports every problem."""


def parse_all(documents: Sequence[Any], file: str, checks: Sequence[Check] = ()) -> list[Instance]:
    """Every document of ``file`` as an Instance; raises with the problems of all of them.
    When any document is refused, the rules and ``checks`` of the valid ones are reported
    too."""
    parsed: list[tuple[str, Instance | list[Problem]]] = []
    for index, document in enumerate(documents, start=1):
        label = document_label(index, document)
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
            f"is apiVersion {short_text(api_version)} kind {short_text(kind)}; only {API_VERSION} "
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
    checks: Sequence[Check],
) -> list[Problem]:
    """Rule and check problems of the document with its invalid fields removed (none if that
    copy does not validate either), except those about an invalid field or a field around
    one."""
    invalid = {tuple(_user_loc(item["loc"])) for item in error.errors(include_url=False)}
    if () in invalid:  # the document itself is invalid
        return []
    try:
        instance = Instance.model_validate(_without(document, invalid))
    except (ValidationError, RecursionError):
        return []
    found = rules.errors(instance)
    for check in checks:
        try:
            found += check(instance)
        except Exception:
            continue
    return [p for p in found if not any(_related(p.path, field) for field in field_paths)]


def _without(data: Any, locs: set[tuple[Any, ...]], at: tuple[Any, ...] = ()) -> Any:
    """A copy of the mappings and lists of ``data`` (at location ``at``) without the values at
    ``locs``, the keys and indexes of values in the original."""
    if isinstance(data, dict):
        return {k: _without(v, locs, (*at, k)) for k, v in data.items() if (*at, k) not in locs}
    if isinstance(data, list):
        return [_without(v, locs, (*at, i)) for i, v in enumerate(data) if (*at, i) not in locs]
    return data


def _related(a: str, b: str) -> bool:
    """Whether one field path is the other or lies inside it."""
    shorter, longer = sorted((a, b), key=len)
    return longer == shorter or (longer.startswith(shorter) and longer[len(shorter)] in ".[")


def problems_from(error: ValidationError, model: type[BaseModel]) -> list[Problem]:
    """Readable problems from a pydantic error: field path, what is wrong, the fix."""
    problems = []
    for item in error.errors(include_url=False):
        loc = _user_loc(item["loc"])
        path = format_path(loc)
        kind = item["type"]
        message = str(item["msg"]).removeprefix("Value error, ")
        fix = ""
        if kind == "extra_forbidden":
            known = known_fields(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            message = "is not a field of the Instance spec."
            fix = f"did you mean {close[0]!r}?" if close else ""
            if known and not close:
                fix = "known fields here: " + ", ".join(sorted(known)) + "."
        elif kind == "missing":
            message = "is required."
        elif kind == "kube_schema" and (ctx := item.get("ctx") or {}).get("inner"):
            inner = str(ctx["inner"])
            path += inner if inner.startswith("[") else f".{inner}"
            message = f"not a valid Kubernetes {ctx.get('kind')}: {ctx.get('message')}."
        elif isinstance(item.get("input"), dict | list) and kind not in ("enum", "literal_error"):
            message = f"{message}."  # a whole mapping or list is not shown
        else:
            message = f"{message} ({_shown_input(item.get('input'))})."
        problems.append(Problem(message=message, path=path, fix=fix))
    return problems


def _user_loc(loc: Sequence[Any]) -> list[Any]:
    """An error's location without the names of union members and validator functions that
    pydantic adds to some locations."""
    return [p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]


def _shown_input(value: Any) -> str:
    """A refused input as a message shows it: never a value that holds a credential."""
    if isinstance(value, str) and credential_in_text(value) is not None:
        return "the value is not shown: it holds a credential"
    return f"got {short_text(value)}"


def short_text(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def known_fields(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The fields a user may write in the model at ``loc`` (none when it is no model)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is not None and not isinstance(part, int):
            named = (f for n, f in current.model_fields.items() if part in (n, f.alias or n))
            field = next(named, None)
            current = None if field is None else _model_in(field.annotation)
    if current is None:
        return []
    return [f.alias or n for n, f in current.model_fields.items() if not f.exclude]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    found = (_model_in(arg) for arg in typing.get_args(annotation))
    return next((model for model in found if model is not None), None)


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def document_label(index: int, document: Any, item: str = "") -> str:
    """How every message names a document: ``document 2 (team-a)`` (document N, and the name
    when it has one; a name that is not a plain DNS-like word is quoted); ``item`` names an
    item of a List document: ``document 1 items[0] (team-a)``."""
    name = None
    if isinstance(document, dict) and isinstance(document.get("metadata"), dict):
        name = document["metadata"].get("name")
    if not isinstance(name, str) or not name:
        return f"document {index}{item}"
    return f"document {index}{item} ({name if _PLAIN_NAME.match(name) else short_text(name)})"
