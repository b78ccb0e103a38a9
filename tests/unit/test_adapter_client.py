"""The k8s_launcher adapter's execute() (driven as Paperclip drives it, tests/adapter/drive.mjs)
against the launcher service (over the in-memory Kube) behind a gate that can take the
launcher away: outages separated by progress never add up to "unreachable", one outage longer
than the window does; nothing is lost or repeated."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.fakekube import FakeKube
from tests.tcpproxy import TcpProxy
from tests.unit.test_launcher_support import NS, TOKEN, Service

DRIVER = Path(__file__).resolve().parents[1] / "adapter" / "drive.mjs"
WINDOW_MS = 1500


@pytest.fixture
def gated() -> Iterator[tuple[Service, TcpProxy]]:
    with Service() as service, TcpProxy(service.port) as gate:
        yield service, gate


def client(gate: TcpProxy, run: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "AGENT_LAUNCHER_URL": f"http://127.0.0.1:{gate.port}",
        "AGENT_LAUNCHER_TOKEN": TOKEN,
        "AGENT_LAUNCHER_RESUME_MS": str(WINDOW_MS),
    }
    ctx = {
        "runId": run,
        "agent": {"id": f"agent-{run}", "companyId": "co", "name": "Agent"},
        "config": {"template": "plain"},
    }
    node = shutil.which("node")
    assert node, "node (20+) is required by the adapter tests"
    return subprocess.Popen(
        [node, str(DRIVER), json.dumps(ctx)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result_of(err: str) -> dict[str, object]:
    [line] = [line for line in err.splitlines() if line.startswith("RESULT ")]
    parsed: dict[str, object] = json.loads(line[len("RESULT ") :])
    return parsed


def pod_name(service: Service, run: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pods = service.inspect(
            lambda kube: [
                p["metadata"]["name"]
                for p in kube.of_kind("pods")
                if p["metadata"]["labels"].get("paperclip.io/run-id") == run
            ]
        )
        if pods:
            return str(pods[0])
        time.sleep(0.02)
    raise AssertionError(f"no pod for run {run}")


def write_lines(service: Service, pod: str, texts: list[str], pause: float) -> None:
    for text in texts:

        def append(kube: FakeKube, text: str = text) -> None:
            kube.append_log(NS, pod, text)

        service.inspect(append)
        time.sleep(pause)


def test_two_outages_separated_by_progress_do_not_fail_the_run(
    gated: tuple[Service, TcpProxy],
) -> None:
    service, gate = gated
    node = client(gate, "two-outages")
    pod = pod_name(service, "two-outages")
    expected = []
    for phase in range(3):
        texts = [f"phase {phase} line {i}" for i in range(12)]
        expected += texts
        write_lines(service, pod, texts, 0.2)  # 2.4 s of progress: more than the window
        if phase < 2:
            gate.outage(1.0)  # shorter than the window; together longer
    service.inspect(lambda kube: kube.end_pod(NS, pod, 0))
    out, err = node.communicate(timeout=60)
    assert node.returncode == 0, err
    assert out.splitlines() == expected  # nothing lost, nothing twice
    assert err.count("reattaching") >= 2
    assert result_of(err)["exitCode"] == 0


def test_one_outage_longer_than_the_window_fails_the_run(gated: tuple[Service, TcpProxy]) -> None:
    service, gate = gated
    node = client(gate, "long-outage")
    pod = pod_name(service, "long-outage")
    write_lines(service, pod, ["before"], 0.3)
    began = time.monotonic()
    threading.Thread(target=gate.outage, args=(8.0,), daemon=True).start()
    out, err = node.communicate(timeout=60)
    assert node.returncode == 1
    assert f"stayed unreachable for {WINDOW_MS / 1000}s" in err
    assert result_of(err)["errorCode"] == "launcher_unreachable"
    assert out == "before\n"
    assert time.monotonic() - began < 8.0  # it gave up during the outage
