"""Synthesize apps into Kubernetes objects, in apply order, validated strictly."""

from __future__ import annotations

import atexit
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any, Protocol, runtime_checkable

from constructs_lib.constructs.build import Plan, manifests, plan
from constructs_lib.constructs.package_files import sources
from constructs_lib.errors import Problem, UserError
from constructs_lib.render.helper_process import new_run, start_helper
from constructs_lib.render.layout import file_name
from constructs_lib.render.validate import Jobs, check_and_dump, run_jobs
from constructs_lib.spec import Instance, rules
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
    plans: list[Plan] = field(default_factory=list)
    """Each instance's plan (features and contributions), in the app's order."""


@dataclass(frozen=True)
class InstanceJob:
    """A writer's work for one instance, run after that instance's check when its objects are
    valid: ``function(*arguments, objects)``, in the process that validated them (the
    helper, for larger apps) or taken back by the main process when the helper is behind.
    The function must live in a module that does not load jsii; arguments and result must be
    picklable."""

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

    def instance_jobs(
        self, app: App, objects_of: Callable[[int], list[dict[str, Any]]]
    ) -> PlannedJobs | None:
        """The jobs for ``app``; ``objects_of(i)`` gives the objects of ``app.instances[i]``
        as built (before validation; built when first asked for). None: the writer does
        everything in ``files``."""
        ...


HELPER_THRESHOLD = 8


@cache
def _helper_pool() -> Executor:
    """One helper process (spawned: it must not share the jsii kernel's pipes): validation,
    YAML text and the writers' instance jobs run there, in order, while this process
    synthesizes the next instances."""
    pool = ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start_helper,
        initargs=(os.getpid(),),
    )
    atexit.register(pool.shutdown, wait=True, cancel_futures=True)
    return pool


def _done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


def _take_back(
    futures: list[Future[Any]], here: list[Callable[[], Any]], taken: set[int] | None = None
) -> None:
    """Once this process has synthesized every instance and planned the writers' jobs, the
    helper is usually behind: run the tasks it has not started here (``here[i]`` does the
    work of ``futures[i]``), from the last one back, until it reaches them. ``taken`` holds
    the positions already taken back (done here, out of order): they are passed over."""
    taken = set() if taken is None else taken
    for index in range(len(futures) - 1, -1, -1):
        if index in taken:
            continue
        if not futures[index].cancel():
            return
        taken.add(index)
        futures[index] = _done(here[index]())


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
        found = [*rules.errors(instance), *planned.contribution.errors]
        errors += [p.located(**where) for p in found]
        advised = [*rules.warnings(instance), *planned.contribution.warnings]
        warnings += [p.located(**where) for p in advised]
    return errors, warnings


def collisions(app: App, per_instance: list[list[dict[str, Any]]]) -> list[Problem]:
    """Objects of two instances of the app that share a kind and name (one file of the
    Kustomize tree and the chart, one object in the namespace): whichever output is written,
    one would silently replace the other."""
    owners: dict[str, tuple[str, dict[str, Any]]] = {}
    found: list[Problem] = []
    for index, (instance, objects) in enumerate(zip(app.instances, per_instance, strict=True)):
        for obj in objects:
            key = file_name(obj)
            first = owners.setdefault(key, (instance.name, obj))[0]
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


def build_objects(instances: Iterable[Instance]) -> Iterator[list[dict[str, Any]]]:
    """Each instance's objects, without rules or validation (tests and snapshots)."""
    for instance in instances:
        yield manifests(plan(instance), sources())


class _Tasks:
    """The helper's work for one app, in the order it was asked for: each instance's check
    (validation and YAML text), and after it that instance's writer jobs. Without a helper
    (small apps) everything runs here at once."""

    def __init__(self, pool: Executor | None, jobs: bool = True) -> None:
        self.pool = pool
        self.keep = jobs
        """Whether writer jobs follow the checks (the helper keeps valid objects for them)."""
        self.run = new_run()
        self.futures: list[Future[Any]] = []
        self.here: list[Callable[[], Any]] = []
        self.objects: dict[int, list[dict[str, Any]]] = {}
        self.checks: dict[int, int] = {}
        """Instance index -> position of its check in ``futures``."""
        self.jobs_at: dict[int, tuple[int, Jobs]] = {}
        """Instance index -> position of its jobs in ``futures``, and the jobs."""
        self.taken: set[int] = set()
        """Positions in ``futures`` whose task this process took back and did."""

    def check(
        self,
        index: int,
        objects: list[dict[str, Any]],
        version: str,
        file: str,
        instance: str,
        stamped: list[tuple[str, dict[str, Any]]],
    ) -> None:
        """Validate and dump one instance's objects; the helper keeps valid ones for the jobs."""
        self.objects[index] = objects
        self.checks[index] = len(self.futures)
        arguments = (objects, version, file, instance, stamped)
        keep = (self.run, index) if self.keep else None
        self._add(partial(check_and_dump, *arguments), partial(check_and_dump, *arguments, keep))

    def jobs(self, index: int, jobs: Jobs) -> None:
        """The writers' jobs of instance ``index`` (after its check)."""
        self.jobs_at[index] = (len(self.futures), jobs)
        self._add(partial(self._jobs_here, index, jobs), partial(run_jobs, (self.run, index), jobs))

    def _add(self, here: Callable[[], Any], there: Callable[[], Any]) -> None:
        self.here.append(here)
        if self.pool is None:
            self.futures.append(_done(here()))
        else:
            self.futures.append(self.pool.submit(there))

    def _check_result(self, index: int) -> tuple[list[Problem], list[str]]:
        at = self.checks[index]
        future = self.futures[at]
        if not future.done() and future.cancel():
            self.taken.add(at)
            self.futures[at] = future = _done(self.here[at]())
        result: tuple[list[Problem], list[str]] = future.result()
        return result

    def _jobs_here(self, index: int, jobs: Jobs) -> dict[str, Any]:
        problems, _ = self._check_result(index)
        if problems:
            return {}
        return run_jobs((self.run, index), jobs, self.objects[index]) or {}

    def results(self) -> Iterator[tuple[list[Problem], list[str], dict[str, Any]]]:
        """(problems, texts, job results by writer) of each instance, in instance order."""
        _take_back(self.futures, self.here, self.taken)
        for index in sorted(self.checks):
            problems, texts = self._check_result(index)
            done: dict[str, Any] | None = {}
            if index in self.jobs_at:
                at, jobs = self.jobs_at[index]
                done = self.futures[at].result()
                if done is None:  # the helper did not keep them: checked here
                    done = self._jobs_here(index, jobs)
            yield problems, texts, done or {}


def render_app(
    app: App,
    version: str,
    tick: Callable[[], None] | None = None,
    job_sources: Iterable[InstanceJobs] = (),
) -> RenderedApp:
    """Rules, the build and strict validation for one app; raises on any error.

    Validation and YAML serialization run in a helper process (larger apps) while the next
    instance is built. The writers
    plan their per-instance jobs first (the Helm chart builds and probes the instances it
    needs, while the helper process starts); each instance's jobs then follow its check.
    """
    plans = [plan(instance) for instance in app.instances]
    errors, warnings = instance_problems(app, plans)
    if errors:
        raise UserError(errors)
    # A helper process costs ~0.5 s to start: worth it only for larger apps.
    pool = _helper_pool() if len(app.instances) >= HELPER_THRESHOLD else None
    sources_of_jobs = list(job_sources)
    tasks = _Tasks(pool, jobs=bool(sources_of_jobs))
    built: dict[int, list[dict[str, Any]]] = {}
    source = str(app.source)

    def objects_of(index: int) -> list[dict[str, Any]]:
        if index not in built:
            planned = plans[index]
            built[index] = batch = manifests(planned, sources())
            stamped = planned.contribution.stamped
            tasks.check(index, batch, version, source, app.label(index), stamped)
            if tick:
                tick()
        return built[index]

    planned_jobs = {s.name: s.instance_jobs(app, objects_of) for s in sources_of_jobs}
    jobs = {name: found.jobs for name, found in planned_jobs.items() if found is not None}
    for index in range(len(app.instances)):
        objects_of(index)
        if jobs:
            tasks.jobs(
                index, [(n, job[index].function, job[index].arguments) for n, job in jobs.items()]
            )
    objects: list[dict[str, Any]] = []
    documents: list[str] = []
    done_by: dict[str, list[Any]] = {name: [] for name in jobs}
    for index, (found, texts, done) in enumerate(tasks.results()):
        errors += found
        objects += built[index]
        documents += texts
        for name, value in done.items():
            done_by[name].append(value)
    errors += collisions(app, [built[i] for i in range(len(app.instances))])
    if errors:
        raise UserError(errors)
    order = sorted(range(len(objects)), key=lambda i: _sort_key(objects[i]))
    return RenderedApp(
        app=app,
        objects=[objects[i] for i in order],
        documents=[documents[i] for i in order],
        warnings=warnings,
        per_instance=[built[i] for i in range(len(app.instances))],
        plans=plans,
        parts={
            name: (found.context, done_by[name])
            for name, found in planned_jobs.items()
            if found is not None
        },
    )
