"""The whole chain, real at every hop: the real Paperclip server with the k8s_launcher
adapter installed exactly as the generated manifests install it (the files of the generated
ConfigMap, registered by the generated init container's command), agents configured exactly as
dist/quickstart/agents/ says, the real launcher process with the token of its generated
ServiceAccount against the test control plane, and the Job's pod on the kwok node serving its
container log through the API server. Everything about a run is asserted through Paperclip's
own API: its log, usage, cost and session, cancel."""

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
ADAPTER_TYPE = "k8s_launcher"
SESSION = "ses_e2e1"
# What the template's `opencode run --format json` prints (the launcher parses it).
OPENCODE_EVENTS = [
    {"type": "step_start", "sessionID": SESSION, "part": {"type": "step-start"}},
    {"type": "text", "sessionID": SESSION, "part": {"type": "text", "text": "Done in k8s."}},
    {
        "type": "step_finish",
        "sessionID": SESSION,
        "part": {
            "reason": "stop",
            "cost": 0.5,
            "tokens": {"input": 100, "output": 40, "reasoning": 2, "cache": {"read": 10}},
        },
    },
]
DEAD_SESSION = [
    {
        "type": "error",
        "error": {"name": "NotFoundError", "data": {"message": f"Session not found: {SESSION}"}},
    }
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


def agent_config(template: str = "opencode") -> dict[str, Any]:
    """dist/quickstart/agents/quickstart-<template>.json, as committed."""
    path = REPO / "dist" / APP / "agents" / f"{APP}-{template}.json"
    config: dict[str, Any] = json.loads(path.read_text())
    return config


def install_adapter(
    runner: Runner, objects: dict[str, dict[str, Any]], home: Path, workdir: Path
) -> str:
    """What the generated pod does: the adapter ConfigMap's files at the mount path (here a
    directory of the runner's), then the adapter-install init container's command with its
    env, PAPERCLIP_HOME mapped to the server's home. Returns the command's output."""
    pod = objects[f"StatefulSet/{APP}"]["spec"]["template"]["spec"]
    [init] = [c for c in pod["initContainers"] if c["name"] == "adapter-install"]
    [mount] = [m for m in init["volumeMounts"] if m["name"] == "launcher-adapter"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "launcher-adapter"]
    files = objects[f"ConfigMap/{volume['configMap']['name']}"]["data"]
    adapter_dir = runner.own(workdir / mount["mountPath"].strip("/").replace("/", "-"))
    for name, text in files.items():
        (adapter_dir / name).write_text(text)
    command = [
        str(runner.node) if part == "node" else part.replace(mount["mountPath"], str(adapter_dir))
        for part in init["command"]
    ]
    env = {e["name"]: e["value"] for e in init["env"]}
    assert env == {"PAPERCLIP_HOME": "/paperclip"}  # the data volume, the server's home
    result = subprocess.run(
        [*runner.prefix(), *command],
        env={**runner.env(workdir / "os-home"), "PAPERCLIP_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


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
    install_output: str
    figures: dict[str, float] = field(default_factory=dict)
    agents: int = 0

    def agent(self, **adapter_overrides: Any) -> str:
        config = agent_config()
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

    def job_of(self, run: str) -> Any:
        batch: Any = client.BatchV1Api(self.plane.api_client())
        return self._first_of_run("Job", run, batch.list_namespaced_job)

    def _first_of_run(self, what: str, run: str, lister: Any) -> Any:
        """The first ``what`` labelled with the run's id, once it exists."""
        selector = f"paperclip.io/run-id={run}"
        return wait_for(
            f"the {what} of run {run}",
            lambda: next(iter(lister(NAMESPACE, label_selector=selector).items), None),
            60,
        )

    def run_secret(self, job: Any) -> dict[str, str]:
        import base64

        core: Any = client.CoreV1Api(self.plane.api_client())
        secret = wait_for(
            "the run's Secret",
            lambda: core.read_namespaced_secret(
                job.metadata.annotations["paperclip.io/run-secret"], NAMESPACE
            ),
            30,
        )
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def pod_of(self, run: str) -> Any:
        core: Any = client.CoreV1Api(self.plane.api_client())
        return self._first_of_run("pod", run, core.list_namespaced_pod)

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

    def runs_of(self, agent: str) -> list[dict[str, Any]]:
        answer = self.api.call("GET", f"/companies/{self.company}/heartbeat-runs?agentId={agent}")
        runs: list[dict[str, Any]] = answer if isinstance(answer, list) else answer["runs"]
        return runs

    def task_sessions(self, agent: str) -> list[dict[str, Any]]:
        answer = self.api.call("GET", f"/agents/{agent}/task-sessions")
        sessions: list[dict[str, Any]] = answer if isinstance(answer, list) else answer["sessions"]
        return sessions

    def diagnostics(self) -> str:
        return (
            f"--- launcher log ---\n{self.launcher.log_tail()}\n"
            f"--- server log ---\n{self.server.log_tail(3000)}"
        )


@contextlib.contextmanager
def chain_running(plane: ControlPlane, runner: Runner, work: Path) -> Iterator[Chain]:
    """The generated launcher and a Paperclip server with the generated adapter, on
    ``plane``; raises PaperclipError when the server does not start."""
    objects = dist_objects()
    prepare(plane, objects)
    launcher_dir = work / "launcher"
    launcher_dir.mkdir()
    launcher = DistLauncher(plane, NAMESPACE, launcher_dir, extra_args=[], objects=objects)
    launcher.start()
    try:
        # The Paperclip pod's launcher settings: the URL from the generated ConfigMap (here
        # the local launcher), the token from the generated Secret reference.
        port = free_port()
        server_dir = runner.workdir("chain-server")
        home = runner.own(server_dir / "home")
        install_output = install_adapter(runner, objects, home, server_dir)
        env = local_trusted_env(
            home, port, AGENT_LAUNCHER_URL=launcher.url, AGENT_LAUNCHER_TOKEN=launcher.token
        )
        server = PaperclipServer(runner, server_dir, env, port)
        try:
            server.start()
            api = server.api
            company = str(api.company("e2e")["id"])
            chain = Chain(plane, launcher, server, api, company, install_output)
            chain.figures["server start (s)"] = server.started_seconds
            yield chain
        finally:
            server.stop()
    finally:
        launcher.stop()


@pytest.fixture(scope="module")
def chain(
    control_plane: ControlPlane,
    paperclip_runner: Runner,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Chain]:
    failure = ""
    with contextlib.ExitStack() as stack:
        try:
            running = stack.enter_context(
                chain_running(control_plane, paperclip_runner, tmp_path_factory.mktemp("chain"))
            )
        except PaperclipError as exc:
            failure = str(exc)
        if failure:
            pytest.fail(failure, pytrace=False)
        yield running
        print("figures:", json.dumps({k: round(v, 3) for k, v in running.figures.items()}))


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


def env_of(job: Any) -> dict[str, Any]:
    [container] = job.spec.template.spec.containers
    return {e.name: e.value if e.value is not None else e.value_from for e in container.env}


def test_the_adapter_is_installed_as_the_manifests_install_it(chain: Chain) -> None:
    assert "k8s_launcher" in chain.install_output
    adapters = chain.api.call("GET", "/adapters")
    [ours] = [a for a in adapters if a["type"] == ADAPTER_TYPE]
    assert ours["loaded"] is True and ours.get("source") == "external", ours
    status, parser = http_text(chain, f"/adapters/{ADAPTER_TYPE}/ui-parser.js")
    assert status == 200 and "parseStdoutLine" in parser
    schema = chain.api.call("GET", f"/adapters/{ADAPTER_TYPE}/config-schema")
    template = next(f for f in schema["fields"] if f["key"] == "template")
    assert [o["value"] for o in template["options"]] == ["opencode"]  # from the launcher
    answer = chain.api.call(
        "POST",
        f"/companies/{chain.company}/adapters/{ADAPTER_TYPE}/test-environment",
        {"adapterConfig": agent_config()["adapterConfig"]},
    )
    assert answer["status"] == "pass", answer
    codes = {c["code"] for c in answer["checks"]}
    assert {"launcher_token", "launcher_rbac", "template"} <= codes


def http_text(chain: Chain, path: str) -> tuple[int, str]:
    import urllib.request

    with urllib.request.urlopen(chain.api.base + path, timeout=30) as response:
        return int(response.status), response.read().decode()


def test_an_assigned_issue_runs_with_its_task_and_paperclip_records_usage_cost_and_session(
    chain: Chain,
) -> None:
    lines = [json.dumps(e) for e in OPENCODE_EVENTS] + [f"plain line {i}" for i in range(5)]
    chain.log(lines)
    agent = chain.agent()
    woken = time.monotonic()
    issue = chain.api.call(
        "POST",
        f"/companies/{chain.company}/issues",
        {
            "title": "Fix the flaky build",
            "description": "The nightly build fails one time in three.",
            "assigneeAgentId": agent,
            "status": "todo",
        },
    )
    run = wait_for("the assignment's run", lambda: next(iter(chain.runs_of(agent)), None), 60)["id"]
    try:
        first = wait_first_line(chain.api, run, lines[0])
        chain.figures["wakeup -> first log line in Paperclip (s)"] = first - woken
        job = chain.job_of(run)
        env = env_of(job)
        assert env["PAPERCLIP_TASK_ID"] == issue["id"]
        assert env["PAPERCLIP_WAKE_REASON"] == "issue_assigned"
        assert env["PAPERCLIP_RUN_ID"] == run
        assert env["PAPERCLIP_API_KEY"].secret_key_ref.key == "PAPERCLIP_API_KEY"
        secret = chain.run_secret(job)
        assert "Fix the flaky build" in secret["prompt"], secret["prompt"][:2000]
        assert secret["PAPERCLIP_API_KEY"].count(".") == 2  # the run JWT Paperclip minted
        assert "--session" not in job.spec.template.spec.containers[0].args  # a new task
        finished = time.monotonic()
        finish(chain.plane, NAMESPACE, chain.pod_of(run).metadata.name)
        result = chain.api.wait_run(run)
        chain.figures["Job done -> run finished in Paperclip (s)"] = time.monotonic() - finished
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{chain.diagnostics()}") from None
    assert result["status"] == "succeeded", result
    assert result["exitCode"] == 0
    assert output_lines(chain.api.log_text(run, "stdout")) == lines  # in order, none lost
    assert f"started job {job.metadata.name}" in chain.api.log_text(run, "stderr")
    usage = result["usageJson"]
    assert (usage["inputTokens"], usage["outputTokens"], usage["cachedInputTokens"]) == (
        100,
        42,
        10,
    ), usage
    assert usage["usageSource"] == "per_run" and usage["costUsd"] == 0.5, usage
    assert result["sessionIdAfter"] == SESSION
    # the cost ledger is written just after the run's status (budgets and cost views read it)
    spent = wait_for(
        "the run's cost event",
        lambda: next(
            (
                c
                for c in chain.api.call("GET", f"/companies/{chain.company}/costs/by-agent")
                if c["agentId"] == agent
            ),
            None,
        ),
        30,
    )
    assert spent["costCents"] == 50 and spent["inputTokens"] == 100, spent
    wait_for(
        "the saved session",
        lambda: [s["sessionDisplayId"] for s in chain.task_sessions(agent)] == [SESSION],
        30,
    )


def wake_task(chain: Chain, agent: str, task: str) -> str:
    """A wake of ``agent`` for ``task`` (Paperclip keeps one session per agent and task)."""
    answer = chain.api.call(
        "POST",
        f"/agents/{agent}/wakeup",
        {
            "source": "on_demand",
            "triggerDetail": "manual",
            "reason": "continue",
            "payload": {"taskKey": task},
        },
    )
    assert "id" in answer, answer
    return str(answer["id"])


def test_the_session_is_saved_resumed_and_a_dead_one_cleared(chain: Chain) -> None:
    agent = chain.agent()
    chain.log([json.dumps(e) for e in OPENCODE_EVENTS])
    first = wake_task(chain, agent, "task-1")
    assert "--session" not in chain.job_of(first).spec.template.spec.containers[0].args
    finish(chain.plane, NAMESPACE, chain.pod_of(first).metadata.name)
    assert chain.api.wait_run(first)["status"] == "succeeded"
    wait_for(
        "the saved session",
        lambda: [s["sessionDisplayId"] for s in chain.task_sessions(agent)] == [SESSION],
        30,
    )

    # the next run of the task resumes it
    second = wake_task(chain, agent, "task-1")
    job = chain.job_of(second)
    args = job.spec.template.spec.containers[0].args
    assert args[args.index("--session") + 1] == SESSION
    finish(chain.plane, NAMESPACE, chain.pod_of(second).metadata.name)
    assert chain.api.wait_run(second)["status"] == "succeeded"

    # OpenCode no longer has it: the run says so, Paperclip clears it, the next run is new
    chain.log([json.dumps(e) for e in DEAD_SESSION])
    dead = wake_task(chain, agent, "task-1")
    assert "--session" in chain.job_of(dead).spec.template.spec.containers[0].args
    finish(chain.plane, NAMESPACE, chain.pod_of(dead).metadata.name, "failed", exit_code=1)
    ended = chain.api.wait_run(dead)
    assert ended["status"] == "failed" and ended["errorCode"] == "session_unavailable", ended
    assert "no longer available" in chain.api.log_text(dead, "stderr")
    wait_for("the session to be cleared", lambda: chain.task_sessions(agent) == [], 30)
    chain.log(["fresh"])
    fresh = wake_task(chain, agent, "task-1")
    assert "--session" not in chain.job_of(fresh).spec.template.spec.containers[0].args
    finish(chain.plane, NAMESPACE, chain.pod_of(fresh).metadata.name)
    chain.api.wait_run(fresh)


def test_two_agents_never_share_a_data_directory(chain: Chain) -> None:
    chain.log(["home"])
    homes = []
    for _ in range(2):
        agent = chain.agent()
        run = chain.api.wakeup(agent)["id"]
        job = chain.job_of(run)
        pod = job.spec.template.spec
        [mount] = [m for m in pod.containers[0].volume_mounts if m.name == "workspace"]
        assert mount.mount_path == "/paperclip" and mount.sub_path
        assert all(m.name != "workspace" or m.sub_path for m in pod.containers[0].volume_mounts)
        homes.append(mount.sub_path)
        finish(chain.plane, NAMESPACE, chain.pod_of(run).metadata.name)
        chain.api.wait_run(run)
    assert homes[0] != homes[1]
    assert all(h.startswith("agents/") for h in homes)


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
    assert result["resultJson"]["executionCancellation"]["state"] == "acknowledged", result
    wait_for("the Job to be deleted", lambda: not chain.live_jobs(agent), 60)
    assert "run cancelled" in chain.api.log_text(run, "stderr")


def test_a_timeout_set_on_the_agent_ends_the_job(chain: Chain) -> None:
    chain.log(["slow work"])
    agent = chain.agent(timeoutSec=4)
    run = chain.api.wakeup(agent)["id"]
    wait_first_line(chain.api, run, "slow work")
    assert chain.job_of(run).spec.active_deadline_seconds == 4
    result = chain.api.wait_run(run, timeout=90)
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
    assert busy["exitCode"] == 1 and busy["errorCode"] == "agent_busy", busy
    assert "agent busy" in chain.api.log_text(busy["id"], "stderr")
    assert output_lines(chain.api.log_text(by_status["succeeded"]["id"], "stdout")) == [
        "one at a time"
    ]


def test_one_run_at_a_time_queues_the_second_wakeup(chain: Chain) -> None:
    """With the agent's maxConcurrentRuns at 1, Paperclip queues the second wakeup: both
    runs succeed, one Job after the other."""
    chain.log(["queued work"])
    config = agent_config()
    config["runtimeConfig"] = {"heartbeat": {"maxConcurrentRuns": 1}}
    chain.agents += 1
    agent = str(chain.api.agent(chain.company, f"agent-{chain.agents}", config)["id"])
    runs = [chain.api.wakeup(agent, reason=r)["id"] for r in ("first", "second")]
    chain.figures["most live Jobs of one agent"] = 0
    ended = run_to_the_end(chain, agent, runs)
    assert chain.figures["most live Jobs of one agent"] == 1
    assert [run["status"] for run in ended.values()] == ["succeeded", "succeeded"], ended
    assert len(chain.jobs(agent)) == 2
