"""Wait for a run's pod, failing fast with a clear reason when it cannot start."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from launcher.jobs import CONTAINER
from launcher.kube import KubeApi, namespaced
from launcher.views import PodView, items

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


def exit_code(pod: PodView) -> int | None:
    """The agent container's exit code once it has terminated (None while it runs)."""
    status = pod.container(CONTAINER)
    if status is not None and status.terminated:
        return status.exit_code if status.exit_code is not None else 1
    if pod.phase in ("Succeeded", "Failed"):
        return 0 if pod.phase == "Succeeded" else 1
    return None


def started(pod: PodView) -> bool:
    if pod.phase in ("Running", "Succeeded", "Failed"):
        return True
    status = pod.container(CONTAINER)
    return bool(status and (status.running or status.terminated))


def failure(pod: PodView, pending_for: float) -> RunFailed | None:
    """Why this pod cannot start, if it cannot."""
    for init in pod.init_containers:
        if init.terminated and init.exit_code not in (0, None):
            return RunFailed(
                "init_container_failed",
                f"init container {init.name} exited with {init.exit_code}",
            )
    for item in pod.init_containers + pod.containers:
        reason = item.waiting_reason
        detail = item.waiting_message or reason
        if reason in FATAL_WAITING:
            return RunFailed(reason, f"{FATAL_WAITING[reason]} ({item.name}): {detail}")
        if reason in SLOW_WAITING and pending_for > SLOW_GRACE_SECONDS:
            return RunFailed(reason, f"{SLOW_WAITING[reason]} ({item.name}): {detail}")
    for kind, status, reason, message in pod.conditions:
        if kind == "PodScheduled" and status == "False" and reason == "Unschedulable":
            volume = any(w in message.lower() for w in ("pvc", "volume", "bind", "mount"))
            return RunFailed(
                "unschedulable",
                ("volume could not be bound: " if volume else "pod unschedulable: ") + message,
            )
    return None


async def find_pod(kube: KubeApi, namespace: str, job: str) -> PodView | None:
    answer = await kube.get(
        job_pods_path(namespace), labelSelector=f"batch.kubernetes.io/job-name={job}"
    )
    pods = [p for p in map(PodView.of, items(answer)) if not p.meta.deleting]
    pods.sort(key=lambda p: p.meta.creation.isoformat() if p.meta.creation else "")
    return pods[-1] if pods else None


async def mount_failure(kube: KubeApi, namespace: str, pod: str) -> RunFailed | None:
    events = await kube.get(
        namespaced(namespace, "events"),
        fieldSelector=f"involvedObject.kind=Pod,involvedObject.name={pod}",
    )
    for event in items(events):
        reason = event.get("reason") if isinstance(event, dict) else None
        if reason in MOUNT_EVENT_REASONS:
            message = event.get("message")
            return RunFailed("mount_failed", message if isinstance(message, str) else reason)
    return None


async def wait_for_pod(
    kube: KubeApi,
    namespace: str,
    job: str,
    *,
    pending_timeout: float,
    job_failed: Callable[[], Awaitable[str | None]],
    interval: float = 0.5,
) -> PodView:
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
                problem = await mount_failure(kube, namespace, pod.name)
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
