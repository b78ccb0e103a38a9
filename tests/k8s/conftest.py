"""Fixtures of the control-plane tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.controlplane.cluster import LOG_NAMESPACES, ControlPlane
from tests.k8s.harness import LauncherProcess, prepare_namespace


@pytest.fixture
def launchers(
    control_plane: ControlPlane, tmp_path: Path
) -> Iterator[Callable[..., LauncherProcess]]:
    """Starts launcher processes against the control plane (``launchers(namespace, **kw)``),
    each in a prepared namespace with an empty kwok log; stops them after the test."""
    started: list[LauncherProcess] = []

    def make(namespace: str, **kwargs: Any) -> LauncherProcess:
        prepare_namespace(control_plane, namespace)
        if namespace in LOG_NAMESPACES:
            control_plane.log_file(namespace).write_text("")
        work = tmp_path / f"launcher-{len(started)}"
        work.mkdir()
        process = LauncherProcess(control_plane, namespace, work, **kwargs).start()
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()
        print(process.log_tail())  # pytest shows captured output for failing tests only
