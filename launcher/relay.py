"""Follow a container's log through the API server, exactly once.

Lines are read with ``timestamps=true``. The cursor of a line is its timestamp and its
position among lines with that same timestamp, so after a broken stream the relay reconnects
with ``sinceTime`` (whole seconds) and skips what it already delivered: nothing is lost or
repeated. The relay stops when the container has terminated (and the rest of the log has
been read), not only at the end of the stream: some kubelets (and kwok) never end it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from launcher.jobs import CONTAINER
from launcher.kube import ApiError, Kube, namespaced

log = logging.getLogger("paperclip_launcher.relay")


@dataclass(frozen=True, order=True, slots=True)
class Cursor:
    timestamp: str = ""
    index: int = 0

    def encode(self) -> str:
        return f"{self.timestamp}|{self.index}"

    @classmethod
    def decode(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        stamp, _, index = text.rpartition("|")
        return cls(stamp, int(index or 0))

    @property
    def since_time(self) -> str:
        """RFC 3339 whole seconds at or before the timestamp (the API's sinceTime)."""
        return self.timestamp[:19] + "Z"


@dataclass(frozen=True, slots=True)
class LogLine:
    cursor: Cursor
    text: str


class Dedup:
    """Assigns cursors and drops lines at or before the last delivered cursor."""

    def __init__(self, after: Cursor) -> None:
        self.after = after
        self.stamp = ""
        self.count = 0

    def start_pass(self) -> None:
        self.stamp, self.count = "", 0

    def accept(self, raw: str) -> LogLine | None:
        stamp, _, text = raw.partition(" ")
        if not stamp:
            return None
        if stamp == self.stamp:
            self.count += 1
        else:
            self.stamp, self.count = stamp, 1
        cursor = Cursor(_normalize(stamp), self.count)
        if cursor <= self.after:
            return None
        self.after = cursor
        return LogLine(cursor, text)


def _normalize(stamp: str) -> str:
    # RFC 3339 with nanoseconds padded, so cursors compare as strings.
    if "." in stamp:
        head, _, frac = stamp.partition(".")
        digits = frac.rstrip("Z")
        return f"{head}.{digits.ljust(9, '0')}Z"
    return stamp.rstrip("Z") + ".000000000Z"


async def follow(
    kube: Kube,
    namespace: str,
    pod: str,
    *,
    after: Cursor,
    is_terminated: Callable[[], Awaitable[bool]],
    idle: float = 1.0,
    container: str = CONTAINER,
) -> AsyncIterator[LogLine]:
    """Every log line after ``after`` until the container has terminated."""
    dedup = Dedup(after)
    path = namespaced(namespace, "pods", pod) + "/log"
    backoff = 0.2
    while True:
        params = {"container": container, "follow": "true", "timestamps": "true"}
        if dedup.after.timestamp:
            params["sinceTime"] = dedup.after.since_time
        dedup.start_pass()
        ended = False
        try:
            async with contextlib.aclosing(kube.lines(path, params, idle=idle)) as stream:
                async for batch in stream:
                    if batch is None:
                        if await is_terminated():
                            ended = True
                            break
                        yield []  # an idle tick: lets the consumer check on its client
                        continue
                    lines = [line for raw in batch if (line := dedup.accept(raw)) is not None]
                    if lines:
                        backoff = 0.2
                        yield lines
                else:
                    ended = await is_terminated()
        except (aiohttp.ClientError, ApiError, ConnectionError) as exc:
            if isinstance(exc, ApiError) and exc.status == 404:
                return
            log.info(
                "log stream of %s broke (%s); resuming from %s", pod, exc, dedup.after.encode()
            )
        if ended:
            rest = await _drain(kube, path, container, dedup)
            if rest:
                yield rest
            return
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 5.0)


async def _drain(kube: Kube, path: str, container: str, dedup: Dedup) -> list[LogLine]:
    """The rest of the log after the container ended, without following."""
    params = {"container": container, "timestamps": "true"}
    if dedup.after.timestamp:
        params["sinceTime"] = dedup.after.since_time
    dedup.start_pass()
    try:
        text: Any = await kube.request("GET", path, params=params)
    except ApiError as exc:
        if exc.status == 404:
            return []
        raise
    return [line for raw in str(text).splitlines() if (line := dedup.accept(raw)) is not None]
