"""An in-memory stand-in for the small Kubernetes interface the launcher uses (:class:`KubeApi`).

It keeps Jobs, Pods, Secrets, Leases and Events by namespace, with the API server's rules
the launcher relies on: create answers 409 when the name exists, update and merge patch
answer 409 when a given resourceVersion is stale, deletes answer 404 for a missing object.
A created Job gets a running pod (as the Job controller and a kubelet would); tests append
log lines, end pods, cut open log streams and inject API errors. For unit tests of the run
logic that must run in milliseconds; the control-plane tests remain the proof.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from launcher.kube import ApiError

Fault = Callable[[str, str], ApiError | None]
"""(method, path) -> an error to answer instead, or None."""


@dataclass
class _Log:
    lines: list[tuple[str, str]] = field(default_factory=list)
    """(RFC 3339 nano timestamp, text)."""


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _selected(obj: dict[str, Any], selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class FakeKube:
    """See the module docstring. ``clock`` is the wall clock of the fake's timestamps."""

    def __init__(self, *, auto_pods: bool = True) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        """(namespace, resource, name) -> object."""
        self.logs: dict[tuple[str, str], _Log] = {}
        self.calls: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.lost_replies: list[Fault] = []
        self.auto_pods = auto_pods
        self._versions = itertools.count(1)
        self._uids = itertools.count(1)
        self._cut = 0
        self._log_clock = datetime(2026, 1, 1, tzinfo=UTC)
        self.open_streams = 0

    # -- helpers for tests -----------------------------------------------------------

    @staticmethod
    def parse(path: str) -> tuple[str, str, str, str]:
        """(namespace, resource, name, subresource) of an API path."""
        parts = path.strip("/").split("/")
        start = 2 if parts[0] == "api" else 3
        rest = parts[start:]
        if len(rest) < 3 or rest[0] != "namespaces":
            raise ApiError(404, "NotFound", {"message": f"fake: unknown path {path}"})
        namespace, resource = rest[1], rest[2]
        name = rest[3] if len(rest) > 3 else ""
        sub = rest[4] if len(rest) > 4 else ""
        return namespace, resource, name, sub

    def of_kind(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [
            obj
            for (ns, res, _), obj in sorted(self.objects.items())
            if res == resource and (namespace is None or ns == namespace)
        ]

    def job_pod(self, job: str) -> dict[str, Any] | None:
        for pod in self.of_kind("pods"):
            if pod["metadata"]["labels"].get("batch.kubernetes.io/job-name") == job:
                return pod
        return None

    def append_log(self, namespace: str, pod: str, *texts: str, stamp: str | None = None) -> None:
        log = self.logs.setdefault((namespace, pod), _Log())
        for text in texts:
            if stamp is None:
                self._log_clock += timedelta(microseconds=1)
                when = self._log_clock.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
            else:
                when = stamp
            log.lines.append((when, text))

    def end_pod(self, namespace: str, pod: str, exit_code: int = 0, job_reason: str = "") -> None:
        """The agent container terminates; the Job controller records the outcome."""
        obj = self.objects[(namespace, "pods", pod)]
        obj["status"] = {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [
                {"name": "agent", "state": {"terminated": {"exitCode": exit_code}}}
            ],
        }
        self._bump(obj)
        job_name = obj["metadata"]["labels"]["batch.kubernetes.io/job-name"]
        job = self.objects.get((namespace, "jobs", job_name))
        if job is not None:
            kind = "Complete" if exit_code == 0 and not job_reason else "Failed"
            job.setdefault("status", {})["conditions"] = [
                {"type": kind, "status": "True", "reason": job_reason}
            ]
            self._bump(job)

    def cut_streams(self) -> None:
        """Break every open log stream (as a dropped connection would)."""
        self._cut += 1

    def fail(self, method: str, contains: str, status: int, times: int = 1_000_000) -> None:
        """Answer ``status`` to the next ``times`` calls of ``method`` on a matching path."""
        left = [times]

        def fault(m: str, path: str) -> ApiError | None:
            if m == method and contains in path and left[0] > 0:
                left[0] -= 1
                return ApiError(status, "Injected", {"message": f"injected {status}"})
            return None

        self.faults.append(fault)

    def lose_reply(self, method: str, contains: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` on a matching path are carried out, but
        their answer is lost (the connection breaks after the API server committed it)."""
        left = [times]

        def lost(m: str, path: str) -> ApiError | None:
            if m == method and contains in path and left[0] > 0:
                left[0] -= 1
                return ApiError(0, "Unreachable", "fake: the answer was lost")
            return None

        self.lost_replies.append(lost)

    # -- KubeApi ---------------------------------------------------------------------

    def _check(self, method: str, path: str) -> None:
        self.calls.append((method, path))
        for fault in self.faults:
            error = fault(method, path)
            if error is not None:
                raise error

    def _answer(self, method: str, path: str, answer: Any) -> Any:
        """``answer``, unless a lost reply was arranged for this call (see lose_reply)."""
        for lost in self.lost_replies:
            error = lost(method, path)
            if error is not None:
                raise error
        return answer

    def _bump(self, obj: dict[str, Any]) -> None:
        obj["metadata"]["resourceVersion"] = str(next(self._versions))

    def _get(self, namespace: str, resource: str, name: str) -> dict[str, Any]:
        obj = self.objects.get((namespace, resource, name))
        if obj is None:
            raise ApiError(404, "NotFound", {"message": f'{resource} "{name}" not found'})
        return obj

    async def get(self, path: str, **params: str) -> Any:
        await asyncio.sleep(0)
        self._check("GET", path)
        namespace, resource, name, _ = self.parse(path)
        if name:
            return copy.deepcopy(self._get(namespace, resource, name))
        found = [
            copy.deepcopy(obj)
            for obj in self.of_kind(resource, namespace)
            if _selected(obj, params.get("labelSelector", ""))
        ]
        if resource == "events" and "fieldSelector" in params:
            wanted = params["fieldSelector"].rpartition("involvedObject.name=")[2]
            found = [e for e in found if e.get("involvedObject", {}).get("name") == wanted]
        if "limit" in params:
            found = found[: int(params["limit"])]
        return {"kind": "List", "items": found}

    async def create(self, path: str, body: dict[str, Any]) -> Any:
        await asyncio.sleep(0)
        self._check("POST", path)
        namespace, resource, _, _ = self.parse(path)
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        name = meta["name"]
        if (namespace, resource, name) in self.objects:
            raise ApiError(409, "Conflict", {"message": f'{resource} "{name}" already exists'})
        meta.update(
            namespace=namespace,
            uid=f"uid-{next(self._uids)}",
            creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        meta.setdefault("labels", {})
        obj.pop("stringData", None)  # like the API: never echoed back in this form
        self._bump(obj)
        self.objects[(namespace, resource, name)] = obj
        if resource == "jobs" and self.auto_pods:
            self._start_pod(namespace, obj)
        return self._answer("POST", path, copy.deepcopy(obj))

    def _start_pod(self, namespace: str, job: dict[str, Any]) -> None:
        name = f"{job['metadata']['name']}-{next(self._uids):05d}"
        labels = dict(job["spec"]["template"]["metadata"].get("labels", {}))
        labels["batch.kubernetes.io/job-name"] = job["metadata"]["name"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": copy.deepcopy(job["spec"]["template"]["spec"]),
            "status": {
                "phase": "Running",
                "containerStatuses": [{"name": "agent", "state": {"running": {}}}],
            },
        }
        pod["metadata"]["creationTimestamp"] = job["metadata"]["creationTimestamp"]
        self._bump(pod)
        self.objects[(namespace, "pods", name)] = pod

    async def replace(self, path: str, body: dict[str, Any]) -> Any:
        await asyncio.sleep(0)
        self._check("PUT", path)
        namespace, resource, name, _ = self.parse(path)
        current = self._get(namespace, resource, name)
        given = body.get("metadata", {}).get("resourceVersion")
        if given != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", {"message": "the object has been modified"})
        obj = copy.deepcopy(body)
        self._bump(obj)
        self.objects[(namespace, resource, name)] = obj
        return self._answer("PUT", path, copy.deepcopy(obj))

    async def patch(self, path: str, body: dict[str, Any]) -> Any:
        await asyncio.sleep(0)
        self._check("PATCH", path)
        namespace, resource, name, _ = self.parse(path)
        current = self._get(namespace, resource, name)
        given = body.get("metadata", {}).get("resourceVersion")
        if given is not None and given != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", {"message": "the object has been modified"})
        _merge(current, body)
        self._bump(current)
        if resource == "jobs" and (current.get("spec") or {}).get("suspend"):
            for pod in self.of_kind("pods", namespace):
                if pod["metadata"]["labels"].get("batch.kubernetes.io/job-name") == name:
                    del self.objects[(namespace, "pods", pod["metadata"]["name"])]
        return copy.deepcopy(current)

    async def delete(
        self, path: str, propagation: str | None = None, uid: str | None = None
    ) -> Any:
        await asyncio.sleep(0)
        self._check("DELETE", path)
        namespace, resource, name, _ = self.parse(path)
        obj = self._get(namespace, resource, name)
        if uid is not None and obj["metadata"].get("uid") != uid:
            raise ApiError(409, "Conflict", {"message": "Precondition failed: UID mismatch"})
        del self.objects[(namespace, resource, name)]
        if resource == "jobs":
            for pod in self.of_kind("pods", namespace):
                if pod["metadata"]["labels"].get("batch.kubernetes.io/job-name") == name:
                    del self.objects[(namespace, "pods", pod["metadata"]["name"])]
            # the garbage collector: the Job's dependents (its run Secret) go with it
            owned = [
                key
                for key, other in self.objects.items()
                if any(
                    ref.get("uid") == obj["metadata"].get("uid")
                    for ref in other["metadata"].get("ownerReferences") or []
                )
            ]
            for key in owned:
                del self.objects[key]
        return self._answer("DELETE", path, copy.deepcopy(obj))

    def _log_lines(self, namespace: str, pod: str, since: str) -> list[str]:
        log = self.logs.get((namespace, pod), _Log())
        return [f"{stamp} {text}" for stamp, text in log.lines if stamp[:19] >= since[:19]]

    async def text(self, path: str, params: dict[str, str]) -> str:
        await asyncio.sleep(0)
        self._check("GET", path)
        namespace, _, pod, _ = self.parse(path)
        self._get(namespace, "pods", pod)
        lines = self._log_lines(namespace, pod, params.get("sinceTime", ""))
        if params.get("timestamps") != "true":
            lines = [line.partition(" ")[2] for line in lines]
        return "".join(line + "\n" for line in lines)

    async def lines(
        self, path: str, params: dict[str, str], *, idle: float
    ) -> AsyncGenerator[list[str] | None, None]:
        await asyncio.sleep(0)
        self._check("GET", path)
        namespace, _, pod, _ = self.parse(path)
        self._get(namespace, "pods", pod)
        cut = self._cut
        since = params.get("sinceTime", "")
        log = self.logs.setdefault((namespace, pod), _Log())
        sent = 0
        self.open_streams += 1
        try:
            quiet = 0.0
            step = min(idle, 0.005)
            while True:
                if self._cut != cut:
                    raise ApiError(0, "Unreachable", "fake: the stream was cut")
                if sent < len(log.lines):
                    batch = log.lines[sent : sent + 200]
                    sent += len(batch)
                    quiet = 0.0
                    # as the kubelet does: every line stamped before sinceTime is left out
                    # (line by line: a log whose clock went back has later lines before it)
                    kept = [f"{stamp} {text}" for stamp, text in batch if stamp[:19] >= since[:19]]
                    if kept:
                        yield kept
                    continue
                pod_obj = self.objects.get((namespace, "pods", pod))
                if pod_obj is None or pod_obj["status"].get("phase") in ("Succeeded", "Failed"):
                    return
                await asyncio.sleep(step)
                quiet += step
                if quiet >= idle:
                    quiet = 0.0
                    yield None
        finally:
            self.open_streams -= 1

    async def close(self) -> None:
        return None
