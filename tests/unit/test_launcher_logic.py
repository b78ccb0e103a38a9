"""Pure launcher logic: Job stamping, cursors, OpenCode parsing, templates, secret specs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from launcher.jobs import RunRequest, build_job, build_run_secret, job_name, label_value
from launcher.opencode import OpenCodeResult
from launcher.pods import RunFailed, failure
from launcher.relay import Cursor, Dedup
from launcher.templates import JobTemplate, LauncherConfig
from launcher.views import JobView, LeaseView, PodView

CONFIG = LauncherConfig.model_validate(
    {
        "namespace": "ns",
        "instance": "pc",
        "serviceAccount": "pc-agent",
        "apiUrl": "http://pc.ns.svc.cluster.local:3100",
        "workspaceClaim": "pc-agent-workspace",
        "templates": {
            "plain": {
                "image": "busybox:1.36",
                "command": ["sh"],
                "args": ["-c", "true"],
                "env": [
                    {"name": "MODE", "value": "ci"},
                    {"name": "TOKEN", "secretKeyRef": {"name": "s", "key": "k"}},
                ],
                "workspace": "shared",
                "tier": "small",
                "timeoutSeconds": 60,
            },
            "oc": {
                "image": "pc:1",
                "output": "opencode",
                "opencode": {"model": "m/x", "variant": "high"},
            },
        },
    }
)
REQUEST = RunRequest(
    agent_id="Agent_42", run_id="run-9f", company_id="co", template="plain", api_key="secret-jwt"
)


def test_job_name_is_stable_short_and_valid() -> None:
    assert job_name("Agent_42", "run-9f") == job_name("Agent_42", "run-9f")
    assert job_name("a", "b") != job_name("a", "c")
    long = job_name("a" * 100, "b" * 100)
    assert len(long) <= 63 and long.startswith("agent-aaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-")
    assert len(long.rsplit("-", 1)[1]) == 20  # 80 bits of hash


def test_label_values_stand_for_any_id() -> None:
    assert label_value("run-9f") == "run-9f"
    odd = label_value("weird id/with spaces")
    assert len(odd) <= 63 and " " not in odd and "/" not in odd
    assert label_value("x" * 80) != label_value("x" * 81)


def test_job_shape_and_env_allow_list() -> None:
    job = build_job(CONFIG, REQUEST)
    spec = job["spec"]
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] == 60
    assert spec["ttlSecondsAfterFinished"] == 300
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "pc-agent"
    container = pod["containers"][0]
    assert [e["name"] for e in container["env"]] == [
        "PAPERCLIP_AGENT_ID",
        "PAPERCLIP_COMPANY_ID",
        "PAPERCLIP_RUN_ID",
        "PAPERCLIP_API_URL",
        "PAPERCLIP_API_KEY",
        "MODE",
        "TOKEN",
    ]
    assert "secret-jwt" not in json.dumps(job)
    assert container["resources"]["requests"]["cpu"] == "250m"
    assert pod["volumes"][0] == {
        "name": "workspace",
        "persistentVolumeClaim": {"claimName": "pc-agent-workspace"},
    }
    labels = job["metadata"]["labels"]
    assert labels["paperclip.io/agent-id"] == "Agent_42"
    assert labels["paperclip.io/template"] == "plain"
    assert spec["template"]["metadata"]["labels"] == labels


def test_per_run_secret_is_owned_by_the_job() -> None:
    job = build_job(CONFIG, REQUEST)
    job["metadata"]["uid"] = "uid-1"
    secret = build_run_secret(CONFIG, REQUEST, JobView.of(job))
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert secret["stringData"]["PAPERCLIP_API_KEY"] == "secret-jwt"


def test_opencode_command_prompt_and_per_run_config() -> None:
    request = REQUEST.model_copy(
        update={"template": "oc", "session_id": "ses_1", "agent_name": "Builder"}
    )
    job = build_job(CONFIG, request)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == [
        "opencode",
        "--model",
        "m/x",
        "--variant",
        "high",
        "--session",
        "ses_1",
    ]
    assert "/tmp/opencode/opencode.json" in container["command"][2]  # per run, not shared
    assert {"name": "OPENCODE_DISABLE_PROJECT_CONFIG", "value": "true"} in container["env"]
    job["metadata"]["uid"] = "u"
    prompt = build_run_secret(CONFIG, request, JobView.of(job))["stringData"]["prompt"]
    assert prompt == "You are agent Agent_42 (Builder). Continue your Paperclip work."
    assert job["spec"]["template"]["spec"]["volumes"][0] == {"name": "workspace", "emptyDir": {}}


def test_cursor_dedup_across_reconnects() -> None:
    dedup = Dedup(Cursor())
    raw = ["2026-01-01T00:00:01.5Z a", "2026-01-01T00:00:01.5Z b", "2026-01-01T00:00:02Z c"]
    first = [dedup.accept(line) for line in raw[:2]]
    assert [line.text for line in first if line] == ["a", "b"]
    # reconnect: the server re-sends from the start of the second
    dedup.start_pass()
    again = [dedup.accept(line) for line in raw]
    assert [line.text for line in again if line] == ["c"]
    cursor = Cursor.decode(first[1].cursor.encode())  # type: ignore[union-attr]
    assert cursor == first[1].cursor  # type: ignore[union-attr]
    assert cursor.since_time == "2026-01-01T00:00:01Z"


def test_opencode_parsing() -> None:
    result = OpenCodeResult()
    for event in (
        {"type": "text", "sessionID": "s1", "part": {"text": "Done."}},
        {
            "type": "step_finish",
            "part": {"cost": 0.5, "tokens": {"input": 10, "output": 5, "cache": {"read": 2}}},
        },
        {"type": "tool_use", "part": {"state": {"status": "error", "error": "boom"}}},
        "not json",
    ):
        result.feed(event if isinstance(event, str) else json.dumps(event))
    record = result.to_record(0)
    assert record["sessionId"] == "s1" and record["summary"] == "Done."
    assert record["usage"] == {"inputTokens": 10, "outputTokens": 5, "cachedInputTokens": 2}
    assert record["exitCode"] == 1  # errors with a zero exit
    unknown = OpenCodeResult()
    unknown.feed(json.dumps({"type": "error", "error": {"message": "Unknown session ses_x"}}))
    assert unknown.to_record(1)["errorCode"] == "session_unavailable"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (
            {
                "containerStatuses": [
                    {"name": "agent", "state": {"waiting": {"reason": "ImagePullBackOff"}}}
                ]
            },
            "ImagePullBackOff",
        ),
        (
            {
                "containerStatuses": [
                    {"name": "agent", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                ]
            },
            "CrashLoopBackOff",
        ),
        (
            {"initContainerStatuses": [{"name": "i", "state": {"terminated": {"exitCode": 2}}}]},
            "init_container_failed",
        ),
        (
            {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/3 nodes: unbound PersistentVolumeClaims",
                    }
                ]
            },
            "unschedulable",
        ),
    ],
)
def test_pod_failures(status: dict[str, Any], code: str) -> None:
    problem = failure(PodView.of({"status": status}), pending_for=0)
    assert isinstance(problem, RunFailed) and problem.reason == code


def test_transient_config_error_needs_time() -> None:
    status = {
        "containerStatuses": [
            {"name": "agent", "state": {"waiting": {"reason": "CreateContainerConfigError"}}}
        ]
    }
    assert failure(PodView.of({"status": status}), pending_for=1) is None
    assert failure(PodView.of({"status": status}), pending_for=60) is not None


def test_template_validation() -> None:
    with pytest.raises(ValidationError, match="set by the launcher"):
        JobTemplate.model_validate(
            {"image": "x", "env": [{"name": "PAPERCLIP_API_KEY", "value": "x"}]}
        )
    with pytest.raises(ValidationError, match="resources or tier"):
        JobTemplate.model_validate({"image": "x", "tier": "small", "resources": {}})
    with pytest.raises(ValidationError, match="exactly one"):
        JobTemplate.model_validate({"image": "x", "env": [{"name": "A"}]})


def test_a_holder_without_a_job_keeps_the_agent_only_during_the_grace_period() -> None:
    from datetime import UTC, datetime, timedelta

    from launcher.guard import CLAIM_GRACE_SECONDS, RunGuard

    def lease(age: float | None) -> LeaseView:
        spec: dict[str, Any] = {"holderIdentity": "run-1"}
        if age is not None:
            when = datetime.now(UTC) - timedelta(seconds=age)
            spec["acquireTime"] = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return LeaseView.of({"spec": spec})

    assert not RunGuard._free(lease(1), "missing")  # its Job is being created
    assert RunGuard._free(lease(CLAIM_GRACE_SECONDS + 5), "missing")  # its launcher died
    assert RunGuard._free(lease(None), "missing")
    assert RunGuard._free(lease(1), "finished")
    assert not RunGuard._free(lease(CLAIM_GRACE_SECONDS + 5), "active")
