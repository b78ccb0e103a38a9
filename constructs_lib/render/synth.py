"""Synthesize apps into Kubernetes objects, in apply order, validated strictly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from constructs_lib.constructs.build import Plan, instance_errors, instance_objects, plan
from constructs_lib.constructs.kube import KubeObject
from constructs_lib.constructs.package_files import sources
from constructs_lib.errors import Problem, UserError
from constructs_lib.render.layout import file_name
from constructs_lib.render.validate import check_and_dump
from constructs_lib.spec import rules
from constructs_lib.spec.loader import App

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
    "HorizontalPodAutoscaler",
    "Ingress",
    "HTTPRoute",
    "Job",
    "CronJob",
)


@dataclass
class RenderedApp:
    """The objects of one app, in apply order, and the warnings found on the way."""

    app: App
    objects: list[dict[str, Any]]
    documents: list[str]
    """The YAML text of each object, aligned with ``objects``."""
    warnings: list[Problem] = field(default_factory=list)
    per_instance: list[list[dict[str, Any]]] = field(default_factory=list)
    """The same objects grouped by instance (in the app's order), each as built."""
    plans: list[Plan] = field(default_factory=list)
    """Each instance's plan (features and contributions), in the app's order."""
    built: list[list[KubeObject]] = field(default_factory=list)
    """``per_instance`` as the builders made them: what the chart reads from the build (the
    switch an object exists by, the labels the generator sets)."""


def _sort_key(obj: dict[str, Any]) -> tuple[int, str, str]:
    kind = obj["kind"]
    rank = APPLY_ORDER.index(kind) if kind in APPLY_ORDER else len(APPLY_ORDER)
    meta = obj["metadata"]
    return rank, meta.get("namespace", ""), meta["name"]


def instance_problems(app: App, plans: list[Plan]) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) of the synth-time rules and of every feature, for each instance."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for index, (instance, planned) in enumerate(zip(app.instances, plans, strict=True)):
        where = {"file": str(app.source), "document": app.label(index)}
        errors += [p.located(**where) for p in instance_errors(instance, planned)]
        advised = [*rules.warnings(instance), *planned.contribution.warnings]
        warnings += [p.located(**where) for p in advised]
    return errors, warnings


def collisions(app: App, per_instance: list[list[dict[str, Any]]]) -> list[Problem]:
    """Objects of two instances of the app that share a kind and name (one file of the
    Kustomize tree and the chart, one object in the namespace): whichever output is written,
    one would silently replace the other."""
    owners: dict[str, str] = {}
    found: list[Problem] = []
    for index, (instance, objects) in enumerate(zip(app.instances, per_instance, strict=True)):
        for obj in objects:
            key = file_name(obj)
            first = owners.setdefault(key, instance.name)
            if first != instance.name:
                found.append(
                    Problem(
                        f"instances {first} and {instance.name} both generate {obj['kind']} "
                        f"{obj['metadata']['name']} ({key}); one would overwrite the other.",
                        file=str(app.source),
                        document=app.label(index),
                        fix="rename one of the instances so their object names differ (an "
                        "instance X with the managed database also owns X-db, X-db-data, ...).",
                    )
                )
    return found


def render_app(app: App, version: str, tick: Callable[[], None] | None = None) -> RenderedApp:
    """Rules, the build and strict validation for one app; raises on any error."""
    plans = [plan(instance) for instance in app.instances]
    errors, warnings = instance_problems(app, plans)
    if errors:
        raise UserError(errors)
    per_instance: list[list[dict[str, Any]]] = []
    built: list[list[KubeObject]] = []
    documents: list[str] = []
    for index, planned in enumerate(plans):
        made = instance_objects(planned, sources())
        objects_of = [o.to_json() for o in made]
        built.append(made)
        stamped = [(path, make()) for path, make in planned.contribution.stamps]
        label = app.label(index)
        found, texts = check_and_dump(objects_of, version, str(app.source), label, stamped)
        errors += found
        per_instance.append(objects_of)
        documents += texts
        if tick:
            tick()
    errors += collisions(app, per_instance)
    if errors:
        raise UserError(errors)
    objects = [o for batch in per_instance for o in batch]
    order = sorted(range(len(objects)), key=lambda i: _sort_key(objects[i]))
    return RenderedApp(
        app=app,
        objects=[objects[i] for i in order],
        documents=[documents[i] for i in order],
        warnings=warnings,
        per_instance=per_instance,
        plans=plans,
        built=built,
    )
