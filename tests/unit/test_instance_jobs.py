"""Writers' instance jobs: they run only for valid objects, in the process that kept them, and
the main process takes back the tasks the helper has not started."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from constructs_lib.render import synth
from constructs_lib.render.validate import check_and_dump, run_jobs

VERSION = "1.33"


def _size(tag: str, objects: list[dict[str, Any]]) -> tuple[str, int]:
    return tag, len(objects)


def _config_map(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {}}


JOBS = [("writer", _size, ("x",))]


def test_a_job_runs_on_the_objects_kept_as_valid() -> None:
    problems, texts = check_and_dump([_config_map("ok")], VERSION, "f.yaml", "i", [], ("r1", 0))
    assert problems == [] and len(texts) == 1
    assert run_jobs(("r1", 0), JOBS) == {"writer": ("x", 1)}
    assert run_jobs(("r1", 0), JOBS) is None, "kept objects serve one job call"


def test_no_job_runs_for_invalid_objects() -> None:
    problems, _ = check_and_dump([_config_map("Not_OK")], VERSION, "f.yaml", "i", [], ("r2", 0))
    assert problems, "an invalid name is a problem"
    assert run_jobs(("r2", 0), JOBS) is None


def test_a_new_run_forgets_the_objects_of_earlier_runs() -> None:
    check_and_dump([_config_map("a")], VERSION, "f.yaml", "i", [], ("r3", 0))
    check_and_dump([_config_map("b")], VERSION, "f.yaml", "i", [], ("r4", 0))
    assert run_jobs(("r3", 0), JOBS) is None
    assert run_jobs(("r4", 0), JOBS) == {"writer": ("x", 1)}


def test_tasks_the_helper_has_not_started_run_here_from_the_last_back() -> None:
    started = threading.Event()
    release = threading.Event()
    ran_here: list[int] = []

    def busy() -> str:
        started.set()
        release.wait(10)
        return "helper"

    def here(index: int) -> str:
        ran_here.append(index)
        return f"here {index}"

    with ThreadPoolExecutor(max_workers=1) as pool:
        futures: list[Future[Any]] = [pool.submit(busy)]
        started.wait(10)
        futures += [pool.submit(str, i) for i in range(1, 6)]
        synth._take_back(futures, [lambda: "unused", *[lambda i=i: here(i) for i in range(1, 6)]])
        # every task after the running one was taken back and is already done here
        assert all(f.done() for f in futures[1:])
        assert not futures[0].done()
        release.set()
        results = [f.result() for f in futures]
    assert results == ["helper", *[f"here {i}" for i in range(1, 6)]]
    assert ran_here == [5, 4, 3, 2, 1]


def test_taken_back_jobs_wait_for_their_check_and_skip_invalid_instances() -> None:
    """Jobs run here consult their instance's check: an invalid instance gets no job result,
    a check the helper has not started is taken back too, and the take-back goes on past
    checks taken back that way (out of order)."""
    release = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        tasks = synth._Tasks(pool)
        blocker = pool.submit(release.wait, 10)
        tasks.check(0, [_config_map("good")], VERSION, "f.yaml", "good", [])
        tasks.jobs(0, JOBS)
        tasks.check(1, [_config_map("Bad_Name")], VERSION, "f.yaml", "bad", [])
        tasks.jobs(1, JOBS)
        results = list(tasks.results())  # everything is taken back: the helper is blocked
        release.set()
        # the helper was still blocked when every result was in: nothing waited for it
        assert blocker.result() is True
    assert [bool(problems) for problems, _, _ in results] == [False, True]
    assert [done for _, _, done in results] == [{"writer": ("x", 1)}, {}]


def test_the_helper_process_dies_with_its_parent(tmp_path: Any) -> None:
    """A synth killed mid-run leaves no helper behind (the parent here exits without any
    clean-up, as a SIGKILL would)."""
    import os
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import os\n"
        "from constructs_lib.render import synth\n"
        "if __name__ == '__main__':\n"
        "    print(synth._helper_pool().submit(os.getpid).result(), flush=True)\n"
        "    os._exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    helper = int(done.stdout.strip())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(helper, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError(f"the helper process {helper} outlived its parent")


def test_the_helper_runs_without_the_cycle_collector() -> None:
    import gc

    assert synth._helper_pool().submit(gc.isenabled).result(timeout=120) is False


def test_a_new_run_collects_an_earlier_runs_cycles_where_the_collector_is_off() -> None:
    """The helper (and the command line) keep the collector off; a long-lived one (a test
    session's helper) still frees an earlier synthesis' cyclic garbage when the next starts."""
    import gc
    import weakref

    from constructs_lib.render.helper_process import RunStore

    class Node:
        other: Any = None

    store: RunStore[int, Node] = RunStore()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: reference counting alone never frees it
        gone = weakref.ref(a)
        store.put("run-1", 0, a)
        del a, b
        store.put("run-1", 1, Node())  # the same run: nothing is collected
        assert gone() is not None
        store.put("run-2", 0, Node())  # a new run: the first run's values and cycles go
        assert gone() is None
        assert store.get("run-1", 0) is None
    finally:
        if was_enabled:
            gc.enable()
