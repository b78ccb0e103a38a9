"""Synthesize apps into Kubernetes objects with cdk8s, in apply order, validated strictly."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from constructs_lib.errors import Problem, UserError
from constructs_lib.spec import Instance
from constructs_lib.spec import rules
from constructs_lib.spec.kubeschema import (
    UnknownKind,
    UnknownKubernetesVersion,
    object_validator,
    schema_errors,
    supported_versions,
)
from constructs_lib.spec.loader import App

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import cdk8s  # noqa: E402  (after the jsii environment is set)

from constructs_lib.constructs import PaperclipInstance  # noqa: E402

# Kinds in the order they are applied; unknown kinds go last.
APPLY_ORDER = (
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "Service",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "Deployment",
    "StatefulSet",
    "Job",
    "CronJob",
)


@dataclass
class RenderedApp:
    """The objects of one app, in apply order, and the warnings found on the way."""

    app: App
    objects: list[dict[str, Any]]
    warnings: list[Problem] = field(default_factory=list)


def check_version(version: str) -> str:
    try:
        object_validator(version, "v1", "ConfigMap")
    except UnknownKubernetesVersion:
        raise UserError.single(
            f"Kubernetes {version} has no bundled schema.",
            path="--kubernetes-version",
            fix=f"use one of {', '.join(supported_versions())}.",
        ) from None
    return version


def _sort_key(obj: dict[str, Any]) -> tuple[int, str, str]:
    kind = obj["kind"]
    rank = APPLY_ORDER.index(kind) if kind in APPLY_ORDER else len(APPLY_ORDER)
    meta = obj["metadata"]
    return rank, meta.get("namespace", ""), meta["name"]


def instance_problems(app: App) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) of the synth-time rules for every instance of an app."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for instance in app.instances:
        where = {"file": str(app.source), "document": f"instance {instance.name}"}
        errors += [p.located(**where) for p in rules.errors(instance)]
        warnings += [p.located(**where) for p in rules.warnings(instance)]
    return errors, warnings


def build_objects(instances: Iterable[Instance], tick: Callable[[], None] | None = None) -> list[
    list[dict[str, Any]]
]:
    """cdk8s synthesis: one chart per instance; returns each instance's objects."""
    app = cdk8s.App()
    charts = []
    for instance in instances:
        chart = cdk8s.Chart(app, instance.name, disable_resource_name_hashes=True)
        PaperclipInstance(chart, instance.name, instance=instance)
        charts.append(chart)
        if tick:
            tick()
    return [list(chart.to_json()) for chart in charts]


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


def render_app(
    app: App, version: str, tick: Callable[[], None] | None = None
) -> RenderedApp:
    """Rules, cdk8s synthesis and strict validation for one app; raises on any error."""
    errors, warnings = instance_problems(app)
    if errors:
        raise UserError(errors)
    per_instance = build_objects(app.instances, tick)
    objects: list[dict[str, Any]] = []
    for instance, instance_objects in zip(app.instances, per_instance, strict=True):
        errors += validate_objects(
            instance_objects, version, file=str(app.source), instance=instance.name
        )
        objects += instance_objects
    if errors:
        raise UserError(errors)
    objects.sort(key=_sort_key)
    return RenderedApp(app=app, objects=objects, warnings=warnings)
