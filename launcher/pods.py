"""Wait for a run's pod, failing fast with a clear reason when it cannot start."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from launcher.jobs import CONTAINER
from launcher.kube import Kube, namespaced

FATAL_WAITING = {
    "ErrImagePull": "image pull failed",
    "ImagePullBackOff": "image pull failed",
    "InvalidImageName": "invalid image name",
    "CrashLoopBackOff": "container crash loop",
    "CreateContainerError": "container could not be created",
    "RunContainerError": "container could not be started",
}
# Transient at first (the per-run Secret is created right after the Job); fatal if it lasts.
SLOW_WAITING = {"CreateContainerConfigError": "container configuration error"}
SLOW_GRACE_SECONDS = 20.0
MOUNT_EVENT_REASONS = {"FailedMount", "FailedAttachVolume"}


class RunFailed(Exception):
    """The run could not start or finish; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


def job_pods_path(namespace: str) -> str:
    return namespaced(namespace, "pods")


def container_status(pod: dict[str, Any], name: str = CONTAINER) -> dict[str, Any] | None:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == name:
            return dict(status)
    return None


def terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    """The agent container's terminated state, once it has one."""
    status = container_status(pod)
    if status and status.get("state", {}).get("terminated"):
        return dict(status["state"]["terminated"])
    if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
        return {"exitCode": 0 if pod["status"]["phase"] == "Succeeded" else 1}
    return None


def started(pod: dict[str, Any]) -> bool:
    phase = pod.get("status", {}).get("phase")
    if phase in ("Running", "Succeeded", "Failed"):
        return True
    status = container_status(pod)
    return bool(
        status and ("running" in status.get("state", {}) or "terminated" in status.get("state", {}))
    )


def failure(pod: dict[str, Any], pending_for: float) -> RunFailed | None:
    """Why this pod cannot start, if it cannot."""
    status = pod.get("status", {})
    for init in status.get("initContainerStatuses") or []:
        done = init.get("state", {}).get("terminated")
        if done and done.get("exitCode", 0) != 0:
            return RunFailed(
                "init_container_failed",
                f"init container {init['name']} exited with {done['exitCode']}",
            )
    for item in (status.get("initContainerStatuses") or []) + (
        status.get("containerStatuses") or []
    ):
        waiting = item.get("state", {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        detail = waiting.get("message") or reason
        if reason in FATAL_WAITING:
            return RunFailed(reason, f"{FATAL_WAITING[reason]} ({item['name']}): {detail}")
        if reason in SLOW_WAITING and pending_for > SLOW_GRACE_SECONDS:
            return RunFailed(reason, f"{SLOW_WAITING[reason]} ({item['name']}): {detail}")
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            message = condition.get("message", "")
            volume = any(w in message.lower() for w in ("pvc", "volume", "bind", "mount"))
            return RunFailed(
                "unschedulable",
                ("volume could not be bound: " if volume else "pod unschedulable: ") + message,
            )
    return None


async def find_pod(kube: Kube, namespace: str, job: str) -> dict[str, Any] | None:
    answer = await kube.get(
        job_pods_path(namespace), labelSelector=f"batch.kubernetes.io/job-name={job}"
    )
    pods = [p for p in answer.get("items", []) if not p["metadata"].get("deletionTimestamp")]
    pods.sort(key=lambda p: p["metadata"].get("creationTimestamp", ""))
    return pods[-1] if pods else None


async def mount_failure(kube: Kube, namespace: str, pod: str) -> RunFailed | None:
    events = await kube.get(
        namespaced(namespace, "events"),
        fieldSelector=f"involvedObject.kind=Pod,involvedObject.name={pod}",
    )
    for event in events.get("items", []):
        if event.get("reason") in MOUNT_EVENT_REASONS:
            return RunFailed("mount_failed", event.get("message", event["reason"]))
    return None


async def wait_for_pod(
    kube: Kube,
    namespace: str,
    job: str,
    *,
    pending_timeout: float,
    job_failed: Any,
    interval: float = 0.5,
) -> dict[str, Any]:
    """The run's pod once its agent container runs (or already ended)."""
    begin = time.monotonic()
    polls = 0
    while True:
        pending_for = time.monotonic() - begin
        pod = await find_pod(kube, namespace, job)
        if pod is not None:
            if started(pod):
                return pod
            problem = failure(pod, pending_for)
            if problem is None and polls % 4 == 3:
                problem = await mount_failure(kube, namespace, pod["metadata"]["name"])
            if problem:
                raise problem
        else:
            reason = await job_failed()
            if reason:
                raise RunFailed(reason, f"the Job failed before its pod started ({reason})")
        if pending_for > pending_timeout:
            raise RunFailed(
                "pending_timeout", f"the pod did not start within {pending_timeout:.0f}s"
            )
        polls += 1
        await asyncio.sleep(interval)
