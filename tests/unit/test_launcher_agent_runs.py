"""What a run carries from Paperclip (task context, prompt, session, the agent's own settings)
and what a template may add to its pods, as the launcher stamps them into Jobs; sessions that
die; Leases and lookups scoped to the instance."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import ValidationError

from launcher.fakekube import FakeKube
from launcher.guard import lease_name
from launcher.jobs import (
    ANNOTATION_SESSION,
    RunRefused,
    RunRequest,
    agent_home,
    build_job,
    build_run_secret,
    check_allowed,
)
from launcher.opencode import OpenCodeResult
from launcher.runs import Launcher, Timing
from launcher.templates import JobTemplate, LauncherConfig
from launcher.views import JobView

TEMPLATES: dict[str, Any] = {
    "oc": {
        "image": "pc:1",
        "output": "opencode",
        "workspace": "shared",
        "opencode": {"model": "anthropic/claude-sonnet", "resumeSession": True},
        "envFromSecrets": ["llm-keys"],
        "agentOverrides": {"tiers": ["small"], "maxTimeoutSeconds": 7200},
        "timeoutSeconds": 3600,
    },
    "strict": {
        "image": "busybox:1.36",
        "command": ["sh", "-c", "true"],
        "agentOverrides": {"model": False, "variant": False, "env": False},
        "serviceAccountName": "ci-cloud-role",
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}},
        "priorityClassName": "agents",
        "runtimeClassName": "gvisor",
        "podAnnotations": {"cost-center": "ai"},
        "volumes": [{"name": "ssh", "secret": {"secretName": "git-ssh"}}],
        "volumeMounts": [{"name": "ssh", "mountPath": "/home/agent/.ssh", "readOnly": True}],
        "imagePullSecrets": ["own-registry"],
    },
}
CONFIG = LauncherConfig.model_validate(
    {
        "namespace": "ns",
        "instance": "pc",
        "serviceAccount": "pc-agent",
        "apiUrl": "http://pc.ns.svc.cluster.local:3100",
        "workspaceClaim": "pc-agent-workspace",
        "templates": TEMPLATES,
    }
)
CONTEXT = {
    "PAPERCLIP_TASK_ID": "iss-1",
    "PAPERCLIP_WAKE_REASON": "issue_assigned",
    "PAPERCLIP_WAKE_PAYLOAD_JSON": '{"reason":"issue_assigned"}',
}


def request(**extra: Any) -> RunRequest:
    fields: dict[str, Any] = {
        "agentId": "agent-1",
        "runId": "run-1",
        "companyId": "co-1",
        "template": "oc",
        "apiKey": "jwt",
        **extra,
    }
    return RunRequest.model_validate(fields)


def env_of(job: dict[str, Any]) -> dict[str, Any]:
    [container] = job["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_task_context_reaches_the_agent_pod() -> None:
    job = build_job(CONFIG, request(context=CONTEXT, sessionId="ses_1", prompt="Do ISS-1"))
    env = env_of(job)
    assert env["PAPERCLIP_TASK_ID"] == "iss-1"
    assert env["PAPERCLIP_WAKE_REASON"] == "issue_assigned"
    # long context is read from the run's Secret, never written into the Job
    assert env["PAPERCLIP_WAKE_PAYLOAD_JSON"] == {
        "secretKeyRef": {
            "name": f"{job['metadata']['name']}-run",
            "key": "PAPERCLIP_WAKE_PAYLOAD_JSON",
        }
    }
    assert '"reason"' not in str(job)
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:5] == ["opencode", "--model", "anthropic/claude-sonnet", "--session", "ses_1"]
    assert job["metadata"]["annotations"][ANNOTATION_SESSION] == "ses_1"
    secret = build_run_secret(CONFIG, request(context=CONTEXT, prompt="Do ISS-1"), JobView.of(job))
    assert secret["stringData"]["prompt"] == "Do ISS-1"
    assert (
        secret["stringData"]["PAPERCLIP_WAKE_PAYLOAD_JSON"]
        == CONTEXT["PAPERCLIP_WAKE_PAYLOAD_JSON"]
    )


def test_unknown_context_names_and_hostile_sessions_are_refused() -> None:
    with pytest.raises(ValidationError, match="not a context variable"):
        request(context={"DATABASE_URL": "x"})
    for session in ("--attach=http://attacker", "ses 1", "../x", "-x", ""):
        with pytest.raises(ValidationError):
            request(sessionId=session)
    with pytest.raises(ValidationError, match="set by Paperclip or the launcher"):
        request(env={"PAPERCLIP_API_KEY": "x"})
    with pytest.raises(ValidationError, match="set by Paperclip or the launcher"):
        request(env={"HOME": "/"})
    with pytest.raises(ValidationError, match="a run carries at most"):
        request(
            prompt="x" * 500_000,
            env={"BIG": "y" * 60_000, **{f"E{i}": "z" * 60_000 for i in range(7)}},
        )


def test_the_agent_settings_reach_the_pod_within_what_the_template_allows() -> None:
    job = build_job(
        CONFIG,
        request(
            model="openai/gpt-5",
            variant="high",
            tier="small",
            timeoutSeconds=7000,
            env={"GIT_AUTHOR_NAME": "Bot"},
        ),
    )
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:5] == ["opencode", "--model", "openai/gpt-5", "--variant", "high"]
    assert job["spec"]["activeDeadlineSeconds"] == 7000
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"]["cpu"] == "250m"
    assert env_of(job)["GIT_AUTHOR_NAME"] == {
        "secretKeyRef": {"name": f"{job['metadata']['name']}-run", "key": "env.GIT_AUTHOR_NAME"}
    }
    assert container["envFrom"] == [{"secretRef": {"name": "llm-keys", "optional": True}}]
    refused: list[tuple[dict[str, Any], str]] = [
        ({"tier": "large"}, "tier"),
        ({"timeoutSeconds": 9000}, "timeoutSeconds"),
        ({"timeoutSeconds": 0}, "timeoutSeconds"),
    ]
    for extra, field in refused:
        with pytest.raises(RunRefused) as caught:
            check_allowed(CONFIG.templates["oc"], request(**extra))
        assert caught.value.field == field
    strict = CONFIG.templates["strict"]
    for extra, field in (
        ({"model": "a/b"}, "model"),
        ({"variant": "v"}, "variant"),
        ({"env": {"A": "1"}}, "env"),
        ({"timeoutSeconds": 4000}, "timeoutSeconds"),
    ):
        with pytest.raises(RunRefused) as caught:
            check_allowed(strict, request(template="strict", **extra))
        assert caught.value.field == field


def test_each_agent_gets_its_own_home_on_the_shared_volume() -> None:
    one = build_job(CONFIG, request())
    two = build_job(CONFIG, request(agentId="agent-2", runId="run-2"))
    other_company = build_job(CONFIG, request(companyId="co-2", runId="run-3"))
    homes = []
    for job in (one, two, other_company):
        pod = job["spec"]["template"]["spec"]
        [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "workspace"]
        assert mount["mountPath"] == "/paperclip"
        [init] = pod["initContainers"]
        assert {"name": "AGENT_HOME", "value": mount["subPath"]} in init["env"]
        homes.append(mount["subPath"])
    assert len(set(homes)) == 3
    assert homes[0].startswith("agents/co-1-") and "/agent-1-" in homes[0]
    assert agent_home("co", "../../x") != agent_home("co", "x")
    assert ".." not in agent_home("..", "..")
    assert (
        build_job(CONFIG, request(runId="run-4"))["spec"]["template"]["spec"]["containers"][0][
            "volumeMounts"
        ][0]["subPath"]
        == homes[0]
    )  # the same agent's next run: the same home


def test_template_pod_fields_and_inherited_pull_secrets() -> None:
    job = build_job(CONFIG, request(template="strict"), pull_secrets=["server-registry"])
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "ci-cloud-role"
    assert pod["automountServiceAccountToken"] is False
    assert pod["priorityClassName"] == "agents" and pod["runtimeClassName"] == "gvisor"
    assert "nodeAffinity" in pod["affinity"]
    assert pod["imagePullSecrets"] == [{"name": "own-registry"}]  # the template's own win
    assert job["spec"]["template"]["metadata"]["annotations"] == {"cost-center": "ai"}
    assert {"name": "ssh", "secret": {"secretName": "git-ssh"}} in pod["volumes"]
    assert {"name": "ssh", "mountPath": "/home/agent/.ssh", "readOnly": True} in pod["containers"][
        0
    ]["volumeMounts"]
    inherited = build_job(CONFIG, request(), pull_secrets=["server-registry"])
    assert inherited["spec"]["template"]["spec"]["imagePullSecrets"] == [
        {"name": "server-registry"}
    ]
    assert "imagePullSecrets" not in build_job(CONFIG, request())["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"volumes": [{"name": "run", "emptyDir": {}}]}, "launcher's own"),
        ({"volumes": [{"emptyDir": {}}]}, "needs a name"),
        ({"volumes": [{"name": "a", "emptyDir": {}}, {"name": "a", "emptyDir": {}}]}, "unique"),
        ({"volumeMounts": [{"name": "nope", "mountPath": "/x"}]}, "not one of"),
        (
            {
                "volumes": [{"name": "a", "emptyDir": {}}],
                "volumeMounts": [{"name": "a", "mountPath": "/paperclip/x"}],
            },
            "overlaps",
        ),
        (
            {
                "volumes": [{"name": "a", "emptyDir": {}}],
                "volumeMounts": [{"name": "a", "mountPath": "/run"}],
            },
            "overlaps",
        ),
        (
            {
                "volumes": [{"name": "a", "emptyDir": {}}],
                "volumeMounts": [{"name": "a", "mountPath": "rel"}],
            },
            "absolute",
        ),
        ({"env": [{"name": "PAPERCLIP_TASK_ID", "value": "x"}]}, "set by the launcher"),
    ],
)
def test_template_volumes_mounts_and_env_are_checked(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        JobTemplate.model_validate({"image": "x:1", **extra})


def test_a_dead_session_is_reported_and_cleared() -> None:
    parsed = OpenCodeResult()
    error = {"name": "NotFoundError", "data": {"message": "Session not found: ses_old"}}
    parsed.feed(json.dumps({"type": "error", "error": error}))
    record = parsed.to_record(1, "ses_old")
    assert record["errorCode"] == "session_unavailable"
    assert record["clearSession"] is True
    assert (
        "ses_old" in record["errorMessage"]
        and "next run starts a new session" in record["errorMessage"]
    )
    plain = OpenCodeResult()
    plain.feed_text(
        "Error: resource not found: /home/x/.local/share/opencode/storage/session/ses_old.json"
    )
    assert plain.to_record(1, "ses_old")["errorCode"] == "session_unavailable"
    hostile = OpenCodeResult()
    hostile.feed('{"type":"text","sessionID":"--attach=http://attacker","part":{"text":"x"}}')
    assert hostile.session_id is None


FAST = Timing(idle=0.02, poll=0.005, heartbeat=0.05, finish_wait=0.5, retry=0.002, max_retry=0.01)


def test_two_instances_in_one_namespace_never_see_each_others_runs() -> None:
    async def scenario() -> None:
        kube = FakeKube()
        base = CONFIG.model_dump(by_alias=True)
        team_a = Launcher(kube, LauncherConfig.model_validate({**base, "instance": "team-a"}), FAST)
        team_b = Launcher(kube, LauncherConfig.model_validate({**base, "instance": "team-b"}), FAST)
        await team_a.start(request(template="strict"))
        # the same agent id in the other instance is another agent: its own Lease
        assert lease_name("team-a", "agent-1") != lease_name("team-b", "agent-1")
        assert await team_b.find_job("run-1") is None
        with pytest.raises(Exception, match="run-1"):
            await team_b.cancel("run-1")
        started = await team_b.start(request(template="strict", runId="run-b"))
        assert not started.reattached
        assert (await team_a.find_job("run-1")) is not None

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_the_launcher_takes_its_own_pods_pull_secrets() -> None:
    async def scenario() -> None:
        kube = FakeKube()
        kube.objects[("ns", "pods", "launcher-0")] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "launcher-0", "namespace": "ns"},
            "spec": {"imagePullSecrets": [{"name": "registry"}]},
        }
        launcher = Launcher(kube, CONFIG, FAST)
        assert await launcher.inherit_pull_secrets(None) == []
        assert await launcher.inherit_pull_secrets("missing") == []
        assert await launcher.inherit_pull_secrets("launcher-0") == ["registry"]
        started = await launcher.start(request())
        job = kube.objects[("ns", "jobs", started.job)]
        assert job["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "registry"}]

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_the_secret_never_holds_more_than_the_run_needs() -> None:
    job = build_job(CONFIG, request(template="strict"))
    secret = build_run_secret(CONFIG, request(template="strict"), JobView.of(job))
    assert set(secret["stringData"]) == {"prompt", "PAPERCLIP_API_KEY"}


def test_an_agent_may_keep_its_cancelled_jobs_when_the_template_allows() -> None:
    async def scenario() -> None:
        kube = FakeKube()
        launcher = Launcher(kube, CONFIG, FAST)
        started = await launcher.start(request(retain=True))
        await launcher.cancel("run-1")
        job = kube.objects[("ns", "jobs", started.job)]
        assert job["spec"].get("suspend") is True  # kept, its pod gone
        plain = await launcher.start(request(runId="run-2", agentId="agent-2"))
        await launcher.cancel("run-2")
        assert ("ns", "jobs", plain.job) not in kube.objects or kube.objects[
            ("ns", "jobs", plain.job)
        ]["metadata"].get("deletionTimestamp")

    asyncio.run(asyncio.wait_for(scenario(), 20))
    strict = CONFIG.model_copy(deep=True)
    strict.templates["oc"] = strict.templates["oc"].model_copy(
        update={
            "agent_overrides": strict.templates["oc"].agent_overrides.model_copy(
                update={"retain": False}
            )
        }
    )
    with pytest.raises(RunRefused) as caught:
        check_allowed(strict.templates["oc"], request(retain=True))
    assert caught.value.field == "retain"


def _result_of_a_run_that_logs(*lines: str) -> dict[str, Any]:
    """The result record of an opencode run whose container printed ``lines`` and exited 0."""

    async def scenario() -> dict[str, Any]:
        kube = FakeKube()
        launcher = Launcher(kube, CONFIG, FAST)
        started = await launcher.start(request())
        pod = kube.job_pod(started.job)
        assert pod is not None
        kube.append_log("ns", pod["metadata"]["name"], *lines)
        kube.end_pod("ns", pod["metadata"]["name"], exit_code=0)
        return [r async for batch in launcher.stream("run-1") for r in batch][-1]

    return asyncio.run(asyncio.wait_for(scenario(), 20))


def test_odd_opencode_events_never_cost_the_run_its_result() -> None:
    """The log carries whatever the container printed: an event of an unexpected shape (a
    string error, a token count that is no number, a NaN cost) is ignored, and the result
    still comes, as JSON a JavaScript client can read (NaN is not JSON)."""
    from launcher.server import encode

    def strict(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    result = _result_of_a_run_that_logs(
        json.dumps({"type": "text", "sessionID": "ses_1", "part": {"text": "Done."}}),
        '{"type":"step_finish","part":{"cost":NaN,"tokens":{"input":7,"output":"many"}}}',
        '{"type":"step_finish","part":{"cost":Infinity,"tokens":[1]}}',
        json.dumps({"type": "tool_use", "part": {"state": "error"}}),
        json.dumps({"type": "error", "error": "rate limited"}),
    )
    assert result["type"] == "result", result
    assert result["sessionId"] == "ses_1" and result["summary"] == "Done."
    assert result["usage"] == {"inputTokens": 7, "outputTokens": 0, "cachedInputTokens": 0}
    assert result["costUsd"] == 0 and result["errors"] == ["rate limited"]
    assert result["exitCode"] == 1  # an error event with a zero exit
    json.loads(encode([result]), parse_constant=strict)


def test_a_run_that_got_no_reply_from_the_model_says_so() -> None:
    """OpenCode can start a session and exit 0 without a reply or a token (the model's API
    failed): the result is an llm_api_error that says what happened."""
    result = _result_of_a_run_that_logs(
        json.dumps({"type": "step_start", "sessionID": "ses_1", "part": {}})
    )
    assert result["errorCode"] == "llm_api_error", result
    assert "no reply" in result.get("errorMessage", ""), result
    assert "ses_1" in result["errorMessage"]
