"""The launcher's run logic against the in-memory Kube (milliseconds per test): exit codes,
Lease conflicts, relay reconnects and bounded retries, Job name clashes, and the
multi-replica cancel of a run whose client has gone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from launcher.fakekube import FakeKube
from launcher.guard import AgentBusy
from launcher.jobs import ANNOTATION_CANCELLED, ANNOTATION_REASON, RunRequest, job_name
from launcher.kube import Connection, TokenSource
from launcher.relay import Cursor
from launcher.runs import JobClash, Launcher, Timing
from launcher.templates import LauncherConfig
from tests.unit.test_launcher_support import CONFIG_DOC, NS

CONFIG = LauncherConfig.model_validate(
    {
        **CONFIG_DOC,
        "templates": {
            **CONFIG_DOC["templates"],
            "keep": {"image": "busybox:1.36", "retain": True},
        },
    }
)
FAST = Timing(idle=0.02, poll=0.005, heartbeat=0.05, finish_wait=0.5, retry=0.002, max_retry=0.01)


def request(run: str = "run-1", agent: str = "agent-1", **extra: Any) -> RunRequest:
    return RunRequest(agent_id=agent, run_id=run, company_id="co", template="plain", **extra)


def launcher(kube: FakeKube | None = None, timing: Timing = FAST) -> tuple[FakeKube, Launcher]:
    kube = kube or FakeKube()
    return kube, Launcher(kube, CONFIG, timing)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


async def collect(lp: Launcher, run_id: str, after: str | None = None) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    async for batch in lp.stream(run_id, after):
        records += batch
    return records


async def soon(what: str, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def pod_of(kube: FakeKube, job: str) -> str:
    pod = kube.job_pod(job)
    assert pod is not None
    return str(pod["metadata"]["name"])


def test_a_whole_run_relays_every_line_and_the_exit_code() -> None:
    async def test() -> None:
        kube, lp = launcher()
        started = await lp.start(request())
        assert started.job == job_name("agent-1", "run-1") and not started.reattached
        pod = pod_of(kube, started.job)
        kube.append_log(NS, pod, "one", "two")
        task = asyncio.ensure_future(collect(lp, "run-1"))
        await asyncio.sleep(0.05)
        kube.append_log(NS, pod, "three")
        await asyncio.sleep(0.05)
        kube.end_pod(NS, pod, exit_code=3)
        records = await task
        assert [r["text"] for r in records if r["type"] == "line"] == ["one", "two", "three"]
        result = records[-1]
        assert result["type"] == "result" and result["exitCode"] == 3
        assert result["errorCode"] == "exit_code"
        # the agent is free again
        assert not (await lp.start(request("run-2"))).reattached

    run(test)


def test_resuming_after_a_cursor_repeats_nothing() -> None:
    async def test() -> None:
        kube, lp = launcher()
        started = await lp.start(request())
        pod = pod_of(kube, started.job)
        kube.append_log(NS, pod, *[f"line {i}" for i in range(5)])
        kube.end_pod(NS, pod)
        first = [r for r in await collect(lp, "run-1") if r["type"] == "line"]
        rest = await collect(lp, "run-1", after=first[2]["cursor"])
        assert [r["text"] for r in rest if r["type"] == "line"] == ["line 3", "line 4"]

    run(test)


def test_one_run_per_agent_and_a_repeated_start_reattaches() -> None:
    async def test() -> None:
        _, lp = launcher()
        await lp.start(request("run-1"))
        with pytest.raises(AgentBusy):
            await lp.start(request("run-2"))
        again = await lp.start(request("run-1"))
        assert again.reattached
        results = await asyncio.gather(
            *(lp.start(request(f"r{i}", agent="shared")) for i in range(10)),
            return_exceptions=True,
        )
        assert sum(not isinstance(r, BaseException) for r in results) == 1
        assert all(isinstance(r, AgentBusy) for r in results if isinstance(r, BaseException))

    run(test)


def test_a_lease_update_conflict_is_retried() -> None:
    async def test() -> None:
        kube, lp = launcher()
        await lp.start(request("run-1"))
        await lp.cancel("run-1")
        kube.fail("PUT", "/leases/", 409, times=2)  # another replica wrote it in between
        assert not (await lp.start(request("run-2"))).reattached

    run(test)


def test_a_broken_stream_is_resumed_without_loss_or_repeat() -> None:
    async def test() -> None:
        kube, lp = launcher()
        started = await lp.start(request())
        pod = pod_of(kube, started.job)
        stamp = "2026-01-01T00:00:00.000001000Z"
        kube.append_log(NS, pod, "same 0", "same 1", "same 2", stamp=stamp)
        task = asyncio.ensure_future(collect(lp, "run-1"))
        for batch in range(3):
            await asyncio.sleep(0.03)
            kube.append_log(NS, pod, *[f"b{batch} l{i}" for i in range(4)])
            await asyncio.sleep(0.03)
            kube.cut_streams()
        kube.end_pod(NS, pod)
        lines = [r["text"] for r in await task if r["type"] == "line"]
        assert lines == [f"same {i}" for i in range(3)] + [
            f"b{b} l{i}" for b in range(3) for i in range(4)
        ]

    run(test)


def test_relay_retries_are_bounded_and_end_with_a_result_that_says_why() -> None:
    async def test() -> None:
        kube, lp = launcher()
        started = await lp.start(request())
        kube.fail("GET", "/log", 500)  # every log read fails, forever
        records = await collect(lp, "run-1")
        result = records[-1]
        assert result["type"] == "result" and result["errorCode"] == "log_unavailable"
        assert "8 times in a row" in result["errorMessage"]
        log_calls = [c for c in kube.calls if c[1].endswith("/log")]
        assert len(log_calls) == 8
        await asyncio.sleep(0.3)
        assert len([c for c in kube.calls if c[1].endswith("/log")]) == 8  # nothing after
        assert kube.objects.get((NS, "jobs", started.job)) is not None  # the run goes on

    run(test)


def test_lost_rbac_ends_the_stream_at_once() -> None:
    async def test() -> None:
        kube, lp = launcher()
        await lp.start(request())
        kube.fail("GET", "/log", 403)
        result = (await collect(lp, "run-1"))[-1]
        assert result["errorCode"] == "log_forbidden" and result["exitCode"] == 1
        assert len([c for c in kube.calls if c[1].endswith("/log")]) == 1

    run(test)


def test_the_relay_stops_when_the_pod_has_ended_though_follows_fail() -> None:
    async def test() -> None:
        kube, lp = launcher()
        started = await lp.start(request())
        pod = pod_of(kube, started.job)
        kube.append_log(NS, pod, "last words")
        kube.end_pod(NS, pod)
        # the follow fails; the plain read of the rest works
        kube.fail("GET", "/log", 503)
        original = kube.text

        async def text(path: str, params: dict[str, str]) -> str:
            kube.faults.clear()
            return await original(path, params)

        kube.text = text  # type: ignore[method-assign]
        records = await collect(lp, "run-1")
        assert [r["text"] for r in records if r["type"] == "line"] == ["last words"]
        assert records[-1]["exitCode"] == 0

    run(test)


def test_the_relay_stops_when_the_client_goes() -> None:
    async def test() -> None:
        kube, lp = launcher()
        await lp.start(request())
        kube.fail("GET", "/log", 500)
        stream = lp.stream("run-1")
        async with contextlib.aclosing(stream):
            async for batch in stream:
                if not batch:
                    break  # the client has gone: the consumer closes the generator
        calls = len(kube.calls)
        await asyncio.sleep(0.3)
        assert len(kube.calls) == calls

    run(test)


def test_a_job_name_clash_never_adopts_another_agents_job() -> None:
    async def test() -> None:
        kube, lp = launcher()
        name = job_name("agent-1", "run-1")
        await kube.create(
            f"/apis/batch/v1/namespaces/{NS}/jobs",
            {
                "metadata": {
                    "name": name,
                    "annotations": {
                        "paperclip.io/agent-id": "other-agent",
                        "paperclip.io/run-id": "other-run",
                    },
                },
                "spec": {"template": {"metadata": {}, "spec": {}}},
            },
        )
        with pytest.raises(JobClash, match="other-agent"):
            await lp.start(request())
        assert not [s for s in kube.of_kind("secrets")]  # nothing mounted into that Job
        # and the agent was not left holding its Lease
        with contextlib.suppress(AgentBusy):
            await lp.start(request("run-x"))

    run(test)


def test_job_names_are_collision_safe() -> None:
    names = {job_name("a" * 40, f"{'r' * 40}{i}") for i in range(20000)}
    assert len(names) == 20000
    assert all(len(n) <= 63 for n in names)


def test_malformed_cursors_are_refused() -> None:
    for bad in (
        "abc",
        "2026-01-01T00:00:00Z|1",
        "2026-01-01T00:00:00.000000000Z|x",
        "2026-01-01T00:00:00.000000000Z|0",
        "9999-99-99T99:99:99.999999999Z|1",
        "|",
        "|0",
    ):
        with pytest.raises(ValueError, match="cursor"):
            Cursor.decode(bad)
    good = Cursor("2026-01-01T00:00:00.000000001Z", 2)
    assert Cursor.decode(good.encode()) == good


async def _stream_for(lp: Launcher, run_id: str, seconds: float) -> None:
    """A client streaming the run's log through this replica for a while, then leaving."""
    stream = lp.stream(run_id)
    async with contextlib.aclosing(stream):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                async for _ in stream:
                    pass


async def _sweeping(lp: Launcher, window: float, tally: list[int]) -> None:
    while True:
        tally.append((await lp.sweep(window))[1])
        await asyncio.sleep(0.01)


def test_a_stream_that_moves_between_replicas_never_cancels_the_run() -> None:
    async def test() -> None:
        kube = FakeKube()
        _, a = launcher(kube)
        _, b = launcher(kube)
        window = 0.25  # the configured cancel window
        started = await a.start(request())
        tallies: list[list[int]] = [[], []]
        sweeps = [
            asyncio.ensure_future(_sweeping(r, window, t))
            for r, t in zip((a, b), tallies, strict=True)
        ]
        try:
            for replica in (a, b, a, b, a, b):  # the client lands on either replica
                await _stream_for(replica, "run-1", 0.15)
                await asyncio.sleep(0.1)  # reconnect delay, shorter than the window
            job = kube.objects[(NS, "jobs", started.job)]
            assert ANNOTATION_CANCELLED not in job["metadata"]["annotations"]
            assert sum(map(sum, tallies)) == 0
            # ... and once the client really goes, exactly one replica cancels, once
            await soon("the cancel", lambda: (NS, "jobs", started.job) not in kube.objects)
            await asyncio.sleep(0.1)
        finally:
            for sweep in sweeps:
                sweep.cancel()
        assert sum(map(sum, tallies)) == 1
        cancels = [c for c in kube.calls if c[0] == "DELETE" and "/jobs/" in c[1]]
        assert len(cancels) == 1

    run(test)


def test_of_two_replicas_noticing_at_once_one_cancels() -> None:
    async def test() -> None:
        kube = FakeKube()
        _, a = launcher(kube)
        _, b = launcher(kube)
        started = await a.start(request())
        await asyncio.sleep(0.05)
        answers = await asyncio.gather(a.sweep(0.01), b.sweep(0.01))
        assert sorted(cancelled for _, cancelled in answers) == [0, 1]
        assert (NS, "jobs", started.job) not in kube.objects

    run(test)


def test_a_heartbeat_landing_first_saves_the_run() -> None:
    async def test() -> None:
        kube, lp = launcher()
        started = await lp.start(request())
        await asyncio.sleep(0.05)
        stale = await lp.find_job("run-1")
        assert stale is not None
        await lp.heartbeat(started.job)  # a client reattached in between
        answer = await lp.cancel("run-1", job=stale, reason="client-gone")
        assert answer["cancelled"] is False
        assert (NS, "jobs", started.job) in kube.objects

    run(test)


def test_a_user_cancel_of_a_retained_run_suspends_the_job() -> None:
    async def test() -> None:
        kube, lp = launcher()
        started = await lp.start(
            RunRequest(agent_id="a", run_id="k", company_id="c", template="keep")
        )
        assert (await lp.cancel("k"))["cancelled"] is True
        job = kube.objects[(NS, "jobs", started.job)]
        assert job["spec"]["suspend"] is True
        assert job["metadata"]["annotations"][ANNOTATION_REASON] == "requested"
        result = (await collect(lp, "k"))[-1]
        assert result["cancelled"] is True and result["exitCode"] == 143

    run(test)


def test_a_rotated_token_file_is_read_again(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    source = TokenSource(Connection(server="https://x", token_file=str(token)), 3600)
    assert source.get() == "first"
    token.write_text("second\n")
    assert source.get() == "first"  # cached ...
    assert source.get(fresh=True) == "second"  # ... until a 401 asks for a fresh read
    expiring = TokenSource(Connection(server="https://x", token_file=str(token)), 0)
    token.write_text("third\n")
    assert expiring.get() == "third"


def test_a_kubelet_message_in_the_log_never_becomes_a_cursor() -> None:
    async def test() -> None:
        kube, lp = launcher()
        started = await lp.start(request())
        pod = pod_of(kube, started.job)
        kube.append_log(NS, pod, "a")
        # what kwok (and kubelets) send instead of the log when they cannot follow it
        kube.append_log(NS, pod, "to create fsnotify watcher: too many open files", stamp="failed")
        kube.append_log(NS, pod, "b")
        task = asyncio.ensure_future(collect(lp, "run-1"))
        await asyncio.sleep(0.05)
        kube.cut_streams()
        kube.append_log(NS, pod, "c")
        kube.end_pod(NS, pod)
        records = await task
        assert [r["text"] for r in records if r["type"] == "line"] == ["a", "b", "c"]
        assert records[-1]["exitCode"] == 0

    run(test)


def test_a_run_that_times_out_before_its_pod_starts_is_a_timeout() -> None:
    """activeDeadlineSeconds can pass while the pod still waits (a slow image pull), or the
    stream comes back after the Job controller removed a timed-out pod: the run timed out."""

    async def test() -> None:
        kube, lp = launcher(FakeKube(auto_pods=False))
        started = await lp.start(request(timeout_seconds=60))
        job = kube.objects[(NS, "jobs", started.job)]
        job["status"] = {
            "conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]
        }
        result = (await collect(lp, "run-1"))[-1]
        assert (result["timedOut"], result["exitCode"], result["errorCode"]) == (
            True,
            124,
            "timeout",
        )
        assert not (await lp.start(request("run-2"))).reattached  # the agent is free again

    run(test)


def test_a_run_id_names_one_agents_run() -> None:
    """Another agent's start with a run id in use is refused (it made a second Job of that
    run id: status, log and cancel then reached whichever Job the API server listed first,
    e.g. streaming one agent's log to another's run)."""

    async def test() -> None:
        kube, lp = launcher()
        await lp.start(request("run-1", agent="agent-1"))
        with pytest.raises(JobClash, match="agent-1"):
            await lp.start(request("run-1", agent="agent-2"))
        assert len(kube.of_kind("jobs")) == 1
        # agent-2 was not left holding its Lease
        assert not (await lp.start(request("run-2", agent="agent-2"))).reattached
        # and starting both at once leaves at most one run of that id
        results = await asyncio.gather(
            lp.start(request("same", agent="a")),
            lp.start(request("same", agent="b")),
            return_exceptions=True,
        )
        assert all(isinstance(r, JobClash) for r in results if isinstance(r, BaseException))
        owners = {
            job["metadata"]["annotations"]["paperclip.io/agent-id"]
            for job in kube.of_kind("jobs")
            if job["metadata"]["annotations"]["paperclip.io/run-id"] == "same"
            and not job["metadata"].get("deletionTimestamp")
        }
        assert len(owners) <= 1
        assert sum(not isinstance(r, BaseException) for r in results) == len(owners)

    run(test)
