"""At most one active run per agent, across every launcher replica.

A coordination.k8s.io Lease per agent holds the run id of the active run. The API server
makes taking it atomic: create fails when it exists, and an update carries the
resourceVersion it read, so two launchers can never both win. The Lease stays after release
(holder cleared) and remembers the agent's last OpenCode session id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from launcher.kube import ApiError, Kube, namespaced

GROUP = "coordination.k8s.io/v1"
CLAIM_GRACE_SECONDS = 30
SESSION_ANNOTATION = "paperclip.io/last-session-id"


class AgentBusy(Exception):
    def __init__(self, agent_id: str, holder: str) -> None:
        self.agent_id = agent_id
        self.holder = holder
        super().__init__(f"agent {agent_id} is busy with run {holder}")


@dataclass(frozen=True)
class Claim:
    reattach: bool
    """True when the Lease already named this run (a repeated start)."""
    last_session_id: str | None


def lease_name(agent_id: str) -> str:
    return "agent-" + hashlib.sha256(agent_id.encode()).hexdigest()[:20]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RunGuard:
    def __init__(self, kube: Kube, namespace: str, labels: dict[str, str]) -> None:
        self.kube = kube
        self.namespace = namespace
        self.labels = labels

    def _path(self, agent_id: str = "") -> str:
        name = lease_name(agent_id) if agent_id else ""
        return namespaced(self.namespace, "leases", name, GROUP)

    async def acquire(self, agent_id: str, run_id: str, run_state: Any) -> Claim:
        """Take the agent's Lease for ``run_id``.

        ``run_state(holder)`` is "active", "finished" or "missing" (no Job). A finished run
        frees the agent. A missing Job frees it only once the holder's claim is older than
        :data:`CLAIM_GRACE_SECONDS`: a fresh holder may simply not have created its Job yet,
        while an old one died between taking the Lease and creating the Job."""
        for _ in range(10):
            try:
                lease = await self.kube.get(self._path(agent_id))
            except ApiError as exc:
                if exc.status != 404:
                    raise
                try:
                    await self.kube.create(self._path(), self._lease(agent_id, run_id))
                    return Claim(reattach=False, last_session_id=None)
                except ApiError as conflict:
                    if conflict.status == 409:
                        continue
                    raise
            holder = lease["spec"].get("holderIdentity") or ""
            session = lease["metadata"].get("annotations", {}).get(SESSION_ANNOTATION)
            if holder == run_id:
                return Claim(reattach=True, last_session_id=session)
            if holder and not self._free(lease, await run_state(holder)):
                raise AgentBusy(agent_id, holder)
            lease["spec"]["holderIdentity"] = run_id
            lease["spec"]["acquireTime"] = _now()
            try:
                await self.kube.replace(self._path(agent_id), lease)
                return Claim(reattach=False, last_session_id=session)
            except ApiError as exc:
                if exc.status != 409:
                    raise
        raise AgentBusy(agent_id, "(contended)")

    @staticmethod
    def _free(lease: dict[str, Any], state: str) -> bool:
        if state == "finished":
            return True
        if state != "missing":
            return False
        acquired = lease["spec"].get("acquireTime")
        if not acquired:
            return True
        age = datetime.now(UTC) - datetime.fromisoformat(acquired.replace("Z", "+00:00"))
        return age.total_seconds() > CLAIM_GRACE_SECONDS

    async def release(self, agent_id: str, run_id: str, session_id: str | None = None) -> None:
        """Clear the holder if it is still ``run_id``; remember the session id."""
        for _ in range(10):
            try:
                lease = await self.kube.get(self._path(agent_id))
            except ApiError as exc:
                if exc.status == 404:
                    return
                raise
            if lease["spec"].get("holderIdentity") != run_id:
                return
            lease["spec"]["holderIdentity"] = ""
            if session_id:
                lease["metadata"].setdefault("annotations", {})[SESSION_ANNOTATION] = session_id
            try:
                await self.kube.replace(self._path(agent_id), lease)
                return
            except ApiError as exc:
                if exc.status != 409:
                    raise

    def _lease(self, agent_id: str, run_id: str) -> dict[str, Any]:
        return {
            "apiVersion": GROUP,
            "kind": "Lease",
            "metadata": {
                "name": lease_name(agent_id),
                "namespace": self.namespace,
                "labels": self.labels,
                "annotations": {"paperclip.io/agent-id": agent_id},
            },
            "spec": {"holderIdentity": run_id, "acquireTime": _now()},
        }
