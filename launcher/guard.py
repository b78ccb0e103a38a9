"""At most one active run per agent, across every launcher replica.

A coordination.k8s.io Lease per agent holds the run id of the active run. The API server
makes taking it atomic: create fails when it exists, and an update carries the
resourceVersion it read, so two launchers can never both win. The Lease stays after release
(holder cleared). Leases are per instance: two instances in one namespace never share one.
Sessions are not kept here: Paperclip saves each agent's session and sends it with the run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from launcher.kube import ApiError, KubeApi, namespaced
from launcher.views import LeaseView, format_time

GROUP = "coordination.k8s.io/v1"
CLAIM_GRACE_SECONDS = 30


class AgentBusy(Exception):
    def __init__(self, agent_id: str, holder: str) -> None:
        self.agent_id = agent_id
        self.holder = holder
        super().__init__(f"agent {agent_id} is busy with run {holder}")


@dataclass(frozen=True)
class Claim:
    reattach: bool
    """True when the Lease already named this run (a repeated start)."""


def lease_name(instance: str, agent_id: str) -> str:
    digest = hashlib.sha256(f"{len(instance)}:{instance}:{agent_id}".encode()).hexdigest()[:20]
    return f"agent-{digest}"


def _now() -> str:
    return format_time(datetime.now(UTC))


class RunGuard:
    def __init__(
        self, kube: KubeApi, namespace: str, instance: str, labels: dict[str, str]
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.instance = instance
        self.labels = labels

    def _path(self, agent_id: str = "") -> str:
        name = lease_name(self.instance, agent_id) if agent_id else ""
        return namespaced(self.namespace, "leases", name, GROUP)

    async def acquire(
        self, agent_id: str, run_id: str, run_state: Callable[[str], Awaitable[str]]
    ) -> Claim:
        """Take the agent's Lease for ``run_id``.

        ``run_state(holder)`` is "active", "finished" or "missing" (no Job). A finished run
        frees the agent. A missing Job frees it only once the holder's claim is older than
        :data:`CLAIM_GRACE_SECONDS`: a fresh holder may simply not have created its Job yet,
        while an old one died between taking the Lease and creating the Job."""
        for _ in range(10):
            try:
                lease = LeaseView.of(await self.kube.get(self._path(agent_id)))
            except ApiError as exc:
                if exc.status != 404:
                    raise
                try:
                    await self.kube.create(self._path(), self._lease(agent_id, run_id))
                    return Claim(reattach=False)
                except ApiError as conflict:
                    if conflict.status == 409:
                        continue
                    raise
            holder = lease.holder
            if holder == run_id:
                return Claim(reattach=True)
            if holder and not self._free(lease, await run_state(holder)):
                raise AgentBusy(agent_id, holder)
            try:
                await self.kube.replace(self._path(agent_id), lease.with_holder(run_id, _now()))
                return Claim(reattach=False)
            except ApiError as exc:
                if exc.status != 409:
                    raise
        raise AgentBusy(agent_id, "(contended)")

    @staticmethod
    def _free(lease: LeaseView, state: str) -> bool:
        if state == "finished":
            return True
        if state != "missing":
            return False
        if lease.acquired is None:
            return True
        age = datetime.now(UTC) - lease.acquired
        return age.total_seconds() > CLAIM_GRACE_SECONDS

    async def release(self, agent_id: str, run_id: str) -> None:
        """Clear the holder if it is still ``run_id``."""
        for _ in range(10):
            try:
                lease = LeaseView.of(await self.kube.get(self._path(agent_id)))
            except ApiError as exc:
                if exc.status == 404:
                    return
                raise
            if lease.holder != run_id:
                return
            body = lease.with_holder("", None)
            try:
                await self.kube.replace(self._path(agent_id), body)
                return
            except ApiError as exc:
                if exc.status != 409:
                    raise

    def _lease(self, agent_id: str, run_id: str) -> dict[str, Any]:
        return {
            "apiVersion": GROUP,
            "kind": "Lease",
            "metadata": {
                "name": lease_name(self.instance, agent_id),
                "namespace": self.namespace,
                "labels": self.labels,
                "annotations": {"paperclip.io/agent-id": agent_id},
            },
            "spec": {"holderIdentity": run_id, "acquireTime": _now()},
        }
