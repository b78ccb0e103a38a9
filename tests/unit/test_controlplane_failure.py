"""When a component cannot start, the fixture's error names it and shows its last log lines,
and nothing it started is left running."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controlplane.cluster import COMPONENTS, ControlPlane, ControlPlaneError, binaries


def fake_binaries(directory: Path, failing: str) -> Path:
    directory.mkdir()
    for name in COMPONENTS:
        script = directory / name
        if name == failing:
            script.write_text("#!/bin/sh\necho 'listen tcp: address already in use' >&2\nexit 3\n")
        else:
            script.write_text("#!/bin/sh\nexec sleep 60\n")
        script.chmod(0o755)
    return directory


def test_a_failing_component_is_named_with_its_log(tmp_path: Path) -> None:
    plane = ControlPlane(bin_dir=fake_binaries(tmp_path / "bin", "etcd"), root=tmp_path / "run")
    with pytest.raises(ControlPlaneError) as caught:
        plane.start(timeout=10)
    message = str(caught.value)
    assert "etcd exited with status 3" in message
    assert "address already in use" in message
    assert plane.processes == {}


def test_a_component_that_never_gets_ready_times_out_and_is_stopped(tmp_path: Path) -> None:
    plane = ControlPlane(bin_dir=fake_binaries(tmp_path / "bin", "none"), root=tmp_path / "run")
    with pytest.raises(ControlPlaneError, match="etcd was not ready within 2s"):
        plane.start(timeout=2)
    assert plane.processes == {}


def test_missing_binaries_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERCLIP_CONTROLPLANE_BIN", str(tmp_path))
    with pytest.raises(ControlPlaneError, match=r"missing binaries .*: etcd, kube-apiserver"):
        binaries()
