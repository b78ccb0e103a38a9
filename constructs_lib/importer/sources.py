"""Reading operator Instances: files or stdin (``-``), each holding Instance documents or a
``kind: List`` of them (what ``kubectl get instances -o yaml`` prints)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from constructs_lib.errors import Problem, collect
from constructs_lib.importer.model import Document
from constructs_lib.spec.instance import API_VERSION, KIND
from constructs_lib.spec.instance_errors import document_label
from constructs_lib.spec.yaml_safety import decode, read_app_file, read_limited, yaml_documents

STDIN = "-"
STDIN_LABEL = "<stdin>"
LIST_KINDS = ("List", f"{KIND}List")
"""``kubectl get -o yaml`` prints a v1 List; the API itself answers an InstanceList."""


def read_inputs(inputs: Sequence[str], stdin: BinaryIO) -> tuple[list[Document], list[Problem]]:
    """Every Instance of every input, in order, and the problems of the rest (unreadable
    files, YAML errors, documents that are not Instances), so that the Instances are checked
    in the same run."""
    documents: list[Document] = []
    problems: list[Problem] = []
    if list(inputs).count(STDIN) > 1:
        problems.append(Problem("stdin ('-') is named more than once.", fix="name it once."))
    for name in dict.fromkeys(inputs):
        documents += collect(problems, partial(_documents, name, stdin, problems)) or []
    if not documents and not problems:
        problems.append(
            Problem(
                f"the input holds no {KIND} documents.",
                fix=f"export them with `kubectl get instances.{API_VERSION.split('/')[0]} -A "
                "-o yaml`, or name the files that hold them.",
            )
        )
    return documents, problems


def _documents(name: str, stdin: BinaryIO, problems: list[Problem]) -> list[Document]:
    """The Instances of one input; the refusals of its other documents go to ``problems``."""
    source = STDIN_LABEL if name == STDIN else name
    if name == STDIN:
        text = decode(read_limited(stdin, source, "split the input."), source)
    else:
        text = decode(read_app_file(Path(name)), source)
    found: list[Document] = []
    for index, document in enumerate(yaml_documents(text, source), start=1):
        label = document_label(index, document)
        candidates = [(label, document)]
        if isinstance(document, dict) and document.get("kind") in LIST_KINDS:
            items = document.get("items") or []
            if not isinstance(items, list):
                problems.append(_refused(source, label, "items", "is not a list of objects."))
                continue
            candidates = [
                (document_label(index, item, f" items[{p}]"), item) for p, item in enumerate(items)
            ]
        for item_label, body in candidates:
            problem = _not_an_instance(body)
            if problem:
                problems.append(_refused(source, item_label, *problem))
            else:
                found.append(Document(source, item_label, copy.deepcopy(body), original=body))
    return found


def _not_an_instance(document: Any) -> tuple[str, str] | None:
    """(field path, what is wrong) when ``document`` is not an operator Instance."""
    if not isinstance(document, dict):
        return "", f"is a {type(document).__name__}, not an {KIND} mapping."
    kind, api_version = document.get("kind"), document.get("apiVersion")
    if kind != KIND or api_version != API_VERSION:
        field = "kind" if kind != KIND else "apiVersion"
        return field, f"is apiVersion {api_version!r} kind {kind!r}, not an {API_VERSION} {KIND}."
    return None


def _refused(source: str, label: str, path: str, message: str) -> Problem:
    return Problem(
        message,
        path,
        f"import only {API_VERSION} {KIND} documents and lists of them "
        "(kubectl get instances -o yaml); leave other objects out.",
        file=source,
        document=label,
    )


__all__ = ["LIST_KINDS", "STDIN", "read_inputs"]
