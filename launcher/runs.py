"""Agent runs: start (guarded, idempotent), stream (log lines then the result), status and
cancel. All state lives in the API server (the Job, its pod and log, the agent's Lease), so
any launcher replica — or a restarted one — serves any run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from launcher.guard import AgentBusy, RunGuard
from launcher.jobs import (
    ANNOTATION_AGENT,
    ANNOTATION_CANCELLED,
    ANNOTATION_RUN,
    LABEL_RUN,
    MANAGED_BY,
    RunRequest,
    build_job,
    build_run_secret,
    label_value,
    output_format,
)
from launcher.kube import ApiError, Kube, namespaced
from launcher.opencode import OpenCodeResult
from launcher.pods import RunFailed, find_pod, terminated, wait_for_pod
from launcher.relay import Cursor, follow
from launcher.templates import LauncherConfig, OutputFormat

log = logging.getLogger("paperclip_launcher.runs")
JOBS = "batch/v1"

__all__ = ["AgentBusy", "Launcher", "RunNotFound", "UnknownTemplate"]


class UnknownTemplate(Exception):
    pass


class RunNotFound(Exception):
    pass


@dataclass(frozen=True)
class Started:
    run_id: str
    job: str
    reattached: bool


def job_condition(job: dict[str, Any]) -> tuple[str, str] | None:
    """("Complete" | "Failed", reason) once the Job has finished."""
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition["type"], condition.get("reason", "")
    return None


class Launcher:
    def __init__(self, kube: Kube, config: LauncherConfig) -> None:
        self.kube = kube
        self.config = config
        self.namespace = config.namespace
        self.guard = RunGuard(
            kube,
            config.namespace,
            {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "app.kubernetes.io/instance": config.instance,
            },
        )

    def _jobs(self, name: str = "") -> str:
        return namespaced(self.namespace, "jobs", name, JOBS)

    async def find_job(self, run_id: str) -> dict[str, Any] | None:
        answer = await self.kube.get(
            self._jobs(),
            labelSelector=f"{LABEL_RUN}={label_value(run_id)},"
            f"app.kubernetes.io/managed-by={MANAGED_BY}",
        )
        for job in answer.get("items", []):
            if job["metadata"].get("annotations", {}).get(ANNOTATION_RUN) == run_id:
                return dict(job)
        return None

    async def _run_state(self, run_id: str) -> str:
        """ "missing" (no Job), "finished" (or being deleted) or "active"."""
        job = await self.find_job(run_id)
        if job is None:
            return "missing"
        if job_condition(job) is not None or job["metadata"].get("deletionTimestamp"):
            return "finished"
        return "active"

    # -- start -----------------------------------------------------------------------

    async def start(self, request: RunRequest) -> Started:
        if request.template not in self.config.templates:
            raise UnknownTemplate(request.template)
        claim = await self.guard.acquire(request.agent_id, request.run_id, self._run_state)
        try:
            if claim.reattach:
                existing = await self.find_job(request.run_id)
                if existing is not None:
                    return Started(request.run_id, existing["metadata"]["name"], True)
            if request.session_id is None and claim.last_session_id:
                request = request.model_copy(update={"session_id": claim.last_session_id})
            job = build_job(self.config, request)
            try:
                created = await self.kube.create(self._jobs(), job)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                created = await self.kube.get(self._jobs(job["metadata"]["name"]))
            job["metadata"]["uid"] = created["metadata"]["uid"]
            try:
                await self.kube.create(
                    namespaced(self.namespace, "secrets"),
                    build_run_secret(self.config, request, job),
                )
            except ApiError as exc:
                if exc.status != 409:
                    raise
        except BaseException:
            if not claim.reattach:
                await self.guard.release(request.agent_id, request.run_id)
            raise
        log.info(
            "run started",
            extra={
                "run": request.run_id,
                "agent": request.agent_id,
                "job": job["metadata"]["name"],
                "template": request.template,
            },
        )
        return Started(request.run_id, job["metadata"]["name"], claim.reattach)

    # -- stream ----------------------------------------------------------------------

    async def stream(
        self, run_id: str, after: str | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Batches of log records {"type": "line", "cursor", "text"}, then a batch holding
        the one {"type": "result"} record."""
        job = await self.find_job(run_id)
        if job is None:
            raise RunNotFound(run_id)
        name = job["metadata"]["name"]
        retained = (job["metadata"].get("annotations") or {}).get(ANNOTATION_CANCELLED)
        if retained:
            yield [await self._finish(job, None, cancelled=True)]
            return

        async def job_failed() -> str | None:
            current = await self._job(name)
            if current is None:
                return "job_deleted"
            finished = job_condition(current)
            return finished[1] or finished[0] if finished and finished[0] == "Failed" else None

        try:
            pod = await wait_for_pod(
                self.kube,
                self.namespace,
                name,
                pending_timeout=self.config.pending_timeout_seconds,
                job_failed=job_failed,
            )
        except RunFailed as failed:
            yield [await self._finish(job, None, failure=failed)]
            return
        pod_name = pod["metadata"]["name"]
        last: dict[str, Any] = {"pod": pod}

        async def is_terminated() -> bool:
            try:
                last["pod"] = await self.kube.get(namespaced(self.namespace, "pods", pod_name))
            except ApiError as exc:
                if exc.status == 404:
                    return True
                raise
            return terminated(last["pod"]) is not None

        async for lines in follow(
            self.kube,
            self.namespace,
            pod_name,
            after=Cursor.decode(after),
            is_terminated=is_terminated,
        ):
            yield [
                {"type": "line", "cursor": line.cursor.encode(), "text": line.text}
                for line in lines
            ]
        yield [await self._finish(job, last["pod"])]

    async def _job(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(await self.kube.get(self._jobs(name)))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def _finish(
        self,
        job: dict[str, Any],
        pod: dict[str, Any] | None,
        *,
        failure: RunFailed | None = None,
        cancelled: bool = False,
    ) -> dict[str, Any]:
        """The result record; releases the agent's Lease."""
        meta = job["metadata"]
        name = meta["name"]
        annotations = meta.get("annotations") or {}
        result: dict[str, Any] = {
            "type": "result",
            "runId": annotations.get(ANNOTATION_RUN),
            "job": name,
            "timedOut": False,
            "cancelled": cancelled,
        }
        state = terminated(pod) if pod else None
        current = await self._job(name)
        if failure is None and not cancelled:
            for _ in range(60):  # the Job controller records the outcome shortly after
                if current is None or job_condition(current) is not None:
                    break
                await asyncio.sleep(0.5)
                current = await self._job(name)
        finished = job_condition(current) if current else None
        if current is not None and (current["metadata"].get("annotations") or {}).get(
            ANNOTATION_CANCELLED
        ):
            cancelled = result["cancelled"] = True
        if failure is not None:
            result.update(exitCode=1, errorCode=failure.reason, errorMessage=failure.message)
        elif cancelled or (current is None and state is None):
            result.update(exitCode=143, errorCode="cancelled", errorMessage="the run was cancelled")
            result["cancelled"] = True
        elif finished and finished[1] == "DeadlineExceeded":
            result.update(
                exitCode=124,
                timedOut=True,
                errorCode="timeout",
                errorMessage="the run exceeded its timeout",
            )
        else:
            code = int((state or {}).get("exitCode", 1))
            result["exitCode"] = code
            if code != 0:
                result.update(
                    errorCode="exit_code", errorMessage=f"the agent exited with code {code}"
                )
        session = None
        if output_format(job) is OutputFormat.OPENCODE and pod is not None:
            parsed = await self._parse_opencode(pod)
            if parsed is not None:
                record = parsed.to_record(result["exitCode"])
                result.update({k: v for k, v in record.items() if k != "exitCode"})
                if not result.get("errorCode") or result["errorCode"] == "exit_code":
                    result["exitCode"] = record["exitCode"]
                session = None if parsed.clear_session else parsed.session_id
        await self.guard.release(
            annotations.get(ANNOTATION_AGENT, ""), annotations.get(ANNOTATION_RUN, ""), session
        )
        return result

    async def _parse_opencode(self, pod: dict[str, Any]) -> OpenCodeResult | None:
        path = namespaced(self.namespace, "pods", pod["metadata"]["name"]) + "/log"
        try:
            text = await self.kube.request("GET", path, params={"container": "agent"})
        except ApiError:
            return None
        parsed = OpenCodeResult()
        for line in str(text).splitlines():
            parsed.feed(line)
        return parsed

    # -- status and cancel -----------------------------------------------------------

    async def status(self, run_id: str) -> dict[str, Any]:
        job = await self.find_job(run_id)
        if job is None:
            raise RunNotFound(run_id)
        pod = await find_pod(self.kube, self.namespace, job["metadata"]["name"])
        finished = job_condition(job)
        state = (
            "finished"
            if finished
            else (
                "running" if pod and pod.get("status", {}).get("phase") == "Running" else "pending"
            )
        )
        answer: dict[str, Any] = {"runId": run_id, "job": job["metadata"]["name"], "state": state}
        if finished:
            answer["condition"], answer["reason"] = finished
            ended = terminated(pod) if pod else None
            if ended:
                answer["exitCode"] = ended.get("exitCode")
        return answer

    async def cancel(self, run_id: str) -> dict[str, Any]:
        """Mark the Job cancelled, then delete it (background) unless its template retains
        Jobs; release the agent's Lease."""
        job = await self.find_job(run_id)
        if job is None:
            raise RunNotFound(run_id)
        name = job["metadata"]["name"]
        template = self.config.templates.get(
            job["metadata"]["labels"].get("paperclip.io/template", "")
        )
        retain = template is not None and template.retain
        # A retained Job is suspended (its pod goes, the Job stays for inspection).
        await self.kube.patch(
            self._jobs(name),
            {
                "metadata": {"annotations": {ANNOTATION_CANCELLED: "true"}},
                **({"spec": {"suspend": True}} if retain else {}),
            },
        )
        if not retain:
            try:
                await self.kube.delete(self._jobs(name), propagation="Background")
            except ApiError as exc:
                if exc.status != 404:
                    raise
        annotations = job["metadata"].get("annotations") or {}
        await self.guard.release(annotations.get(ANNOTATION_AGENT, ""), run_id)
        log.info("run cancelled", extra={"run": run_id, "job": name})
        return {"runId": run_id, "job": name, "cancelled": True}

    async def release_finished(self) -> int:
        """Release the Leases of runs that finished with nobody streaming them (the
        reaper: also what picks runs up again after a launcher restart)."""
        answer = await self.kube.get(
            self._jobs(), labelSelector=f"app.kubernetes.io/managed-by={MANAGED_BY}"
        )
        released = 0
        for job in answer.get("items", []):
            if job_condition(job) is None:
                continue
            annotations = job["metadata"].get("annotations") or {}
            await self.guard.release(
                annotations.get(ANNOTATION_AGENT, ""), annotations.get(ANNOTATION_RUN, "")
            )
            released += 1
        return released
