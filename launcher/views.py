"""Typed, read-only views of the Job, Pod and Lease fields the launcher reads.

The API returns plain JSON; these views pick the few fields the launcher uses, with their
types checked once, so the rest of the code never indexes raw dicts (and a field of an
unexpected shape reads as absent instead of raising deep inside the run logic).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a mapping, else an empty one (for JSON of unknown shape)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: Any) -> dict[str, str]:
    return {k: v for k, v in as_dict(value).items() if isinstance(v, str)}


def parse_time(text: str) -> datetime | None:
    """An RFC 3339 timestamp as the API writes it, or None."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Meta:
    name: str
    namespace: str
    uid: str
    resource_version: str
    labels: dict[str, str]
    annotations: dict[str, str]
    creation: datetime | None
    deleting: bool

    @classmethod
    def of(cls, raw: Any) -> Meta:
        meta = as_dict(as_dict(raw).get("metadata"))
        return cls(
            name=_str(meta.get("name")),
            namespace=_str(meta.get("namespace")),
            uid=_str(meta.get("uid")),
            resource_version=_str(meta.get("resourceVersion")),
            labels=_strings(meta.get("labels")),
            annotations=_strings(meta.get("annotations")),
            creation=parse_time(_str(meta.get("creationTimestamp"))),
            deleting=bool(meta.get("deletionTimestamp")),
        )


@dataclass(frozen=True, slots=True)
class JobView:
    meta: Meta
    conditions: tuple[tuple[str, str, str], ...]
    """(type, status, reason) of each condition."""
    suspended: bool

    @classmethod
    def of(cls, raw: Any) -> JobView:
        body = as_dict(raw)
        conditions = tuple(
            (_str(c.get("type")), _str(c.get("status")), _str(c.get("reason")))
            for c in map(as_dict, _list(as_dict(body.get("status")).get("conditions")))
        )
        return cls(Meta.of(body), conditions, as_dict(body.get("spec")).get("suspend") is True)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def finished(self) -> tuple[str, str] | None:
        """("Complete" | "Failed", reason) once the Job has finished."""
        for kind, status, reason in self.conditions:
            if kind in ("Complete", "Failed") and status == "True":
                return kind, reason
        return None

    def annotation(self, key: str) -> str:
        return self.meta.annotations.get(key, "")


@dataclass(frozen=True, slots=True)
class ContainerView:
    name: str
    waiting_reason: str
    waiting_message: str
    running: bool
    terminated: bool
    exit_code: int | None

    @classmethod
    def of(cls, raw: Any) -> ContainerView:
        body = as_dict(raw)
        state = as_dict(body.get("state"))
        waiting = as_dict(state.get("waiting"))
        done = state.get("terminated")
        code = as_dict(done).get("exitCode")
        return cls(
            name=_str(body.get("name")),
            waiting_reason=_str(waiting.get("reason")),
            waiting_message=_str(waiting.get("message")),
            running="running" in state,
            terminated=isinstance(done, dict),
            exit_code=code if isinstance(code, int) else None,
        )


@dataclass(frozen=True, slots=True)
class PodView:
    meta: Meta
    phase: str
    containers: tuple[ContainerView, ...]
    init_containers: tuple[ContainerView, ...]
    conditions: tuple[tuple[str, str, str, str], ...]
    """(type, status, reason, message) of each condition."""

    @classmethod
    def of(cls, raw: Any) -> PodView:
        status = as_dict(as_dict(raw).get("status"))
        return cls(
            meta=Meta.of(raw),
            phase=_str(status.get("phase")),
            containers=tuple(map(ContainerView.of, _list(status.get("containerStatuses")))),
            init_containers=tuple(
                map(ContainerView.of, _list(status.get("initContainerStatuses")))
            ),
            conditions=tuple(
                (
                    _str(c.get("type")),
                    _str(c.get("status")),
                    _str(c.get("reason")),
                    _str(c.get("message")),
                )
                for c in map(as_dict, _list(status.get("conditions")))
            ),
        )

    @property
    def name(self) -> str:
        return self.meta.name

    def container(self, name: str) -> ContainerView | None:
        return next((c for c in self.containers if c.name == name), None)


@dataclass(frozen=True, slots=True)
class LeaseView:
    meta: Meta
    holder: str
    acquired: datetime | None
    raw: dict[str, Any]
    """The whole object, to send back with an update (it carries the resourceVersion)."""

    @classmethod
    def of(cls, raw: Any) -> LeaseView:
        body = as_dict(raw)
        spec = as_dict(body.get("spec"))
        return cls(
            meta=Meta.of(body),
            holder=_str(spec.get("holderIdentity")),
            acquired=parse_time(_str(spec.get("acquireTime"))),
            raw=body,
        )

    def with_holder(
        self, holder: str, acquired: str | None, annotations: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The Lease body for an update that sets the holder (and annotations)."""
        metadata = dict(as_dict(self.raw.get("metadata")))
        if annotations:
            metadata["annotations"] = {**self.meta.annotations, **annotations}
        spec = dict(as_dict(self.raw.get("spec")))
        spec["holderIdentity"] = holder
        if acquired is not None:
            spec["acquireTime"] = acquired
        return {**self.raw, "metadata": metadata, "spec": spec}


def items(answer: Any) -> list[Any]:
    """The items of a list answer."""
    return _list(as_dict(answer).get("items"))
