"""Strict schema validation and YAML text of synthesized objects."""

from __future__ import annotations

from typing import Any

from constructs_lib.errors import Problem
from constructs_lib.render.yamltext import dump
from constructs_lib.spec.crds import SchemaUnavailable
from constructs_lib.spec.kubeschema import UnknownKind, object_validator, schema_errors
from constructs_lib.spec.semantic import object_problems


def validate_objects(
    objects: list[dict[str, Any]],
    version: str,
    *,
    file: str,
    instance: str,
    size_hints: list[int] | None = None,
) -> list[Problem]:
    """Schema and semantic problems of each object; ``size_hints`` (the length of each
    object's YAML text) spare the exact size check of objects far below the API's limit.
    ``instance``: how the problems name the instance's document (``document 2 (team-a)``,
    see :meth:`App.label <constructs_lib.spec.loader.App.label>`)."""
    problems: list[Problem] = []
    hints: list[int | None] = list(size_hints) if size_hints else [None] * len(objects)
    for obj, hint in zip(objects, hints, strict=True):
        label = f"{obj['kind']} {obj['metadata']['name']}"
        try:
            validator = object_validator(version, obj["apiVersion"], obj["kind"])
        except UnknownKind as exc:
            problems.append(
                Problem(
                    message=f"the generated {label} has apiVersion {obj['apiVersion']} and kind "
                    f"{obj['kind']}, which is not a kind the generator knows a pinned schema "
                    f"for ({exc}).",
                    path="apiVersion",
                    fix="emit a core Kubernetes kind, or pin the upstream CRD that defines "
                    "this kind in constructs_lib/spec/crds.py.",
                )
            )
        except SchemaUnavailable as exc:
            problems.append(
                Problem(f"the generated {label} cannot be validated: {exc.message}", fix=exc.fix)
            )
        else:
            # the schema first; when it holds, the API server's semantic rules (last safety net)
            found = schema_errors(validator, obj) or object_problems(obj, version, size_hint=hint)
            problems += (
                Problem(
                    message=f"the generated {label} is not valid Kubernetes {version}: {message}.",
                    path=path,
                    fix="check the pass-through fields (sidecars, volumes, affinity, ...) "
                    "used at this path, or the target --kubernetes-version.",
                )
                for path, message in found
            )
    return [p.located(file=file, document=instance) for p in problems]


def validate_stamped(
    stamped: list[tuple[str, dict[str, Any]]], version: str, *, file: str, instance: str
) -> list[Problem]:
    """Objects stamped later from reviewed templates (agent Jobs): the same checks, reported
    at the spec path that declares the template."""
    return [
        Problem(
            message=f"the {obj['kind']} this template stamps for every run would be refused"
            + (f" at {problem.path}" if problem.path else "")
            + f": {problem.message}",
            path=spec_path,
            fix=f"correct the template field that feeds this part of the {obj['kind']}.",
            file=file,
            document=instance,
        )
        for spec_path, obj in stamped
        for problem in validate_objects([obj], version, file=file, instance=instance)
    ]


def check_and_dump(
    objects: list[dict[str, Any]],
    version: str,
    file: str,
    instance: str,
    stamped: list[tuple[str, dict[str, Any]]] | None = None,
) -> tuple[list[Problem], list[str]]:
    """(schema problems, YAML text of each object) for one instance's objects."""
    texts = [dump(o) for o in objects]
    problems = validate_objects(
        objects, version, file=file, instance=instance, size_hints=[len(t) for t in texts]
    )
    problems += validate_stamped(stamped or [], version, file=file, instance=instance)
    return problems, texts
