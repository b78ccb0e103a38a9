"""Follow a container's log through the API server, exactly once.

Lines are read with ``timestamps=true``. The cursor of a line is its timestamp and its
position among lines with that same timestamp, so after a broken stream the relay reconnects
with ``sinceTime`` and skips what it already delivered: nothing is lost or repeated. The
relay stops when the container has terminated (and the rest of the log has been read), not
only at the end of the stream: some kubelets (and kwok) never end it.

Timestamps may go back (a node clock stepped back): a line's cursor uses the latest
timestamp seen so far in the stream (its own when that is later), so cursors only grow and no
line is dropped for an earlier stamp. The API server leaves out every line stamped before
``sinceTime``, so a reconnect asks for :data:`REWIND_SECONDS` before the cursor's second:
a log whose clock went back by less than that is resumed exactly; a larger step back is
logged, since a reconnect at that point could miss the lines stamped before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from launcher.jobs import CONTAINER
from launcher.kube import ApiError, KubeApi, namespaced

log = logging.getLogger("paperclip_launcher.relay")

CURSOR = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z)\|([1-9]\d{0,8})$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
"""The timestamp the API server puts before each line (timestamps=true), in UTC."""
REWIND_SECONDS = 60
"""A reconnect reads the log from this long before the cursor's second (see the module
docstring): a backward step of the clock shorter than this never loses a line."""
MAX_FAILURES = 8
"""Consecutive failed attempts (no line in between) before the relay gives up."""
MAX_BACKOFF = 5.0
# The API server's answer will not change by asking again (401 has been retried with a
# freshly read token already).
PERMANENT = {400, 401, 403, 422}


class RelayFailed(Exception):
    """The log cannot be read; ``reason`` is a short code, ``message`` says why."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


@dataclass(frozen=True, order=True, slots=True)
class Cursor:
    timestamp: str = ""
    index: int = 0

    def encode(self) -> str:
        return f"{self.timestamp}|{self.index}"

    @classmethod
    def decode(cls, text: str | None) -> Cursor:
        """The cursor of a line record; raises ValueError for anything the relay did not
        write itself (``<RFC 3339 with nanoseconds>|<position>``)."""
        if not text:
            return cls()
        match = CURSOR.match(text)
        if match is not None:
            try:
                datetime.fromisoformat(match.group(1)[:19])
            except ValueError:
                match = None
        if match is None:
            raise ValueError(
                "not a cursor of this launcher: expected the 'cursor' of a line record, "
                "e.g. 2026-01-01T00:00:00.000000000Z|1"
            )
        return cls(match.group(1), int(match.group(2)))

    @property
    def since_time(self) -> str:
        """RFC 3339 whole seconds at or before the timestamp (the API's sinceTime)."""
        return self.timestamp[:19] + "Z"

    @property
    def resume_time(self) -> str:
        """The sinceTime of a reconnect: :data:`REWIND_SECONDS` before :attr:`since_time`,
        so lines whose stamp went back a little are read again (and skipped) too (from the
        first second of year 1 for a cursor less than that after it)."""
        second = datetime.fromisoformat(self.timestamp[:19])
        second -= min(timedelta(seconds=REWIND_SECONDS), second - datetime.min)
        return f"{second.year:04d}" + second.strftime("-%m-%dT%H:%M:%S") + "Z"


@dataclass(frozen=True, slots=True)
class LogLine:
    cursor: Cursor
    text: str


class Dedup:
    """Assigns cursors and drops lines at or before the last delivered cursor.

    A pass (one stream) stamps each line with the latest timestamp seen in it so far, and
    its position among the lines of that stamp: cursors grow strictly within a pass, so a
    line stamped earlier than the one before it is delivered, never taken for a repeat."""

    def __init__(self, after: Cursor) -> None:
        self.after = after
        self.stamp = ""
        self.count = 0
        self.foreign = 0
        self.last_foreign = ""
        self.stepped_back = 0.0
        """The largest step back of the clock seen, in seconds (0: none)."""

    def start_pass(self) -> None:
        self.stamp, self.count = "", 0

    def accept(self, raw: str) -> LogLine | None:
        stamp, _, text = raw.partition(" ")
        if not STAMP.match(stamp):
            # Not a log line: a message of the kubelet in place of the log (e.g. "failed to
            # create fsnotify watcher: too many open files"). It must not become a cursor.
            self.foreign += 1
            self.last_foreign = raw[:200]
            return None
        stamp = _normalize(stamp)
        if stamp < self.stamp:  # the clock went back: keep the latest stamp of the pass
            self._stepped_back(stamp)
            stamp = self.stamp
        if stamp == self.stamp:
            self.count += 1
        else:
            self.stamp, self.count = stamp, 1
        cursor = Cursor(stamp, self.count)
        if cursor <= self.after:
            return None
        self.after = cursor
        return LogLine(cursor, text)

    def _stepped_back(self, stamp: str) -> None:
        step = (_seconds(self.stamp) - _seconds(stamp)).total_seconds()
        if step >= REWIND_SECONDS and step > self.stepped_back:
            log.warning(
                "log timestamps went back by %.0f s; a reconnect after this point could miss "
                "lines stamped more than %d s before the line it resumes from",
                step,
                REWIND_SECONDS,
            )
        self.stepped_back = max(self.stepped_back, step)


def _seconds(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp[:26] + "+00:00")


def _normalize(stamp: str) -> str:
    # RFC 3339 with nanoseconds padded, so cursors compare as strings.
    if "." in stamp:
        head, _, frac = stamp.partition(".")
        digits = frac.rstrip("Z")
        return f"{head}.{digits.ljust(9, '0')}Z"
    return stamp.rstrip("Z") + ".000000000Z"


async def follow(
    kube: KubeApi,
    namespace: str,
    pod: str,
    *,
    after: Cursor,
    is_terminated: Callable[[], Awaitable[bool]],
    idle: float = 1.0,
    container: str = CONTAINER,
    max_failures: int = MAX_FAILURES,
    first_backoff: float = 0.2,
    max_backoff: float = MAX_BACKOFF,
) -> AsyncIterator[list[LogLine]]:
    """Every log line after ``after`` until the container has terminated, in batches; an
    empty batch is an idle tick (the consumer checks on its client then, and closes the
    generator when the client has gone). Raises :class:`RelayFailed` after
    ``max_failures`` consecutive failed attempts, or at once for an answer that will not
    change (bad request, no longer authorised)."""
    dedup = Dedup(after)
    path = namespaced(namespace, "pods", pod) + "/log"
    backoff = first_backoff
    failures = 0
    while True:
        params = {"container": container, "follow": "true", "timestamps": "true"}
        if dedup.after.timestamp:
            params["sinceTime"] = dedup.after.resume_time
        dedup.start_pass()
        foreign = dedup.foreign
        ended = False
        try:
            async with contextlib.aclosing(kube.lines(path, params, idle=idle)) as stream:
                async for batch in stream:
                    if batch is None:
                        if await is_terminated():
                            ended = True
                            break
                        failures, backoff = 0, first_backoff  # connected and answering
                        yield []
                        continue
                    lines = [line for raw in batch if (line := dedup.accept(raw)) is not None]
                    if lines:
                        failures, backoff = 0, first_backoff
                        yield lines
                else:
                    ended = await is_terminated()
            if ended:
                rest = await _drain(kube, path, container, dedup)
                if rest:
                    yield rest
                return
        except ApiError as exc:
            if exc.status == 404:
                return  # the pod is gone, and its log with it
            failures += 1
            if exc.status in PERMANENT:
                raise RelayFailed(
                    "log_forbidden" if exc.status in (401, 403) else "log_unavailable",
                    f"the API server refused to read the log of pod {pod}: {exc}",
                ) from None
            if failures >= max_failures:
                raise RelayFailed(
                    "log_unavailable",
                    f"the log of pod {pod} could not be read {failures} times in a row "
                    f"(last: {exc}); the run may still be going",
                ) from None
            log.info(
                "log stream of %s broke (%s); resuming from %s",
                pod,
                exc.message[:200],
                dedup.after.encode(),
            )
            tail: list[LogLine] | None = None
            with contextlib.suppress(ApiError):
                if await is_terminated():  # the pod has ended: read the rest, and stop
                    tail = await _drain(kube, path, container, dedup)
            if tail is not None:
                if tail:
                    yield tail
                return
        if dedup.foreign > foreign:
            log.warning(
                "the log of %s held a line that is not a log line (%r); resuming from %s",
                pod,
                dedup.last_foreign,
                dedup.after.encode(),
            )
        yield []  # let the consumer notice a client that has gone
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff)


async def _drain(kube: KubeApi, path: str, container: str, dedup: Dedup) -> list[LogLine]:
    """The rest of the log after the container ended, without following."""
    params = {"container": container, "timestamps": "true"}
    if dedup.after.timestamp:
        params["sinceTime"] = dedup.after.resume_time
    dedup.start_pass()
    try:
        text = await kube.text(path, params)
    except ApiError as exc:
        if exc.status == 404:
            return []
        raise
    return [line for raw in text.splitlines() if (line := dedup.accept(raw)) is not None]
