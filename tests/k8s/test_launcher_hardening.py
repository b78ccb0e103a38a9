"""The launcher's hardening on the real control plane, under its generated RBAC: two replicas
share the watch heartbeat (a stream that moves between them never cancels its run; a client
that goes is cancelled once), a rotated ServiceAccount token, lost RBAC (readiness, JSON
errors, a stream that ends instead of hanging), malformed cursors, and no token in logs."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from tests.controlplane.cluster import ControlPlane
from tests.k8s.harness import (
    LauncherProcess,
    apply,
    generated_objects,
    job_pod,
    wait_for,
)

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]
WINDOW = 3  # --disconnect-cancel-seconds of the replicas


def jobs_of(plane: ControlPlane, namespace: str, run: str) -> list[Any]:
    batch = client.BatchV1Api(plane.api_client())
    return list(
        batch.list_namespaced_job(namespace, label_selector=f"paperclip.io/run-id={run}").items
    )


def attach(lp: LauncherProcess, run: str, seconds: float) -> None:
    """A client streaming the run's log through ``lp`` for a while, then leaving."""
    connection = http.client.HTTPConnection("127.0.0.1", lp.port, timeout=30)
    connection.request(
        "GET", f"/v1/runs/{run}/log", headers={"Authorization": f"Bearer {lp.token}"}
    )
    assert connection.getresponse().status == 200
    time.sleep(seconds)
    connection.close()


def test_a_stream_moving_between_replicas_keeps_its_run_and_a_gone_client_is_cancelled_once(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "logs-0"
    args = ["--disconnect-cancel-seconds", str(WINDOW)]
    a = launchers(ns, extra_args=args)
    b = launchers(ns, extra_args=args)
    assert a.start_run("run-moving", agent="agent-m")[0] == 201
    job_pod(control_plane, ns, "run-moving")
    began = time.monotonic()
    # the client lands on either replica, with short gaps, for three cancel windows
    for replica in (a, b, a, b, a, b):
        attach(replica, "run-moving", 1.2)
        time.sleep(0.3)
        [job] = jobs_of(control_plane, ns, "run-moving")
        assert "paperclip.io/cancelled" not in (job.metadata.annotations or {})
    assert time.monotonic() - began > 3 * WINDOW
    # ... then it really goes: exactly one replica cancels it, once
    wait_for("the cancel", lambda: not jobs_of(control_plane, ns, "run-moving"), WINDOW + 20)
    time.sleep(2 * WINDOW)  # both sweeps had time to (not) act again
    logs = "".join((lp.workdir / "launcher.log").read_text() for lp in (a, b))
    assert logs.count("client gone; cancelled its run") == 1, logs[-3000:]
    assert logs.count('"msg": "run cancelled"') == 1


def test_a_rotated_serviceaccount_token_is_picked_up(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "hard-token"
    lp = launchers(ns, token_file=True)
    assert lp.start_run("run-before", agent="agent-t1")[0] == 201
    # every token of the ServiceAccount dies with it; a new one is projected into the file
    core = client.CoreV1Api(control_plane.api_client())
    core.delete_namespaced_service_account("lt-launcher", ns)
    wait_for(
        "the old token to be refused",
        lambda: lp.call("GET", "/v1/runs/run-before")[0] == 502,
        30,
    )
    apply(control_plane, generated_objects(ns)["ServiceAccount/lt-launcher"])
    fresh = wait_for("a new token", lambda: control_plane.mint_token(ns, "lt-launcher"), 30)
    (lp.workdir / "sa-token").write_text(fresh)
    status, body = lp.start_run("run-after", agent="agent-t2")
    assert status == 201, body
    assert lp.call("GET", "/v1/runs/run-before")[0] == 200


def test_lost_rbac_is_visible_and_never_hangs_a_stream(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "logs-0"
    lp = launchers(ns)
    assert lp.public("/readyz") == (200, {"ok": True})
    assert lp.start_run("run-rbac", agent="agent-rb")[0] == 201
    job_pod(control_plane, ns, "run-rbac")
    box: dict[str, Any] = {}
    reader = threading.Thread(
        target=lambda: box.update(records=list(lp.records("run-rbac"))), daemon=True
    )
    reader.start()
    time.sleep(2)  # attached and following
    rbac = client.RbacAuthorizationV1Api(control_plane.api_client())
    rbac.delete_namespaced_role_binding("lt-launcher", ns)
    try:
        reader.join(60)  # the stream ends by itself, with a result that says why
        assert not reader.is_alive(), "the stream hangs without RBAC"
        records = box["records"]
        assert records[-1]["type"] == "result"
        assert records[-1]["errorCode"] in ("log_forbidden", "api_error"), records[-1]
        status, body = wait_for("readiness to fail", lambda: _not_ready(lp), 15)
        assert status == 503 and body["error"] == "forbidden"
        status, body = lp.start_run("run-denied", agent="agent-rb2")
        assert status == 502 and body["error"] == "forbidden" and "403" in body["message"]
    finally:
        apply(control_plane, generated_objects(ns)["RoleBinding/lt-launcher"])
    wait_for("readiness again", lambda: lp.public("/readyz")[0] == 200, 15)
    lp.call("DELETE", "/v1/runs/run-rbac")


def _not_ready(lp: LauncherProcess) -> tuple[int, Any] | None:
    answer = lp.public("/readyz")
    return answer if answer[0] == 503 else None


def test_malformed_cursors_and_header_bytes_are_refused_without_a_trace(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    ns = "hard-probe"
    lp = launchers(ns)
    assert lp.start_run("run-probe", agent="agent-p")[0] == 201
    for bogus in ("x", "12", "2026-01-01T00:00:00Z|1", "9999-99-99T99:99:99.999999999Z|1"):
        status, body = lp.call("GET", f"/v1/runs/run-probe/log?after={bogus}")
        assert status == 400 and body["field"] == "after", (bogus, body)
    with socket.create_connection(("127.0.0.1", lp.port), timeout=10) as sock:
        sock.sendall(
            b"GET /v1/runs/run-probe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Authorization: Bearer " + lp.token.encode() + b"\x01tail\r\n\r\n"
        )
        answer = sock.recv(65536)
    assert answer.split(b" ")[1] == b"400" and lp.token.encode() not in answer
    status, doc = lp.public("/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    time.sleep(0.5)
    log = (lp.workdir / "launcher.log").read_text(errors="replace")
    assert lp.token not in log
    assert "Traceback" not in log
    for line in log.splitlines():
        json.loads(line)  # one JSON object per line, nothing else
    lp.call("DELETE", "/v1/runs/run-probe")


def test_a_start_that_fails_after_its_job_was_made_cleans_up_before_freeing_the_agent(
    launchers: Callable[..., LauncherProcess], control_plane: ControlPlane
) -> None:
    """The run Secret cannot be created (its RBAC is withdrawn) after the Job was: the
    launcher deletes that very Job (a uid precondition) before it releases the agent's
    Lease, so the agent's next run is its only Job."""
    ns = "hard-start"
    lp = launchers(ns)
    role = generated_objects(ns)["Role/lt-launcher"]
    without = {
        **role,
        "rules": [r for r in role["rules"] if r["resources"] != ["secrets"]],
    }
    apply(control_plane, without)
    try:
        status, body = wait_for(
            "the start to be refused",
            lambda: (lambda a: a if a[0] != 201 else None)(lp.start_run("run-a", agent="ag")),
            15,
        )
        assert status == 502 and body["error"] == "forbidden", body
        assert jobs_of(control_plane, ns, "run-a") == []  # deleted, not leaked
    finally:
        apply(control_plane, role)
    status, _ = wait_for(
        "the agent's next run",
        lambda: (lambda a: a if a[0] == 201 else None)(lp.start_run("run-b", agent="ag")),
        15,
    )
    assert status == 201
    batch = client.BatchV1Api(control_plane.api_client())
    jobs = batch.list_namespaced_job(ns).items
    assert [j.metadata.annotations["paperclip.io/run-id"] for j in jobs] == ["run-b"]
    lp.call("DELETE", "/v1/runs/run-b")
