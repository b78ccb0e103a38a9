"""Synthesize apps into Kubernetes objects with cdk8s, in apply order, validated strictly."""

from __future__ import annotations

import atexit
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Protocol, runtime_checkable

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
    parts: dict[str, tuple[Any, list[Any]]] = field(default_factory=dict)
    """Per writer, its :class:`PlannedJobs` context and the result of each instance job."""


@dataclass(frozen=True)
class InstanceJob:
    """A writer's work for one instance, run where the instance's objects are validated (the
    helper process, overlapping the synthesis of the next instances) once they are valid:
    ``function(*arguments, objects)``. The function must live in a module that does not load
    jsii; arguments and result must be picklable."""

    function: Callable[..., Any]
    arguments: tuple[Any, ...]


@dataclass
class PlannedJobs:
    """One job per instance of an app, and what the writer keeps for itself (in this
    process: never sent to the helper)."""

    context: Any
    jobs: list[InstanceJob]


@runtime_checkable
class InstanceJobs(Protocol):
    """A writer that hands per-instance work to the synthesis (the Helm chart does)."""

    name: str

    def instance_jobs(self, app: App) -> PlannedJobs | None:
        """The jobs for ``app`` (None: the writer does everything in ``files``)."""
        ...


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
    """One helper process (spawned: it must not share the jsii kernel's pipes): validation,
    YAML text and the writers' instance jobs run there, in order, while this process
    synthesizes the next instances."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    atexit.register(pool.shutdown, wait=True, cancel_futures=True)
    return pool


def _run(*arguments: Any) -> Future[Any]:
    """check_and_dump here, as a completed future."""
    future: Future[Any] = Future()
    future.set_result(check_and_dump(*arguments))
    return future


def _take_back(results: list[Future[Any]], calls: list[tuple[Any, ...]]) -> None:
    """Once this process has synthesized every instance, the helper is usually behind: run
    the jobs it has not started here, from the last one back, until it reaches them."""
    for index in range(len(results) - 1, -1, -1):
        if not results[index].cancel():
            return
        results[index] = _run(*calls[index])


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


def render_app(
    app: App,
    version: str,
    tick: Callable[[], None] | None = None,
    job_sources: Iterable[InstanceJobs] = (),
) -> RenderedApp:
    """Rules, cdk8s synthesis and strict validation for one app; raises on any error.

    Validation and YAML serialization run in a helper process while cdk8s synthesizes the
    next instance, so the Python-heavy checks overlap the jsii/Node pipeline.
    """
    plans = [plan(instance) for instance in app.instances]
    errors, warnings = instance_problems(app, plans)
    if errors:
        raise UserError(errors)
    # A helper process costs ~0.4 s to start: worth it only for larger apps. It starts now,
    # while the writers plan their instance jobs (the Helm chart probes here).
    pool = _helper_pool() if len(app.instances) >= HELPER_THRESHOLD else None
    warm = pool.submit(check_and_dump, [], version, str(app.source), "") if pool else None
    planned_jobs = {source.name: source.instance_jobs(app) for source in job_sources}
    jobs = {name: found.jobs for name, found in planned_jobs.items() if found is not None}
    if warm is not None:
        warm.result()
    objects: list[dict[str, Any]] = []
    documents: list[str] = []
    results: list[Future[Any]] = []
    calls: list[tuple[Any, ...]] = []
    per_instance: list[list[dict[str, Any]]] = []
    built = build_objects(app.instances, tick, plans)
    for index, (instance, planned, batch) in enumerate(
        zip(app.instances, plans, built, strict=True)
    ):
        objects += batch
        per_instance.append(batch)
        stamped = planned.contribution.stamped
        extra = [(name, job[index].function, job[index].arguments) for name, job in jobs.items()]
        arguments = (batch, version, str(app.source), instance.name, stamped, extra)
        calls.append(arguments)
        results.append(pool.submit(check_and_dump, *arguments) if pool else _run(*arguments))
    _take_back(results, calls)
    done_by: dict[str, list[Any]] = {name: [] for name in jobs}
    for result in results:
        found, texts, done = result.result()
        errors += found
        documents += texts
        for name, value in done.items():
            done_by[name].append(value)
    if errors:
        raise UserError(errors)
    order = sorted(range(len(objects)), key=lambda i: _sort_key(objects[i]))
    return RenderedApp(
        app=app,
        objects=[objects[i] for i in order],
        documents=[documents[i] for i in order],
        warnings=warnings,
        per_instance=per_instance,
        parts={
            name: (found.context, done_by[name])
            for name, found in planned_jobs.items()
            if found is not None
        },
    )
