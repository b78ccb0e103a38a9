"""Decisions given on the command line: ``--set [TARGET:]PATH=VALUE`` (a YAML value, for
every imported document or for the one named TARGET) and ``--image-tag TAG``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from constructs_lib.errors import Problem, UserError
from constructs_lib.importer.model import SET_OPTION, Change, Document, parse_path, put
from constructs_lib.importer.redact import shown
from constructs_lib.spec.yaml_safety import yaml_documents

ROOTS = ("spec", "metadata")
"""The fields --set may change (apiVersion and kind are fixed)."""


@dataclass(frozen=True)
class Override:
    """One ``--set``: the document it is for (None: all), the field path and the value
    (None removes the field)."""

    target: str | None
    path: str
    parts: list[str | int]
    value: Any


def parse_set(option: str) -> Override:
    """One ``--set`` argument; raises :class:`UserError` naming it when malformed."""
    head, equals, text = option.partition("=")
    target: str | None = None
    if not head.startswith(tuple(f"{root}." for root in ROOTS)) and ":" in head:
        target, _, head = head.partition(":")
    parts = parse_path(head)
    if not equals or target == "" or parts is None or parts[0] not in ROOTS:
        raise UserError.single(
            f"{option!r} is not [NAME:]PATH=VALUE with PATH under spec or metadata.",
            path=SET_OPTION,
            fix="e.g. --set spec.objectStorage.bucket=files, --set 'team-a:spec.availability."
            "replicas=1', --set team-a:spec.restoreFrom=null (null removes the field).",
        )
    try:
        values = yaml_documents(text, SET_OPTION)
    except UserError as exc:
        raise UserError(
            Problem(p.message, SET_OPTION, f"quote the value of {head} as YAML. {p.fix}")
            for p in exc.problems
        ) from None
    return Override(target, head, parts, values[0] if values else None)


def unknown_targets(overrides: Sequence[Override], documents: Sequence[Document]) -> list[Problem]:
    """--set options naming a document that is not imported."""
    names = {d.name for d in documents}
    return [
        Problem(
            f"names {o.target!r}, which is not an imported Instance.",
            SET_OPTION,
            f"use one of: {', '.join(sorted(names))}, or no NAME: for every document.",
        )
        for o in overrides
        if o.target is not None and o.target not in names
    ]


def apply(overrides: Sequence[Override], document: Document) -> None:
    """Apply every --set meant for ``document``, adding its changes to the document; a path
    that cannot be set is a problem of the document."""
    for override in overrides:
        if override.target not in (None, document.name):
            continue
        failure = put(document.body, override.parts, override.value)
        if failure is not None:
            document.refuse(
                f"--set {override.path} cannot be applied: {failure}.",
                override.path,
                "set the enclosing field instead (its value as YAML), e.g. --set "
                "'spec.storage={persistence: {enabled: false}}'.",
            )
            continue
        what = "removed" if override.value is None else f"= {shown(override.value)}"
        document.changes.append(Change(SET_OPTION, override.path, what, "your decision (--set)"))


__all__ = ["Override", "apply", "parse_set", "unknown_targets"]
