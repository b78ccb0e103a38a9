"""Strict schema validation and YAML text of synthesized objects.

Kept free of cdk8s imports so it can run in a helper process beside the jsii/Node pipeline.
"""

from __future__ import annotations

from typing import Any

from constructs_lib.errors import Problem
from constructs_lib.render.yamltext import dump
from constructs_lib.spec.kubeschema import UnknownKind, object_validator, schema_errors


def validate_objects(
    objects: list[dict[str, Any]], version: str, *, file: str, instance: str
) -> list[Problem]:
    problems = []
    for obj in objects:
        label = f"{obj['kind']} {obj['metadata']['name']}"
        try:
            validator = object_validator(version, obj["apiVersion"], obj["kind"])
        except UnknownKind:
            continue  # custom resources: checked by the API server in the k8s tests
        for path, message in schema_errors(validator, obj):
            problems.append(
                Problem(
                    message=f"the generated {label} is not valid Kubernetes {version}: {message}.",
                    path=path,
                    fix="check the pass-through fields (sidecars, volumes, affinity, ...) "
                    "used at this path, or the target --kubernetes-version.",
                    file=file,
                    document=f"instance {instance}",
                )
            )
    return problems


def check_and_dump(
    objects: list[dict[str, Any]], version: str, file: str, instance: str
) -> tuple[list[Problem], list[str]]:
    """(schema problems, YAML text of each object) for one instance's objects."""
    return validate_objects(objects, version, file=file, instance=instance), [
        dump(o) for o in objects
    ]
