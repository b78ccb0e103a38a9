"""The synthesis helper process: its set-up and the state it keeps between tasks (kept free
of jsii and of the spec models)."""

from __future__ import annotations

import gc
import itertools
import os
from typing import Generic, TypeVar

from constructs_lib.lifetime import die_with_parent

K = TypeVar("K")
V = TypeVar("V")


def start_helper(parent: int) -> None:
    """Pool initializer of the synthesis helper: it dies with ``parent``, and runs without the
    cyclic garbage collector (see :func:`collect_between_runs`): its tasks make short-lived,
    acyclic data, and the collector's passes over the growing heap cost a tenth of the
    helper's time."""
    die_with_parent(parent)
    gc.disable()


def collect_between_runs() -> None:
    """Where the collector is off (the helper, the command line), collect once when a new
    synthesis starts, so a long-lived process does not keep an earlier run's cycles."""
    if not gc.isenabled():
        gc.collect()


_RUNS = itertools.count()


def new_run() -> str:
    """An id for one synthesis' state kept in a helper process (unique across processes)."""
    return f"{os.getpid()}-{next(_RUNS)}"


class RunStore(Generic[K, V]):
    """Values a process keeps for one run (a synthesis) between the tasks it is given; putting
    a value for a new run forgets every earlier run's."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, K], V] = {}

    def put(self, run: str, key: K, value: V) -> None:
        old = [k for k in self._values if k[0] != run]
        for key_of_old in old:
            del self._values[key_of_old]
        if old:
            collect_between_runs()
        self._values[(run, key)] = value

    def get(self, run: str, key: K) -> V | None:
        return self._values.get((run, key))

    def pop(self, run: str, key: K) -> V | None:
        return self._values.pop((run, key), None)
