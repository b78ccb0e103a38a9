"""The launcher on the real control plane: whole runs, resume, failures, the per-agent guard,
restarts, RBAC and the thin Node client (the secrets bootstrap: test_secrets_bootstrap.py)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.controlplane.cluster import ControlPlane
from tests.k8s.harness import (
    PENDING_TIMEOUT,
    LauncherProcess,
    cri,
    finish,
    job_pod,
    kubeconfig_for,
    prepare_namespace,
    wait_for,
)
from tests.tcpproxy import TcpProxy

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]

DRIVER = Path(__file__).resolve().parents[1] / "adapter" / "drive.mjs"
OPENCODE_SAMPLE = [
    {"type": "step_start", "sessionID": "ses_abc123", "part": {"type": "step-start"}},
    {
        "type": "text",
        "sessionID": "ses_abc123",
        "part": {"type": "text", "text": "Fixed the failing test."},
    },
    {
        "type": "tool_use",
        "sessionID": "ses_abc123",
        "part": {"tool": "bash", "state": {"status": "completed"}},
    },
    {
        "type": "step_finish",
        "sessionID": "ses_abc123",
        "part": {
            "reason": "stop",
            "cost": 0.0123,
            "tokens": {"input": 1200, "output": 300, "reasoning": 20, "cache": {"read": 800}},
        },
    },
]


def collect(
    launcher: LauncherProcess, run: str, after: str = ""
) -> tuple[list[str], dict[str, Any]]:
    lines, result = [], {}
    for record in launcher.records(run, after):
        if record["type"] == "line":
            lines.append(record["text"])
        else:
            result = record
    return lines, result


def in_background(target: Callable[[], Any]) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = target()
        except BaseException as exc:
            box["error"] = exc

    box["thread"] = threading.Thread(target=run, daemon=True)
    box["thread"].start()
    return box


def test_whole_runs_with_exit_codes(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "logs-1"
    lp = launchers(ns)
    status, body = lp.start_run("run-ok")
    assert status == 201, body
    job = client.BatchV1Api(control_plane.api_client()).read_namespaced_job(body["job"], ns)
    assert job.spec.backoff_limit == 0 and job.spec.ttl_seconds_after_finished == 300
    labels = job.metadata.labels
    assert labels["paperclip.io/agent-id"] == "agent-1"
    assert labels["paperclip.io/run-id"] == "run-ok"
    assert labels["paperclip.io/template"] == "plain"
    env = {e.name for e in job.spec.template.spec.containers[0].env}
    assert env == {
        "PAPERCLIP_AGENT_ID",
        "PAPERCLIP_COMPANY_ID",
        "PAPERCLIP_RUN_ID",
        "PAPERCLIP_API_URL",
    }
    pod = job_pod(control_plane, ns, "run-ok")
    assert pod.spec.automount_service_account_token is False
    control_plane.log_file(ns).write_text(cri("hello") + cri("world"))
    box = in_background(lambda: collect(lp, "run-ok"))
    time.sleep(1.5)
    finish(control_plane, ns, pod.metadata.name)
    box["thread"].join(60)
    lines, result = box["value"]
    assert lines == ["hello", "world"]
    assert result["exitCode"] == 0 and result["timedOut"] is False

    status, body = lp.start_run("run-bad", agent="agent-2")
    assert status == 201
    pod = job_pod(control_plane, ns, "run-bad")
    finish(control_plane, ns, pod.metadata.name, "failed", exit_code=3)
    lines, result = collect(lp, "run-bad")
    assert result["exitCode"] == 3 and result["errorCode"] == "exit_code"


def test_api_key_reaches_the_pod_only_through_the_per_run_secret(
    launchers: Callable[..., LauncherProcess],
    control_plane: ControlPlane,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ns = "logs-2"
    lp = launchers(ns)
    status, body = lp.start_run("run-key", apiKey="pcp_run_jwt_value_123")
    assert status == 201
    core = client.CoreV1Api(control_plane.api_client())
    job = client.BatchV1Api(control_plane.api_client()).read_namespaced_job(body["job"], ns)
    secret_name = job.metadata.annotations["paperclip.io/run-secret"]
    assert secret_name.startswith(f"{body['job']}-run-")  # unique per Job object
    secret = wait_for("run secret", lambda: core.read_namespaced_secret(secret_name, ns))
    assert secret.metadata.owner_references[0].uid == job.metadata.uid
    [key_env] = [
        e for e in job.spec.template.spec.containers[0].env if e.name == "PAPERCLIP_API_KEY"
    ]
    assert key_env.value is None and key_env.value_from.secret_key_ref.key == "PAPERCLIP_API_KEY"
    assert "pcp_run_jwt_value_123" not in json.dumps(job.to_dict(), default=str)
    assert "pcp_run_jwt_value_123" not in lp.log_tail()
    finish(control_plane, ns, job_pod(control_plane, ns, "run-key").metadata.name)
    collect(lp, "run-key")


def test_opencode_output_is_parsed_into_the_result(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "logs-3"
    lp = launchers(ns)
    status, body = lp.start_run("run-oc", template="oc")
    assert status == 201
    job = client.BatchV1Api(control_plane.api_client()).read_namespaced_job(body["job"], ns)
    container = job.spec.template.spec.containers[0]
    assert container.args[:3] == ["opencode", "--model", "anthropic/claude-sonnet-4-5"]
    assert "opencode run --format json" in container.command[2]
    assert {"name": "OPENCODE_DISABLE_PROJECT_CONFIG", "value": "true"} in [
        {"name": e.name, "value": e.value} for e in container.env
    ]
    control_plane.log_file(ns).write_text("".join(cri(json.dumps(e)) for e in OPENCODE_SAMPLE))
    finish(control_plane, ns, job_pod(control_plane, ns, "run-oc").metadata.name)
    lines, result = collect(lp, "run-oc")
    assert len(lines) == len(OPENCODE_SAMPLE)
    assert result["sessionId"] == "ses_abc123"
    assert result["usage"] == {"inputTokens": 1200, "outputTokens": 320, "cachedInputTokens": 800}
    assert result["costUsd"] == 0.0123
    assert result["summary"] == "Fixed the failing test."
    # the next run of the agent resumes the session Paperclip saved and sends back
    status, body = lp.start_run("run-oc-2", template="oc", sessionId=result["sessionId"])
    job = client.BatchV1Api(control_plane.api_client()).read_namespaced_job(body["job"], ns)
    assert job.spec.template.spec.containers[0].args[-2:] == ["--session", "ses_abc123"]
    lp.call("DELETE", "/v1/runs/run-oc-2")


def test_a_cut_api_connection_loses_and_repeats_no_line(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "logs-11"
    with TcpProxy(control_plane.ports["apiserver"]) as proxy:
        lp = launchers(ns, server=f"https://127.0.0.1:{proxy.port}")
        log = control_plane.log_file(ns)
        # several lines share one timestamp: the cursor must tell them apart
        stamp = cri("x").split(" ", 1)[0]
        log.write_text("".join(f"{stamp} stdout F same-stamp {i}\n" for i in range(3)))
        assert lp.start_run("run-cut")[0] == 201
        pod = job_pod(control_plane, ns, "run-cut")
        box = in_background(lambda: collect(lp, "run-cut"))
        for batch in range(3):
            time.sleep(1.5)
            with log.open("a") as handle:
                handle.write("".join(cri(f"batch {batch} line {i}") for i in range(4)))
            time.sleep(1.5)
            assert proxy.cut() >= 1  # the follow stream (and any other call) is cut
        time.sleep(2)
        finish(control_plane, ns, pod.metadata.name)
        box["thread"].join(90)
        lines, result = box["value"]
    expected = [f"same-stamp {i}" for i in range(3)] + [
        f"batch {b} line {i}" for b in range(3) for i in range(4)
    ]
    assert lines == expected
    assert result["exitCode"] == 0
    assert lp.log_tail().count("resuming from") >= 3


def test_failures_are_reported_within_seconds(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    lp = launchers("logs-4")
    for run, template, code in (
        ("run-pull", "badimage", "ErrImagePull"),
        ("run-pending", "nowhere", "unschedulable"),
    ):
        begin = time.monotonic()
        assert lp.start_run(run, template=template, agent=run)[0] == 201
        _, result = collect(lp, run)
        assert result["errorCode"] == code, result
        assert result["exitCode"] == 1
        assert time.monotonic() - begin < 15


def test_timeout_and_cancel(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "logs-5"
    lp = launchers(ns)
    assert lp.start_run("run-slow", template="short", agent="a-slow")[0] == 201
    _, result = collect(lp, "run-slow")
    assert result["timedOut"] is True and result["errorCode"] == "timeout"

    assert lp.start_run("run-cancel", agent="a-cancel")[0] == 201
    job_pod(control_plane, ns, "run-cancel")
    box = in_background(lambda: collect(lp, "run-cancel"))
    time.sleep(1)
    status, body = lp.call("DELETE", "/v1/runs/run-cancel")
    assert status == 202 and body["cancelled"] is True
    box["thread"].join(60)
    _, result = box["value"]
    assert result["cancelled"] is True and result["exitCode"] == 143
    batch = client.BatchV1Api(control_plane.api_client())
    wait_for(
        "the cancelled Job to go",
        lambda: (
            not batch.list_namespaced_job(ns, label_selector="paperclip.io/run-id=run-cancel").items
        ),
    )
    # the agent is free again
    assert lp.start_run("run-after-cancel", agent="a-cancel")[0] == 201
    lp.call("DELETE", "/v1/runs/run-after-cancel")


def test_one_active_run_per_agent_across_launchers(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "logs-6"
    first = launchers(ns)
    other_dir = first.workdir.parent / "other"
    other_dir.mkdir()
    other = LauncherProcess(control_plane, ns, other_dir).start()
    try:
        answers: list[tuple[int, Any]] = []
        threads = [
            threading.Thread(
                target=lambda lp=lp, r=r: answers.append(lp.start_run(r, agent="shared-agent"))
            )
            for lp, r in ((first, "run-a"), (other, "run-b"), (first, "run-c"), (other, "run-d"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        statuses = sorted(status for status, _ in answers)
        assert statuses == [201, 409, 409, 409], answers
        jobs = (
            client.BatchV1Api(control_plane.api_client())
            .list_namespaced_job(ns, label_selector="paperclip.io/agent-id=shared-agent")
            .items
        )
        assert len(jobs) == 1
        winner = jobs[0].metadata.annotations["paperclip.io/run-id"]
        # the same run id again reattaches instead of starting another Job
        status, body = other.start_run(winner, agent="shared-agent")
        assert status == 200 and body["reattached"] is True
        busy = next(b for s, b in answers if s == 409)
        assert busy["error"] == "agent_busy"
        other.call("DELETE", f"/v1/runs/{winner}")
    finally:
        other.stop()


def run_client(
    lp: LauncherProcess, run: str, agent: str, template: str = "plain", url: str | None = None
) -> subprocess.Popen[str]:
    """The k8s_launcher adapter's execute(), as Paperclip drives it (tests/adapter/drive.mjs)."""
    env = {
        **os.environ,
        "AGENT_LAUNCHER_URL": url or lp.url,
        "AGENT_LAUNCHER_TOKEN": lp.token,
        "AGENT_LAUNCHER_RESUME_MS": "60000",
    }
    ctx = {
        "runId": run,
        "agent": {"id": agent, "companyId": "company-1", "name": agent},
        "config": {"template": template},
    }
    return subprocess.Popen(
        [shutil.which("node") or "node", str(DRIVER), json.dumps(ctx)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_adapter_survives_a_launcher_restart_with_the_whole_log(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "logs-7"
    lp = launchers(ns)
    log = control_plane.log_file(ns)
    log.write_text("".join(cri(f"before restart {i}") for i in range(5)))
    node = run_client(lp, "run-restart", "agent-r")
    pod = job_pod(control_plane, ns, "run-restart")
    time.sleep(2)
    lp.stop()  # the run's Job keeps running
    batch = client.BatchV1Api(control_plane.api_client())
    assert batch.list_namespaced_job(ns, label_selector="paperclip.io/run-id=run-restart").items
    with log.open("a") as handle:
        handle.write("".join(cri(f"during restart {i}") for i in range(5)))
    lp.start()  # same port
    with log.open("a") as handle:
        handle.write("".join(cri(f"after restart {i}") for i in range(5)))
    time.sleep(2)
    finish(control_plane, ns, pod.metadata.name)
    out, err = node.communicate(timeout=90)
    assert node.returncode == 0, err
    expected = [
        f"{phase} {i}"
        for phase in ("before restart", "during restart", "after restart")
        for i in range(5)
    ]
    assert out.splitlines() == expected
    assert "reattaching" in err


def test_the_adapter_cancels_on_its_signal_and_reports_an_unreachable_launcher(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "logs-8"
    lp = launchers(ns)
    node = run_client(lp, "run-term", "agent-t")
    job_pod(control_plane, ns, "run-term")
    time.sleep(1)
    node.send_signal(signal.SIGTERM)  # the driver aborts the run's signal, as Paperclip does
    _, err = node.communicate(timeout=30)
    assert node.returncode == 143, err
    assert '"state":"acknowledged"' in err
    batch = client.BatchV1Api(control_plane.api_client())
    wait_for(
        "the Job to be deleted",
        lambda: (
            not batch.list_namespaced_job(ns, label_selector="paperclip.io/run-id=run-term").items
        ),
    )

    unreachable = run_client(lp, "run-x", "agent-x", url="http://127.0.0.1:9")
    _, err = unreachable.communicate(timeout=30)
    assert unreachable.returncode == 1
    assert "cannot reach the launcher at http://127.0.0.1:9" in err


def test_launcher_rbac_allows_what_it_uses_and_denies_the_rest(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    ns = "logs-9"
    prepare_namespace(control_plane, ns)
    token = control_plane.mint_token(ns, "lt-launcher")
    api = control_plane.api_client(token)
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    # allowed: what the launcher calls
    batch.list_namespaced_job(ns)
    core.list_namespaced_pod(ns)
    core.list_namespaced_event(ns)
    client.CoordinationV1Api(api).create_namespaced_lease(
        ns, {"metadata": {"name": "rbac-probe"}, "spec": {"holderIdentity": "x"}}
    )
    # denied: what it does not need
    for denied in (
        lambda: core.list_namespaced_secret(ns),
        lambda: core.read_namespaced_secret("anything", ns),
        lambda: core.delete_namespaced_pod("anything", ns),
        lambda: batch.list_job_for_all_namespaces(),
        lambda: core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}}),
        lambda: client.CoordinationV1Api(api).delete_namespaced_lease("rbac-probe", ns),
    ):
        with pytest.raises(ApiException) as caught:
            denied()
        assert caught.value.status == 403
    # the agent ServiceAccount can do nothing at all
    agent = client.CoreV1Api(control_plane.api_client(control_plane.mint_token(ns, "lt-agent")))
    with pytest.raises(ApiException) as caught:
        agent.list_namespaced_pod(ns)
    assert caught.value.status == 403


def test_a_lease_whose_run_is_gone_is_recovered(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    from launcher.guard import lease_name

    ns = "logs-12"
    lp = launchers(ns)
    client.CoordinationV1Api(control_plane.api_client()).create_namespaced_lease(
        ns,
        {
            "metadata": {"name": lease_name("lt", "agent-ghost")},
            "spec": {"holderIdentity": "run-that-died-with-its-launcher"},
        },
    )
    status, body = lp.start_run("run-new", agent="agent-ghost")
    assert status == 201, body
    lease = client.CoordinationV1Api(control_plane.api_client()).read_namespaced_lease(
        lease_name("lt", "agent-ghost"), ns
    )
    assert lease.spec.holder_identity == "run-new"
    lp.call("DELETE", "/v1/runs/run-new")


def test_a_client_that_goes_away_cancels_its_run(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane, tmp_path: Path
) -> None:
    ns = "logs-13"
    lp = launchers(ns)
    lp.stop()
    lp.extra_args = ["--disconnect-cancel-seconds", "1"]
    lp.start()
    assert lp.start_run("run-orphan", agent="agent-o")[0] == 201
    job_pod(control_plane, ns, "run-orphan")
    connection = http.client.HTTPConnection("127.0.0.1", lp.port, timeout=10)
    connection.request(
        "GET", "/v1/runs/run-orphan/log", headers={"Authorization": f"Bearer {lp.token}"}
    )
    assert connection.getresponse().status == 200  # attached: headers come at once
    connection.close()  # ... and gone, with no other client streaming the run
    batch = client.BatchV1Api(control_plane.api_client())
    wait_for(
        "the orphaned run to be cancelled",
        lambda: (
            not batch.list_namespaced_job(ns, label_selector="paperclip.io/run-id=run-orphan").items
        ),
        30,
    )


def test_run_command_from_a_workstation(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "logs-15"
    lp = launchers(ns)
    lp.stop()
    control_plane.log_file(ns).write_text(cri("from the workstation"))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "launcher",
            "run",
            "--config",
            str(lp.workdir / "templates.json"),
            "--kubeconfig",
            str(control_plane.kubeconfig),
            "--template",
            "plain",
            "--agent-id",
            "agent-w",
            "--run-id",
            "run-w",
            "--company-id",
            "co",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pod = job_pod(control_plane, ns, "run-w")
    time.sleep(1)
    finish(control_plane, ns, pod.metadata.name, "failed", exit_code=4)
    out, err = process.communicate(timeout=60)
    assert out == "from the workstation\n"
    assert process.returncode == 4, err


def test_pending_timeout_and_mount_failure(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "logs-14"
    lp = launchers(ns)
    begin = time.monotonic()
    assert lp.start_run("run-held", template="hold", agent="agent-h1")[0] == 201
    _, result = collect(lp, "run-held")
    assert result["errorCode"] == "pending_timeout", result
    assert PENDING_TIMEOUT <= time.monotonic() - begin < PENDING_TIMEOUT + 10

    assert lp.start_run("run-mount", template="hold", agent="agent-h2")[0] == 201
    pod = job_pod(control_plane, ns, "run-mount")
    client.CoreV1Api(control_plane.api_client()).create_namespaced_event(
        ns,
        {
            "metadata": {"name": "mount-failed"},
            "involvedObject": {"kind": "Pod", "name": pod.metadata.name, "namespace": ns},
            "reason": "FailedMount",
            "type": "Warning",
            "message": 'MountVolume.SetUp failed for volume "workspace": mount failed',
        },
    )
    _, result = collect(lp, "run-mount")
    assert result["errorCode"] == "mount_failed", result
    assert "MountVolume.SetUp failed" in result["errorMessage"]


def test_cancel_of_a_retained_run_suspends_and_keeps_the_job(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "logs-15"
    lp = launchers(ns)
    status, body = lp.start_run("run-keep", template="keep", agent="agent-k")
    assert status == 201
    job_pod(control_plane, ns, "run-keep")
    assert lp.call("DELETE", "/v1/runs/run-keep")[0] == 202
    batch = client.BatchV1Api(control_plane.api_client())
    job = batch.read_namespaced_job(body["job"], ns)
    assert job.spec.suspend is True
    assert job.metadata.annotations["paperclip.io/cancelled"] == "true"
    core = client.CoreV1Api(control_plane.api_client())
    wait_for(
        "the suspended Job's pod to go",
        lambda: (
            not [
                p
                for p in core.list_namespaced_pod(
                    ns, label_selector="paperclip.io/run-id=run-keep"
                ).items
                if not p.metadata.deletion_timestamp
            ]
        ),
    )
    _, result = collect(lp, "run-keep")
    assert result["cancelled"] is True


def test_the_self_test_asks_the_api_server_about_every_call_the_launcher_makes(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane, tmp_path: Path
) -> None:
    """What Paperclip's environment test shows, from the real API server's authorizer: the
    generated Role allows every call; another identity is denied them, each named."""
    import asyncio

    from launcher.access import RULES, self_test
    from launcher.kube import Connection, Kube

    ns = "logs-13"
    lp = launchers(ns)
    status, body = lp.call("GET", "/v1/self-test?template=plain")
    assert status == 200, body
    wanted = sum(len(r["verbs"]) * len(r["resources"]) for r in RULES)
    assert len(body["access"]) == wanted
    assert all(check["allowed"] for check in body["access"]), body["access"]
    assert body["ok"] is True and body["template"] == {"name": "plain", "exists": True}
    status, body = lp.call("GET", "/v1/self-test?template=nope")
    assert body["ok"] is False and body["template"]["exists"] is False
    assert lp.call("GET", "/v1/templates")[1]["templates"][0]["name"]

    token = control_plane.mint_token(ns, "lt-agent")  # the agents' identity: no RBAC at all
    kubeconfig = kubeconfig_for(control_plane, token, tmp_path / "agent.kc", namespace=ns)

    async def as_agent() -> list[dict[str, Any]]:
        async with Kube(Connection.auto(str(kubeconfig))) as kube:
            return await self_test(kube, ns)

    denied = asyncio.run(as_agent())
    assert len(denied) == wanted and not any(check["allowed"] for check in denied)
    assert {(c["verb"], c["resource"]) for c in denied} >= {("create", "jobs"), ("get", "pods/log")}
