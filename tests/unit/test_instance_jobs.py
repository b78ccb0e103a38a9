"""Writers' instance jobs: run beside validation only for valid objects, and taken back by the
main process when the helper has not started them."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from constructs_lib.render import synth
from constructs_lib.render.validate import check_and_dump

VERSION = "1.33"


def _size(tag: str, objects: list[dict[str, Any]]) -> tuple[str, int]:
    return tag, len(objects)


def _config_map(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {}}


def test_a_job_runs_after_the_objects_are_valid() -> None:
    jobs = [("writer", _size, ("x",))]
    problems, texts, done = check_and_dump([_config_map("ok")], VERSION, "f.yaml", "i", [], jobs)
    assert problems == [] and len(texts) == 1
    assert done == {"writer": ("x", 1)}


def test_no_job_runs_for_invalid_objects() -> None:
    jobs = [("writer", _size, ("x",))]
    problems, _, done = check_and_dump([_config_map("Not_OK")], VERSION, "f.yaml", "i", [], jobs)
    assert problems, "an invalid name is a problem"
    assert done == {}


def test_jobs_the_helper_has_not_started_run_here_in_order() -> None:
    started = threading.Event()
    release = threading.Event()

    def busy() -> tuple[list[Any], list[str], dict[str, Any]]:
        started.set()
        release.wait(10)
        return [], ["first"], {}

    calls: list[tuple[Any, ...]] = [
        (),
        *[([_config_map(f"cm-{i}")], VERSION, "f.yaml", f"i{i}") for i in range(5)],
    ]
    with ThreadPoolExecutor(max_workers=1) as pool:
        results: list[Future[Any]] = [pool.submit(busy)]
        started.wait(10)
        results += [pool.submit(check_and_dump, *call) for call in calls[1:]]
        synth._take_back(results, calls)
        # every job after the running one was taken back and is already done here
        assert all(f.done() for f in results[1:])
        assert not results[0].done()
        release.set()
        texts = [f.result()[1] for f in results]
    assert texts[0] == ["first"]
    assert [t[0].split("name: ")[1].split("\n")[0] for t in texts[1:]] == [
        f"cm-{i}" for i in range(5)
    ]
