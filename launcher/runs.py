"""Agent runs: start (guarded, idempotent), stream (log lines then the result), status,
cancel and the sweep. All state lives in the API server (the Job, its pod and log, the
agent's Lease, and the Job's watch heartbeat), so any launcher replica — or a restarted
one — serves any run, and any replica may notice that a run's client has gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from launcher.guard import AgentBusy, RunGuard
from launcher.jobs import (
    ANNOTATION_AGENT,
    ANNOTATION_CANCELLED,
    ANNOTATION_MODEL,
    ANNOTATION_REASON,
    ANNOTATION_RETAIN,
    ANNOTATION_RUN,
    ANNOTATION_SESSION,
    ANNOTATION_WATCHED,
    CONTAINER,
    LABEL_RUN,
    LABEL_TEMPLATE,
    MANAGED_BY,
    RunRequest,
    build_job,
    build_run_secret,
    check_allowed,
    job_name,
    label_value,
    output_format,
)
from launcher.kube import ApiError, KubeApi, namespaced
from launcher.opencode import OpenCodeResult
from launcher.pods import RunFailed, exit_code, find_pod, wait_for_pod
from launcher.relay import Cursor, RelayFailed, follow
from launcher.templates import LauncherConfig, OutputFormat
from launcher.views import JobView, PodView, format_time, items, parse_time

log = logging.getLogger("paperclip_launcher.runs")
JOBS = "batch/v1"
Record = dict[str, Any]

__all__ = ["AgentBusy", "JobClash", "Launcher", "RunNotFound", "UnknownTemplate"]


class UnknownTemplate(Exception):
    pass


class RunNotFound(Exception):
    pass


class JobClash(Exception):
    """A Job of the run's name exists but belongs to another (agent, run) pair."""

    def __init__(self, job: str, agent_id: str, run_id: str) -> None:
        self.job = job
        super().__init__(
            f"Job {job} exists but belongs to agent {agent_id!r}, run {run_id!r}; "
            "use another run id"
        )


@dataclass(frozen=True)
class Started:
    run_id: str
    job: str
    reattached: bool


@dataclass(frozen=True)
class Timing:
    """Clocks of the run logic (shortened in tests)."""

    idle: float = 1.0
    """Seconds without log data before the relay checks on the pod and the client."""
    poll: float = 0.5
    """Pod polling interval while a run starts."""
    heartbeat: float = 10.0
    """At most one watch heartbeat patch per stream in this many seconds."""
    finish_wait: float = 30.0
    """How long the result waits for the Job controller to record the outcome."""
    retry: float = 0.2
    """First delay before the relay retries a failed log read (doubling)."""
    max_retry: float = 5.0
    """Longest delay between two log read retries."""


def resumed_session(job: JobView) -> str | None:
    """The OpenCode session the run was started to resume."""
    return job.annotation(ANNOTATION_SESSION) or None


def now() -> datetime:
    return datetime.now(UTC)


class Launcher:
    def __init__(self, kube: KubeApi, config: LauncherConfig, timing: Timing = Timing()) -> None:
        self.kube = kube
        self.config = config
        self.timing = timing
        self.namespace = config.namespace
        self.pull_secrets: list[str] = []
        """Image pull Secrets of agent pods whose template names none."""
        self.guard = RunGuard(
            kube,
            config.namespace,
            config.instance,
            {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "app.kubernetes.io/instance": config.instance,
            },
        )

    @property
    def selector(self) -> str:
        """This launcher's Jobs: its instance's only (another instance may share the
        namespace)."""
        return (
            f"app.kubernetes.io/managed-by={MANAGED_BY},"
            f"app.kubernetes.io/instance={self.config.instance}"
        )

    def _jobs(self, name: str = "") -> str:
        return namespaced(self.namespace, "jobs", name, JOBS)

    async def _run_jobs(self, run_id: str) -> list[JobView]:
        """The Jobs of this instance for ``run_id`` (one, unless agents clashed)."""
        answer = await self.kube.get(
            self._jobs(),
            labelSelector=f"{LABEL_RUN}={label_value(run_id)},{self.selector}",
        )
        return [j for j in map(JobView.of, items(answer)) if j.annotation(ANNOTATION_RUN) == run_id]

    async def find_job(self, run_id: str) -> JobView | None:
        return next(iter(await self._run_jobs(run_id)), None)

    async def _foreign_job(self, request: RunRequest) -> JobView | None:
        """A Job of this instance for the request's run id that belongs to another agent:
        the API addresses runs by run id alone, so a run id names one agent's run only."""
        jobs = await self._run_jobs(request.run_id)
        return next((j for j in jobs if j.annotation(ANNOTATION_AGENT) != request.agent_id), None)

    async def _refuse_foreign(self, request: RunRequest) -> None:
        """Raise JobClash when another agent's Job has the request's run id."""
        foreign = await self._foreign_job(request)
        if foreign is not None:
            raise JobClash(
                foreign.name,
                foreign.annotation(ANNOTATION_AGENT),
                foreign.annotation(ANNOTATION_RUN),
            )

    async def _run_state(self, run_id: str) -> str:
        """ "missing" (no Job), "finished" (or being deleted) or "active"."""
        job = await self.find_job(run_id)
        if job is None:
            return "missing"
        if job.finished is not None or job.meta.deleting:
            return "finished"
        return "active"

    async def inherit_pull_secrets(self, pod_name: str | None) -> list[str]:
        """Take the image pull Secrets of the launcher's own pod (the generated Deployment
        gives it the server's image.pullSecrets) for agent pods whose template names none.
        Without a pod name (a launcher outside a pod) or when the pod cannot be read: none."""
        if not pod_name:
            return []
        try:
            pod = await self.kube.get(namespaced(self.namespace, "pods", pod_name))
        except ApiError as exc:
            log.warning(
                "cannot read the launcher's own pod; agent pods get no inherited imagePullSecrets",
                extra={"pod": pod_name, "status": exc.status},
            )
            return []
        secrets = (pod.get("spec") or {}).get("imagePullSecrets") or []
        self.pull_secrets = [s["name"] for s in secrets if isinstance(s, dict) and s.get("name")]
        return self.pull_secrets

    async def check_access(self) -> None:
        """A cheap call the launcher needs to be allowed (raises ApiError when not)."""
        await self.kube.get(self._jobs(), limit="1")

    # -- start -----------------------------------------------------------------------

    async def start(self, request: RunRequest) -> Started:
        """Start the run (or find it started); raises UnknownTemplate, RunRefused (what the
        template does not allow), AgentBusy or JobClash.

        A run id names one agent's run: a start whose run id another agent's Job of this
        instance has (running or finished, until the Job is gone) is refused (JobClash), since
        status, log and cancel address a run by its id alone.

        Idempotent per run id: a repeated start adopts the run's Job and makes sure it has
        its run Secret. A start that fails after taking the agent's Lease (an API error,
        perhaps after the API server did create the Job or the Secret: the answer can be
        lost) deletes the run's Job before it releases the Lease; when the Job cannot be
        deleted the Lease stays with the run, so no other run of the agent starts (a retry
        of this run completes it; the sweep cancels the Job if nobody streams it)."""
        template = self.config.templates.get(request.template)
        if template is None:
            raise UnknownTemplate(request.template)
        check_allowed(template, request)
        await self._refuse_foreign(request)
        claim = await self.guard.acquire(request.agent_id, request.run_id, self._run_state)
        try:
            started = await self._start(request, claim.reattach)
        except BaseException:
            if not claim.reattach:
                await self._abandon(request)
            raise
        log.info(
            "run started",
            extra={
                "run": request.run_id,
                "agent": request.agent_id,
                "job": started.job,
                "template": request.template,
            },
        )
        return started

    async def _start(self, request: RunRequest, reattach: bool) -> Started:
        if reattach:
            existing = await self.find_job(request.run_id)
            if existing is not None:
                await self._ensure_run_secret(request, existing)
                return Started(request.run_id, existing.name, True)
        job = await self._create_job(request)
        # Two agents' starts of one run id at once both pass the check before the Lease:
        # each sees the other's Job now, and each deletes its own (start's cleanup).
        await self._refuse_foreign(request)
        await self._ensure_run_secret(request, job)
        return Started(request.run_id, job.name, reattach)

    async def _create_job(self, request: RunRequest) -> JobView:
        """The run's Job: created, or adopted when it exists already (a retry after a lost
        answer); raises JobClash when its name belongs to another run."""
        body = build_job(self.config, request, self.pull_secrets, nonce=secrets.token_hex(5))
        body["metadata"]["annotations"][ANNOTATION_WATCHED] = format_time(now())
        name: str = body["metadata"]["name"]
        try:
            return JobView.of(await self.kube.create(self._jobs(), body))
        except ApiError as exc:
            if exc.status != 409:
                raise
        found = JobView.of(await self.kube.get(self._jobs(name)))
        owner = (found.annotation(ANNOTATION_AGENT), found.annotation(ANNOTATION_RUN))
        if owner != (request.agent_id, request.run_id):
            raise JobClash(name, *owner)
        return found

    async def _ensure_run_secret(self, request: RunRequest, job: JobView) -> None:
        try:
            await self.kube.create(
                namespaced(self.namespace, "secrets"), build_run_secret(self.config, request, job)
            )
        except ApiError as exc:
            if exc.status != 409:
                raise

    async def _abandon(self, request: RunRequest) -> None:
        """After a failed start that took the Lease: delete the run's Job if it exists (only
        that very Job, never another run's of the same name), then release the Lease. The
        Lease stays with the run when either cannot be done."""
        name = job_name(request.agent_id, request.run_id)
        where = {"run": request.run_id, "agent": request.agent_id, "job": name}
        try:
            try:
                found = JobView.of(await self.kube.get(self._jobs(name)))
            except ApiError as exc:
                if exc.status != 404:
                    raise
            else:
                owner = (found.annotation(ANNOTATION_AGENT), found.annotation(ANNOTATION_RUN))
                if owner == (request.agent_id, request.run_id):
                    await self._delete_job(name, found.meta.uid)
            await self.guard.release(request.agent_id, request.run_id)
        except ApiError as exc:
            log.warning(
                "a failed start could not be cleaned up; the agent's Lease stays with the run",
                extra={**where, "status": exc.status, "reason": exc.reason},
            )

    async def _delete_job(self, name: str, uid: str) -> None:
        """Delete that very Job (gone already, or its name taken by a new one: done)."""
        try:
            await self.kube.delete(self._jobs(name), propagation="Background", uid=uid)
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise

    # -- stream ----------------------------------------------------------------------

    async def heartbeat(self, job: str) -> None:
        """Record that a client watches the run (read by every replica's sweep)."""
        with contextlib.suppress(ApiError):
            await self.kube.patch(
                self._jobs(job),
                {"metadata": {"annotations": {ANNOTATION_WATCHED: format_time(now())}}},
            )

    async def stream(
        self, run_id: str, after: str | None = None
    ) -> AsyncGenerator[list[Record], None]:
        """Batches of log records {"type": "line", "cursor", "text"}, then a batch holding
        the one {"type": "result"} record. An empty batch is an idle tick (check on the
        client; close the generator when it has gone). While the generator is open, the
        Job's watch heartbeat is kept fresh. ``after`` must be a cursor this launcher wrote
        (ValueError otherwise)."""
        cursor = Cursor.decode(after)
        job = await self.find_job(run_id)
        if job is None:
            raise RunNotFound(run_id)
        if job.annotation(ANNOTATION_CANCELLED):
            yield [await self._finish(job, None, cancelled=True)]
            return
        beat = asyncio.ensure_future(self._keep_watched(job.name))
        try:
            async for batch in self._records(job, cursor):
                yield batch
        finally:
            beat.cancel()

    async def _keep_watched(self, job: str) -> None:
        while True:
            await self.heartbeat(job)
            await asyncio.sleep(self.timing.heartbeat)

    async def _records(self, job: JobView, cursor: Cursor) -> AsyncIterator[list[Record]]:
        name = job.name

        async def job_failed() -> str | None:
            current = await self._job(name)
            if current is None:
                return "job_deleted"
            finished = current.finished
            return finished[1] or finished[0] if finished and finished[0] == "Failed" else None

        waiting = asyncio.ensure_future(
            wait_for_pod(
                self.kube,
                self.namespace,
                name,
                pending_timeout=self.config.pending_timeout_seconds,
                job_failed=job_failed,
                interval=self.timing.poll,
            )
        )
        try:
            while not waiting.done():
                await asyncio.wait({waiting}, timeout=self.timing.idle)
                if not waiting.done():
                    yield []
            pod = waiting.result()
        except RunFailed as failed:
            yield [await self._finish(job, None, failure=failed)]
            return
        except ApiError as exc:
            yield [self._unavailable(job, "api_error", f"cannot watch the run's pod: {exc}")]
            return
        finally:
            waiting.cancel()
        last = {"pod": pod}

        async def is_terminated() -> bool:
            try:
                last["pod"] = PodView.of(
                    await self.kube.get(namespaced(self.namespace, "pods", pod.name))
                )
            except ApiError as exc:
                if exc.status == 404:
                    return True
                raise
            return exit_code(last["pod"]) is not None

        try:
            async for lines in follow(
                self.kube,
                self.namespace,
                pod.name,
                after=cursor,
                is_terminated=is_terminated,
                idle=self.timing.idle,
                first_backoff=self.timing.retry,
                max_backoff=self.timing.max_retry,
            ):
                yield [
                    {"type": "line", "cursor": line.cursor.encode(), "text": line.text}
                    for line in lines
                ]
        except RelayFailed as failed:
            yield [self._unavailable(job, failed.reason, failed.message)]
            return
        yield [await self._finish(job, last["pod"])]

    def _unavailable(self, job: JobView, code: str, message: str) -> Record:
        """The result when the launcher cannot follow the run: the run itself may go on
        (its Lease stays); the client ends, and a run nobody watches is cancelled."""
        log.warning("cannot relay the run", extra={"job": job.name, "reason": code})
        return {
            "type": "result",
            "runId": job.annotation(ANNOTATION_RUN),
            "job": job.name,
            "timedOut": False,
            "cancelled": False,
            "exitCode": 1,
            "errorCode": code,
            "errorMessage": message,
        }

    async def _job(self, name: str) -> JobView | None:
        try:
            return JobView.of(await self.kube.get(self._jobs(name)))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def _finish(
        self,
        job: JobView,
        pod: PodView | None,
        *,
        failure: RunFailed | None = None,
        cancelled: bool = False,
    ) -> Record:
        """The result record; releases the agent's Lease."""
        name = job.name
        result: Record = {
            "type": "result",
            "runId": job.annotation(ANNOTATION_RUN),
            "job": name,
            "timedOut": False,
            "cancelled": cancelled,
        }
        code = exit_code(pod) if pod else None
        current = await self._job(name)
        if failure is None and not cancelled:
            # the Job controller records the outcome shortly after the pod ends
            deadline = asyncio.get_running_loop().time() + self.timing.finish_wait
            while current is not None and current.finished is None:
                if asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(self.timing.poll)
                current = await self._job(name)
        finished = current.finished if current else None
        if current is not None and current.annotation(ANNOTATION_CANCELLED):
            cancelled = result["cancelled"] = True
        # The Job's deadline can pass before its pod starts (a slow image pull), or the
        # Job controller may have removed a timed-out pod before the stream came: a timeout.
        reasons = (failure.reason if failure else None, finished[1] if finished else None)
        timed_out = "DeadlineExceeded" in reasons
        if failure is not None and not timed_out:
            result.update(exitCode=1, errorCode=failure.reason, errorMessage=failure.message)
        elif cancelled or (current is None and code is None and not timed_out):
            result.update(exitCode=143, errorCode="cancelled", errorMessage="the run was cancelled")
            result["cancelled"] = True
        elif timed_out:
            result.update(
                exitCode=124,
                timedOut=True,
                errorCode="timeout",
                errorMessage="the run exceeded its timeout",
            )
        else:
            result["exitCode"] = 1 if code is None else code
            if result["exitCode"] != 0:
                result.update(
                    errorCode="exit_code",
                    errorMessage=f"the agent exited with code {result['exitCode']}",
                )
        model = job.annotation(ANNOTATION_MODEL)
        if model:
            result["model"] = model
            result["provider"] = model.split("/", 1)[0] if "/" in model else None
        if output_format(job) is OutputFormat.OPENCODE and pod is not None:
            parsed = await self._parse_opencode(pod)
            if parsed is not None:
                record = parsed.to_record(result["exitCode"], resumed_session(job))
                session_error = record.get("errorCode") == "session_unavailable"
                keep = ("errorCode", "errorMessage") if not session_error else ()
                result.update(
                    {
                        k: v
                        for k, v in record.items()
                        if k != "exitCode" and not (k in keep and result.get(k))
                    }
                )
                if session_error or result.get("errorCode") in (None, "exit_code"):
                    result["exitCode"] = record["exitCode"]
                    if session_error and result["exitCode"] == 0:
                        result["exitCode"] = 1
        await self.guard.release(job.annotation(ANNOTATION_AGENT), job.annotation(ANNOTATION_RUN))
        return result

    async def _parse_opencode(self, pod: PodView) -> OpenCodeResult | None:
        path = namespaced(self.namespace, "pods", pod.name) + "/log"
        try:
            text = await self.kube.text(path, {"container": CONTAINER})
        except ApiError:
            return None
        parsed = OpenCodeResult()
        for line in text.splitlines():
            parsed.feed(line)
        parsed.feed_text(text)
        return parsed

    # -- status and cancel -----------------------------------------------------------

    async def status(self, run_id: str) -> Record:
        job = await self.find_job(run_id)
        if job is None:
            raise RunNotFound(run_id)
        pod = await find_pod(self.kube, self.namespace, job.name)
        finished = job.finished
        state = (
            "finished" if finished else ("running" if pod and pod.phase == "Running" else "pending")
        )
        answer: Record = {"runId": run_id, "job": job.name, "state": state}
        if finished:
            answer["condition"], answer["reason"] = finished
            code = exit_code(pod) if pod else None
            if code is not None:
                answer["exitCode"] = code
        return answer

    async def cancel(
        self, run_id: str, *, job: JobView | None = None, reason: str = "requested"
    ) -> Record:
        """Mark the Job cancelled, then delete it (background) unless its template retains
        Jobs; release the agent's Lease.

        With ``job`` (as the caller read it) the mark is conditional on that Job's
        resourceVersion: when the Job has changed since (a heartbeat, another replica's
        cancel) nothing is done and the answer says ``"cancelled": False``."""
        if job is None:
            job = await self.find_job(run_id)
            if job is None:
                raise RunNotFound(run_id)
            precondition: dict[str, str] = {}
        else:
            precondition = {"resourceVersion": job.meta.resource_version}
        name = job.name
        template = self.config.templates.get(job.meta.labels.get(LABEL_TEMPLATE, ""))
        retain = (template is not None and template.retain) or job.annotation(
            ANNOTATION_RETAIN
        ) == "true"
        # A retained Job is suspended (its pod goes, the Job stays for inspection).
        try:
            await self.kube.patch(
                self._jobs(name),
                {
                    "metadata": {
                        **precondition,
                        "annotations": {ANNOTATION_CANCELLED: "true", ANNOTATION_REASON: reason},
                    },
                    **({"spec": {"suspend": True}} if retain else {}),
                },
            )
        except ApiError as exc:
            if exc.status == 409 and precondition:
                return {"runId": run_id, "job": name, "cancelled": False}
            if exc.status == 404:
                raise RunNotFound(run_id) from None
            raise
        if not retain:
            try:
                await self.kube.delete(self._jobs(name), propagation="Background")
            except ApiError as exc:
                if exc.status != 404:
                    raise
        await self.guard.release(job.annotation(ANNOTATION_AGENT), run_id)
        log.info("run cancelled", extra={"run": run_id, "job": name, "reason": reason})
        return {"runId": run_id, "job": name, "cancelled": True}

    async def sweep(self, unwatched_after: float | None) -> tuple[int, int]:
        """One pass over this launcher's Jobs, by any replica: release the Leases of runs
        that finished with nobody streaming them (also what picks runs up again after a
        launcher restart), and, when ``unwatched_after`` is set, cancel active runs whose
        watch heartbeat is older than that many seconds. A cancel is conditional on the
        Job not having changed since it was read, so of several replicas noticing at once
        exactly one cancels, and a heartbeat that lands first saves the run.
        Returns (released, cancelled)."""
        answer = await self.kube.get(self._jobs(), labelSelector=self.selector)
        released = cancelled = 0
        moment = now()
        for job in map(JobView.of, items(answer)):
            run_id = job.annotation(ANNOTATION_RUN)
            if job.finished is not None:
                await self.guard.release(job.annotation(ANNOTATION_AGENT), run_id)
                released += 1
                continue
            if unwatched_after is None or job.meta.deleting or job.annotation(ANNOTATION_CANCELLED):
                continue
            watched = parse_time(job.annotation(ANNOTATION_WATCHED)) or job.meta.creation
            if watched is None or (moment - watched).total_seconds() <= unwatched_after:
                continue
            answer = await self.cancel(run_id, job=job, reason="client-gone")
            if answer["cancelled"]:
                cancelled += 1
                log.info(
                    "client gone; cancelled its run",
                    extra={"run": run_id, "job": job.name, "watched": format_time(watched)},
                )
        return released, cancelled

    async def release_finished(self) -> int:
        """Release the Leases of finished runs (see :meth:`sweep`)."""
        return (await self.sweep(None))[0]
