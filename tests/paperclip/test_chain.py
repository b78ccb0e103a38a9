"""The whole chain, real at every hop: the real Paperclip server runs an agent configured
exactly as dist/quickstart/agents/ says (process adapter, `node …/paperclip-launch.mjs
--template opencode`, the client from the generated ConfigMap), the real launcher process runs
with the token of its generated ServiceAccount against the test control plane, and the Job's
pod on the kwok node serves its container log through the API server. Everything is asserted
through Paperclip's own API."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.controlplane.cluster import ControlPlane, free_port
from tests.k8s.harness import LauncherProcess, apply, cri, finish, kubeconfig_for, wait_for
from tests.paperclip.conftest import local_trusted_env
from tests.paperclip.dist_env import read_objects
from tests.paperclip.server import (
    TERMINAL,
    PaperclipApi,
    PaperclipError,
    PaperclipServer,
    Runner,
    output_lines,
)

pytestmark = [pytest.mark.paperclip, pytest.mark.k8s, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
APP = "quickstart"
NAMESPACE = "logs-9"  # kwok serves this namespace's container logs from a file
CLIENT_MOUNT = "/opt/paperclip-launcher"  # where the generated pod mounts the client ConfigMap
# What the template's `opencode run --format json` prints (the launcher parses it).
OPENCODE_EVENTS = [
    {"type": "step_start", "sessionID": "ses_e2e1", "part": {"type": "step-start"}},
    {"type": "text", "sessionID": "ses_e2e1", "part": {"type": "text", "text": "Done in k8s."}},
    {
        "type": "step_finish",
        "sessionID": "ses_e2e1",
        "part": {
            "reason": "stop",
            "cost": 0.5,
            "tokens": {"input": 100, "output": 40, "reasoning": 2, "cache": {"read": 10}},
        },
    },
]


def dist_objects() -> dict[str, dict[str, Any]]:
    """The quickstart's generated objects as committed, 'Kind/name' -> object."""
    return {
        f"{o['kind']}/{o['metadata']['name']}": o
        for o in read_objects(REPO / "dist" / APP / "kustomize")
    }


def in_namespace(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    text = json.dumps(obj).replace('"namespace": "paperclip"', f'"namespace": "{namespace}"')
    moved: dict[str, Any] = json.loads(text)
    return moved


def agent_config(client_dir: Path, template: str = "opencode") -> dict[str, Any]:
    """dist/quickstart/agents/quickstart-<template>.json, with the client's mount path mapped
    to where the test wrote the generated ConfigMap's files."""
    path = REPO / "dist" / APP / "agents" / f"{APP}-{template}.json"
    config: dict[str, Any] = json.loads(path.read_text())
    adapter = config["adapterConfig"]
    adapter["args"] = [
        str(client_dir) + a[len(CLIENT_MOUNT) :] if a.startswith(CLIENT_MOUNT + "/") else a
        for a in adapter["args"]
    ]
    return config


@dataclass
class DistLauncher(LauncherProcess):
    """The launcher process exactly as the generated Deployment runs it (its args, its
    templates.json, its ServiceAccount's token), against the test control plane."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)

    def start(self) -> DistLauncher:
        deployment = self.objects[f"Deployment/{APP}-launcher"]
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        config_map = self.objects[f"ConfigMap/{APP}-launcher"]
        mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
        config_dir = self.workdir / "config"
        config_dir.mkdir()
        for name, text in config_map["data"].items():
            templates = json.loads(text)
            templates["namespace"] = self.namespace
            (config_dir / name).write_text(json.dumps(templates))
        args = [a.replace(mount["mountPath"], str(config_dir)) for a in container["args"]]
        args[args.index("--port") + 1] = str(self.port)
        sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        kubeconfig = kubeconfig_for(
            self.plane,
            self.plane.mint_token(self.namespace, sa),
            self.workdir / "kubeconfig",
            namespace=self.namespace,
        )
        log = open(self.workdir / "launcher.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "launcher",
                *args,
                "--kubeconfig",
                str(kubeconfig),
                "--host",
                "127.0.0.1",
            ],
            env={**os.environ, "PAPERCLIP_LAUNCHER_TOKEN": self.token},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for("launcher health", self._health, 20)
        return self


def prepare(plane: ControlPlane, objects: dict[str, dict[str, Any]]) -> None:
    """The namespace with the generated launcher RBAC, ServiceAccounts and workspace claim
    (bound to a static PV: the test control plane has no provisioner)."""
    core: Any = client.CoreV1Api(plane.api_client())
    with contextlib.suppress(ApiException):
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    wait_for("default SA", lambda: core.read_namespaced_service_account("default", NAMESPACE))
    for key, obj in objects.items():
        kind = key.split("/")[0]
        if kind in {"ServiceAccount", "Role", "RoleBinding", "NetworkPolicy"}:
            apply(plane, in_namespace(obj, NAMESPACE))
    claim = in_namespace(objects[f"PersistentVolumeClaim/{APP}-agent-workspace"], NAMESPACE)
    with contextlib.suppress(ApiException):
        core.create_persistent_volume(
            {
                "metadata": {"name": f"{NAMESPACE}-{APP}-workspace"},
                "spec": {
                    "capacity": claim["spec"]["resources"]["requests"],
                    "accessModes": claim["spec"]["accessModes"],
                    "hostPath": {"path": "/tmp/agent-workspace"},
                    "storageClassName": claim["spec"].get("storageClassName", ""),
                    "claimRef": {"namespace": NAMESPACE, "name": claim["metadata"]["name"]},
                },
            }
        )
    apply(plane, claim)
    wait_for(
        "the workspace claim to bind",
        lambda: (
            core.read_namespaced_persistent_volume_claim(
                claim["metadata"]["name"], NAMESPACE
            ).status.phase
            == "Bound"
        ),
    )


@dataclass
class Chain:
    plane: ControlPlane
    launcher: DistLauncher
    server: PaperclipServer
    api: PaperclipApi
    company: str
    client_dir: Path
    figures: dict[str, float] = field(default_factory=dict)
    agents: int = 0

    def agent(self, **adapter_overrides: Any) -> str:
        config = agent_config(self.client_dir)
        config["adapterConfig"].update(adapter_overrides)
        self.agents += 1
        return str(self.api.agent(self.company, f"agent-{self.agents}", config)["id"])

    def log(self, lines: list[str]) -> None:
        """What kwok serves as the log of the next Job's container."""
        self.plane.log_file(NAMESPACE).write_text("".join(cri(line) for line in lines))

    def pods(self, agent: str) -> list[Any]:
        core: Any = client.CoreV1Api(self.plane.api_client())
        return list(
            core.list_namespaced_pod(
                NAMESPACE, label_selector=f"paperclip.io/agent-id={agent}"
            ).items
        )

    def jobs(self, agent: str) -> list[Any]:
        batch: Any = client.BatchV1Api(self.plane.api_client())
        return list(
            batch.list_namespaced_job(
                NAMESPACE, label_selector=f"paperclip.io/agent-id={agent}"
            ).items
        )

    def pod_of(self, run: str) -> Any:
        core: Any = client.CoreV1Api(self.plane.api_client())
        return wait_for(
            f"the pod of run {run}",
            lambda: next(
                iter(
                    core.list_namespaced_pod(
                        NAMESPACE, label_selector=f"paperclip.io/run-id={run}"
                    ).items
                ),
                None,
            ),
            60,
        )

    def live_jobs(self, agent: str) -> list[Any]:
        return [
            j
            for j in self.jobs(agent)
            if j.metadata.deletion_timestamp is None
            and not any(
                c.type in ("Complete", "Failed") and c.status == "True"
                for c in j.status.conditions or []
            )
        ]

    def diagnostics(self) -> str:
        return (
            f"--- launcher log ---\n{self.launcher.log_tail()}\n"
            f"--- server log ---\n{self.server.log_tail(3000)}"
        )


@pytest.fixture(scope="module")
def chain(
    control_plane: ControlPlane,
    paperclip_runner: Runner,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Chain]:
    objects = dist_objects()
    prepare(control_plane, objects)
    work = tmp_path_factory.mktemp("chain")
    client_dir = paperclip_runner.workdir("opt-paperclip-launcher")
    for name, text in objects[f"ConfigMap/{APP}-launcher-client"]["data"].items():
        (client_dir / name).write_text(text)
    launcher_dir = work / "launcher"
    launcher_dir.mkdir()
    launcher = DistLauncher(
        control_plane, NAMESPACE, launcher_dir, extra_args=[], objects=objects
    ).start()
    # The Paperclip pod's launcher settings: the URL from the generated ConfigMap (here the
    # local launcher), the token from the generated Secret reference.
    port = free_port()
    server_dir = paperclip_runner.workdir("chain-server")
    home = paperclip_runner.own(server_dir / "home")
    env = local_trusted_env(
        home,
        port,
        AGENT_LAUNCHER_URL=launcher.url,
        AGENT_LAUNCHER_TOKEN=launcher.token,
    )
    server = PaperclipServer(paperclip_runner, server_dir, env, port)
    failure = ""
    try:
        server.start()
    except PaperclipError as exc:
        failure = str(exc)
    if failure:
        launcher.stop()
        pytest.fail(failure, pytrace=False)
    api = server.api
    company = str(api.company("e2e")["id"])
    chain = Chain(control_plane, launcher, server, api, company, client_dir)
    chain.figures["server start (s)"] = server.started_seconds
    yield chain
    server.stop()
    launcher.stop()
    print("figures:", json.dumps({k: round(v, 3) for k, v in chain.figures.items()}))


def wait_first_line(api: PaperclipApi, run: str, line: str, timeout: float = 90) -> float:
    start = time.monotonic()
    while line not in output_lines(api.log_text(run, "stdout")):
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{line!r} did not reach the run log in {timeout:.0f}s")
        status = api.run(run)["status"]
        if status in ("failed", "cancelled", "timed_out"):
            raise AssertionError(f"run {run} ended {status} before its first line")
        time.sleep(0.05)
    return time.monotonic()


def test_a_run_goes_through_the_whole_chain(chain: Chain) -> None:
    lines = [json.dumps(e) for e in OPENCODE_EVENTS] + [f"plain line {i}" for i in range(5)]
    chain.log(lines)
    agent = chain.agent()
    woken = time.monotonic()
    run = chain.api.wakeup(agent)["id"]
    try:
        first = wait_first_line(chain.api, run, lines[0])
        chain.figures["wakeup -> first log line in Paperclip (s)"] = first - woken
        pod = chain.pod_of(run)
        [job] = chain.jobs(agent)
        assert job.metadata.labels["paperclip.io/run-id"] == run
        assert job.metadata.labels["paperclip.io/template"] == "opencode"
        finished = time.monotonic()
        finish(chain.plane, NAMESPACE, pod.metadata.name)
        result = chain.api.wait_run(run)
        chain.figures["container exit -> run succeeded (s)"] = time.monotonic() - finished
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{chain.diagnostics()}") from None
    assert result["status"] == "succeeded", result
    assert result["exitCode"] == 0
    assert output_lines(chain.api.log_text(run, "stdout")) == lines
    stderr = chain.api.log_text(run, "stderr")
    assert f"started job {job.metadata.name}" in stderr
    assert "[paperclip-launch] session ses_e2e1" in stderr
    assert '"summary":"Done in k8s."' in stderr, stderr
    assert (
        '[paperclip-launch] usage {"inputTokens":100,"outputTokens":42,"cachedInputTokens":10}'
        " cost 0.5" in stderr
    ), stderr


def test_a_multi_megabyte_log_arrives_whole_and_in_order(chain: Chain) -> None:
    lines = [f"{i:06d} " + "abcdefghij" * 10 for i in range(50_000)]  # 5.3 MB
    chain.log(lines)
    agent = chain.agent()
    run = chain.api.wakeup(agent)["id"]
    pod = chain.pod_of(run)
    finish(chain.plane, NAMESPACE, pod.metadata.name)
    result = chain.api.wait_run(run, timeout=240)
    assert result["status"] == "succeeded", f"{result}\n{chain.diagnostics()}"
    got = output_lines(chain.api.log_text(run, "stdout"))
    assert len(got) == len(lines), f"{len(got)} lines in Paperclip, {len(lines)} in the container"
    assert got == lines


def test_a_non_zero_exit_fails_the_run_with_that_code(chain: Chain) -> None:
    chain.log(["about to fail"])
    agent = chain.agent()
    run = chain.api.wakeup(agent)["id"]
    pod = chain.pod_of(run)
    finish(chain.plane, NAMESPACE, pod.metadata.name, "failed", exit_code=7)
    result = chain.api.wait_run(run)
    assert result["status"] == "failed", result
    assert result["exitCode"] == 7
    assert "7" in (result.get("error") or ""), result
    assert output_lines(chain.api.log_text(run, "stdout")) == ["about to fail"]


def test_cancelling_the_run_in_paperclip_deletes_the_job(chain: Chain) -> None:
    chain.log(["working"])
    agent = chain.agent()
    run = chain.api.wakeup(agent)["id"]
    wait_first_line(chain.api, run, "working")
    assert len(chain.live_jobs(agent)) == 1
    chain.api.cancel(run)
    result = chain.api.wait_run(run)
    assert result["status"] == "cancelled", result
    wait_for("the Job to be deleted", lambda: not chain.live_jobs(agent), 60)
    assert "[paperclip-launch] run cancelled" in chain.api.log_text(run, "stderr")


def test_a_paperclip_timeout_ends_the_job(chain: Chain) -> None:
    chain.log(["slow work"])
    agent = chain.agent(timeoutSec=4, graceSec=10)
    run = chain.api.wakeup(agent)["id"]
    wait_first_line(chain.api, run, "slow work")
    result = chain.api.wait_run(run, timeout=60)
    assert result["status"] == "timed_out", result
    wait_for("the Job to be deleted", lambda: not chain.live_jobs(agent), 60)


def run_to_the_end(chain: Chain, agent: str, runs: list[str]) -> dict[str, dict[str, Any]]:
    """Finish every pod of the agent as it appears, until every run has ended; records the
    most Jobs that were live at once."""
    deadline = time.monotonic() + 180
    chain.figures.setdefault("most live Jobs of one agent", 0)
    while time.monotonic() < deadline:
        live = chain.live_jobs(agent)
        chain.figures["most live Jobs of one agent"] = max(
            chain.figures["most live Jobs of one agent"], len(live)
        )
        for pod in chain.pods(agent):
            if pod.status.phase == "Running" and "kwok-test/finish" not in (
                pod.metadata.labels or {}
            ):
                time.sleep(1)  # let its log be read before it ends
                finish(chain.plane, NAMESPACE, pod.metadata.name)
        ended = {r: chain.api.run(r) for r in runs}
        if all(run["status"] in TERMINAL for run in ended.values()):
            return ended
        time.sleep(0.2)
    raise AssertionError(f"runs {runs} did not end\n{chain.diagnostics()}")


def test_two_wakeups_of_one_agent_never_give_two_jobs(chain: Chain) -> None:
    """Paperclip starts both runs at once (an agent's default maxConcurrentRuns is 20); the
    launcher's per-agent Lease refuses the second, which fails as "agent busy"."""
    chain.log(["one at a time"])
    agent = chain.agent()
    runs = [chain.api.wakeup(agent, reason=r)["id"] for r in ("first", "second")]
    assert runs[0] != runs[1]
    chain.figures["most live Jobs of one agent"] = 0
    ended = run_to_the_end(chain, agent, runs)
    assert chain.figures["most live Jobs of one agent"] == 1
    assert len(chain.jobs(agent)) == 1, "a second Job was created"
    by_status = {run["status"]: run for run in ended.values()}
    assert sorted(by_status) == ["failed", "succeeded"], ended
    busy = by_status["failed"]
    assert busy["exitCode"] == 1
    assert "agent busy" in chain.api.log_text(busy["id"], "stderr")
    assert output_lines(chain.api.log_text(by_status["succeeded"]["id"], "stdout")) == [
        "one at a time"
    ]


def test_one_run_at_a_time_queues_the_second_wakeup(chain: Chain) -> None:
    """With the agent's maxConcurrentRuns at 1, Paperclip queues the second wakeup: both
    runs succeed, one Job after the other."""
    chain.log(["queued work"])
    config = agent_config(chain.client_dir)
    config["runtimeConfig"] = {"heartbeat": {"maxConcurrentRuns": 1}}
    chain.agents += 1
    agent = str(chain.api.agent(chain.company, f"agent-{chain.agents}", config)["id"])
    runs = [chain.api.wakeup(agent, reason=r)["id"] for r in ("first", "second")]
    chain.figures["most live Jobs of one agent"] = 0
    ended = run_to_the_end(chain, agent, runs)
    assert chain.figures["most live Jobs of one agent"] == 1
    assert [run["status"] for run in ended.values()] == ["succeeded", "succeeded"], ended
    assert len(chain.jobs(agent)) == 2
