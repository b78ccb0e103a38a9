"""Synthesize apps into Kubernetes objects with cdk8s, in apply order, validated strictly."""

from __future__ import annotations

import atexit
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from constructs_lib.constructs.instance import PaperclipInstance, Plan, plan
from constructs_lib.errors import Problem, UserError
from constructs_lib.render.validate import check_and_dump
from constructs_lib.spec import Instance, rules
from constructs_lib.spec.kubeschema import (
    UnknownKubernetesVersion,
    object_validator,
    supported_versions,
)
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


HELPER_THRESHOLD = 8


@cache
def client_script() -> str:
    """The thin client mounted into Paperclip pods (launcher/client/paperclip-launch.mjs)."""
    source = resources.files("launcher") / "client" / "paperclip-launch.mjs"
    return source.read_text(encoding="utf-8")


@cache
def db_script() -> str:
    """The backup and restore script (constructs_lib/scripts/paperclip-db.sh)."""
    source = resources.files("constructs_lib") / "scripts" / "paperclip-db.sh"
    return source.read_text(encoding="utf-8")


@cache
def scripts() -> dict[str, str]:
    """Every shell script of the package (constructs_lib/scripts/*.sh), by file name."""
    folder = resources.files("constructs_lib") / "scripts"
    found = {p.name: p for p in folder.iterdir() if p.name.endswith(".sh") and p.is_file()}
    return {name: found[name].read_text(encoding="utf-8") for name in sorted(found)}


@cache
def _helper_pool() -> Executor:
    """One helper process (spawned: it must not share the jsii kernel's pipes)."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    atexit.register(pool.shutdown, wait=True, cancel_futures=True)
    return pool


def _sort_key(obj: dict[str, Any]) -> tuple[int, str, str]:
    kind = obj["kind"]
    rank = APPLY_ORDER.index(kind) if kind in APPLY_ORDER else len(APPLY_ORDER)
    meta = obj["metadata"]
    return rank, meta.get("namespace", ""), meta["name"]


def instance_problems(app: App, plans: list[Plan]) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) of the synth-time rules and of every feature, for each instance."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for instance, planned in zip(app.instances, plans, strict=True):
        where = {"file": str(app.source), "document": f"instance {instance.name}"}
        found = [*rules.errors(instance), *planned.contribution.errors]
        errors += [p.located(**where) for p in found]
        advised = [*rules.warnings(instance), *planned.contribution.warnings]
        warnings += [p.located(**where) for p in advised]
    return errors, warnings


def build_objects(
    instances: Iterable[Instance],
    tick: Callable[[], None] | None = None,
    plans: Iterable[Plan] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """cdk8s synthesis, one chart per instance; yields each instance's objects as soon as its
    chart is built, so callers can overlap their work with the next chart's."""
    import cdk8s  # after constructs_lib.constructs has set up the jsii environment

    app = cdk8s.App()
    planned = iter(plans) if plans is not None else None
    for instance in instances:
        chart = cdk8s.Chart(app, instance.name, disable_resource_name_hashes=True)
        construct = PaperclipInstance(
            chart,
            instance.name,
            instance=instance,
            client_script=client_script(),
            planned=next(planned) if planned is not None else None,
            db_script=db_script(),
            scripts=scripts(),
        )
        yield construct.manifests()
        if tick:
            tick()


def render_app(app: App, version: str, tick: Callable[[], None] | None = None) -> RenderedApp:
    """Rules, cdk8s synthesis and strict validation for one app; raises on any error.

    Validation and YAML serialization run in a helper process while cdk8s synthesizes the
    next instance, so the Python-heavy checks overlap the jsii/Node pipeline.
    """
    plans = [plan(instance) for instance in app.instances]
    errors, warnings = instance_problems(app, plans)
    if errors:
        raise UserError(errors)
    objects: list[dict[str, Any]] = []
    documents: list[str] = []
    # A helper process costs ~0.4 s to start: worth it only for larger apps.
    pool = _helper_pool() if len(app.instances) >= HELPER_THRESHOLD else None
    results: list[Any] = []
    per_instance: list[list[dict[str, Any]]] = []
    built = build_objects(app.instances, tick, plans)
    for instance, planned, batch in zip(app.instances, plans, built, strict=True):
        objects += batch
        per_instance.append(batch)
        stamped = planned.contribution.stamped
        arguments = (batch, version, str(app.source), instance.name, stamped)
        results.append(
            pool.submit(check_and_dump, *arguments) if pool else check_and_dump(*arguments)
        )
    for result in results:
        found, texts = result.result() if pool else result
        errors += found
        documents += texts
    if errors:
        raise UserError(errors)
    order = sorted(range(len(objects)), key=lambda i: _sort_key(objects[i]))
    return RenderedApp(
        app=app,
        objects=[objects[i] for i in order],
        documents=[documents[i] for i in order],
        warnings=warnings,
        per_instance=per_instance,
    )
