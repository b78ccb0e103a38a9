"""From operator Instances to an app file: clean up what the cluster added, apply the
decisions given on the command line and the mechanical fixes, then check the result the way
synth does. Every problem of every document is collected before anything is written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from constructs_lib.errors import Problem, UserError, collect_each
from constructs_lib.importer import cleanup, overrides
from constructs_lib.importer.decisions import decided, decision, decision_problem
from constructs_lib.importer.fixes import FIXES, IMAGE_FROM_STATUS, Fix, refused_at
from constructs_lib.importer.model import Change, Document
from constructs_lib.importer.report import app_text
from constructs_lib.spec import rules
from constructs_lib.spec.instance import Instance
from constructs_lib.spec.instance_errors import document_label, parse_instance
from constructs_lib.spec.loader import App
from constructs_lib.spec.versions import DEFAULT_KUBERNETES_VERSION

IMAGE_PATHS = decision("image-version").paths


@dataclass(frozen=True)
class Options:
    """The decisions given on the command line, and the schema to check against."""

    sets: tuple[str, ...] = ()
    image_tag: str | None = None
    version: str = DEFAULT_KUBERNETES_VERSION
    instances: tuple[str, ...] = ()
    """Import only the Instances of these names (default: all)."""


@dataclass
class Imported:
    """The imported documents (with their changes and commands), the app file's text and
    the warnings synth will print for it."""

    documents: list[Document]
    labels: list[str]
    """How the app file names each document (``document 1 (team-a)``)."""
    text: str
    warnings: list[Problem] = field(default_factory=list)


def spec_problems(body: object) -> tuple[Instance | None, list[Problem]]:
    """The document as an Instance (None when its fields are refused; its rules may still
    refuse it) and every spec-level refusal of it, as ``validate`` reports it: field errors,
    the synth-time rules and the features' own errors."""
    from constructs_lib.render.inputs import feature_errors

    try:
        instance = parse_instance(body, checks=(feature_errors,))
    except UserError as exc:
        return None, exc.problems
    return instance, [*rules.errors(instance), *feature_errors(instance)]


def _image_tag(document: Document, problems: Sequence[Problem], tag: str) -> list[Change]:
    """--image-tag: the tag of a document whose image has no usable pin."""
    if not refused_at(problems, *IMAGE_PATHS):
        return []
    image = document.spec.setdefault("image", {})
    if not isinstance(image, dict):
        return []
    changes = [Change("--image-tag", "spec.image.tag", f"= {tag}", "your decision (--image-tag)")]
    image["tag"] = tag
    if refused_at(problems, "spec.image.digest"):
        del image["digest"]
        changes.append(
            Change("--image-tag", "spec.image.digest", "removed", "it is not a valid digest")
        )
    return changes


def fix(document: Document, image_tag: str | None) -> Instance | None:
    """Every fix that applies, in order, the refusals checked again after each change (and
    --image-tag right after the image's own status is read); then the remaining refusals,
    each one a decision answers naming its options. The fixed document as an Instance, or
    None (see :func:`spec_problems`)."""
    steps: list[Fix] = [rule.run for rule in FIXES]
    if image_tag:
        steps.insert(FIXES.index(IMAGE_FROM_STATUS) + 1, partial(_image_tag, tag=image_tag))
    instance, problems = spec_problems(document.body)
    for step in steps:
        changes = step(document, problems)
        if changes:
            document.changes += changes
            instance, problems = spec_problems(document.body)
    document.problems += decided(document, problems)
    return instance


def _duplicates(documents: Sequence[Document]) -> None:
    seen: dict[str, Document] = {}
    for document in documents:
        first = seen.setdefault(document.name, document)
        if first is not document:
            document.refuse(
                f"has the name {document.name!r} of {first.source}, {first.label} "
                f"(namespaces {first.namespace} and {document.namespace}): an app's "
                "instances need distinct names, their objects would collide.",
                "metadata.name",
                "import them into separate app files (--out), e.g. one per namespace "
                "(kubectl get instances -n NAMESPACE -o yaml).",
            )


def _app_problems(parsed: Sequence[tuple[Document, Instance]]) -> None:
    """Refusals of the app as a whole, each given to the document it is about."""
    from constructs_lib.constructs.image_automation import shared_repository_problems

    for problem in shared_repository_problems([i for _, i in parsed]):
        for document, _ in parsed:
            if problem.message.startswith(f"instance {document.name} "):
                document.problems.append(
                    decision_problem(document, problem, decision("image-automation-app"))
                )


def _render_check(
    parsed: Sequence[tuple[Document, Instance]], app_name: str, out: str, version: str
) -> tuple[list[Problem], list[Problem]]:
    """Build, validate and write (in memory) the objects of the parsed documents without
    problems, as synth does: (problems of the app as a whole, warnings at the app file); the
    problems of a document go to it, located at the input."""
    from constructs_lib.render.pipeline import app_tree
    from constructs_lib.render.synth import render_app

    _app_problems(parsed)
    clean = [(d, i) for d, i in parsed if not d.problems]
    if not clean:
        return [], []
    app = App(name=app_name, source=Path(out), instances=tuple(i for _, i in clean))
    by_label = {app.label(n): d for n, (d, _) in enumerate(clean)}
    try:
        rendered = render_app(app, version)
        app_tree(rendered)
    except UserError as exc:
        for problem in exc.problems:
            if (document := by_label.get(problem.document)) is not None:
                document.problems.append(
                    replace(problem, file=document.source, document=document.label)
                )
        return [p for p in exc.problems if by_label.get(p.document) is None], []
    return [], rendered.warnings


def _selected(
    documents: list[Document], names: Sequence[str]
) -> tuple[list[Document], list[Problem]]:
    """The documents --instance names (all without it), and the names no input holds."""
    held = {d.name for d in documents}
    problems = [
        Problem(
            f"names {name!r}, which no input holds.",
            "--instance",
            f"use one of: {', '.join(sorted(held))}.",
        )
        for name in names
        if name not in held
    ]
    return [d for d in documents if not names or d.name in names], problems


def import_documents(
    documents: list[Document], options: Options, app_name: str, out: str, inputs: str
) -> Imported:
    """Import every document; raises :class:`UserError` with the problems of all of them
    (nothing is written then)."""
    documents, problems = _selected(documents, options.instances)
    sets, malformed = collect_each(options.sets, overrides.parse_set)
    problems += malformed + overrides.unknown_targets(sets, documents)
    parsed: list[tuple[Document, Instance]] = []
    for document in documents:
        document.changes += cleanup.strip(document)
        overrides.apply(sets, document)
        if (instance := fix(document, options.image_tag)) is not None:
            parsed.append((document, instance))
    _duplicates(documents)
    unplaced, warnings = _render_check(parsed, app_name, out, options.version)
    problems += [p for d in documents for p in d.problems] + unplaced
    if problems:
        raise UserError(problems)
    labels = [document_label(i, d.body) for i, d in enumerate(documents, start=1)]
    return Imported(documents, labels, app_text(documents, labels, inputs, out), warnings)


__all__ = ["Imported", "Options", "import_documents", "spec_problems"]
