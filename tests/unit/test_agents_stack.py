"""The generator's agents stack: RBAC, isolation, the client in the Paperclip pod."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from constructs_lib.constructs.agents import LAUNCHER_RULES, launcher_config
from constructs_lib.errors import UserError
from launcher.templates import LauncherConfig
from tests.conftest import make_instance, synth_objects

AGENTS = {"agents": {"enabled": True}}


def test_disabled_by_default() -> None:
    assert not any("launcher" in key for key in synth_objects(make_instance()))


def test_rbac_is_exact_and_has_no_wildcards() -> None:
    objects = synth_objects(make_instance(AGENTS))
    role = objects["Role/demo-launcher"]
    assert role["rules"] == LAUNCHER_RULES
    for rule in role["rules"] + objects["Role/demo-secrets-bootstrap"]["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
    secrets_rules = objects["Role/demo-secrets-bootstrap"]["rules"]
    assert secrets_rules[1]["resourceNames"] == ["demo-launcher-token"]
    binding = objects["RoleBinding/demo-launcher"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "demo-launcher", "namespace": "team"}
    ]
    assert objects["ServiceAccount/demo-agent"]["automountServiceAccountToken"] is False


def test_templates_configmap_is_the_launchers_own_schema_and_rolls_the_launcher() -> None:
    instance = make_instance(AGENTS)
    objects = synth_objects(instance)
    text = objects["ConfigMap/demo-launcher"]["data"]["templates.json"]
    config = LauncherConfig.model_validate_json(text)
    assert config.templates["opencode"].image == "ghcr.io/paperclipai/paperclip:2026.1106.0"
    assert config.api_url == "http://demo.team.svc.cluster.local:3100"
    assert config.workspace_claim == "demo-agent-workspace"
    hash_before = objects["Deployment/demo-launcher"]["spec"]["template"]["metadata"][
        "annotations"
    ]["paperclip.inc/config-hash"]
    changed = make_instance(
        {
            "agents": {
                "enabled": True,
                "templates": {"opencode": {"opencode": {"model": "x/y"}, "output": "opencode"}},
            }
        }
    )
    after = synth_objects(changed)["Deployment/demo-launcher"]["spec"]["template"]["metadata"][
        "annotations"
    ]["paperclip.inc/config-hash"]
    assert after != hash_before
    assert launcher_config(instance) == text


def test_network_isolation() -> None:
    objects = synth_objects(make_instance(AGENTS))
    launcher = objects["NetworkPolicy/demo-launcher"]["spec"]
    assert launcher["ingress"][0]["from"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "paperclip",
                    "app.kubernetes.io/instance": "demo",
                    "app.kubernetes.io/component": "server",
                }
            }
        }
    ]
    agent = objects["NetworkPolicy/demo-agent"]["spec"]
    assert agent["ingress"] == []
    ports = [p["port"] for rule in agent["egress"] for p in rule.get("ports", [])]
    assert 5432 not in ports and ports == [53, 53, 443, 3100]
    server_egress = objects["NetworkPolicy/demo"]["spec"]["egress"]
    assert server_egress[-1]["ports"] == [{"port": 8080, "protocol": "TCP"}]


def test_client_mounted_in_the_paperclip_pod_with_unstripped_env_names() -> None:
    objects = synth_objects(make_instance(AGENTS))
    pod = objects["StatefulSet/demo"]["spec"]["template"]["spec"]
    server = pod["containers"][0]
    assert {
        "name": "launcher-client",
        "mountPath": "/opt/paperclip-launcher",
        "readOnly": True,
    } in server["volumeMounts"]
    assert {"name": "launcher-client", "configMap": {"name": "demo-launcher-client"}} in pod[
        "volumes"
    ]
    data = objects["ConfigMap/demo-config"]["data"]
    # the process adapter strips PAPERCLIP_* from the child's environment
    assert data["AGENT_LAUNCHER_URL"] == "http://demo-launcher.team.svc.cluster.local:8080"
    token = next(e for e in server["env"] if e["name"] == "AGENT_LAUNCHER_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {
        "name": "demo-launcher-token",
        "key": "token",
        "optional": True,
    }
    script = objects["ConfigMap/demo-launcher-client"]["data"]["paperclip-launch.mjs"]
    assert script.startswith("#!/usr/bin/env node")
    job = objects["Job/demo-secrets-bootstrap"]
    assert (
        "demo-launcher-token/token=token"
        in job["spec"]["template"]["spec"]["containers"][0]["args"]
    )


def test_bad_template_is_a_user_error_with_its_path() -> None:
    with pytest.raises(UserError) as caught:
        make_instance(
            {
                "agents": {
                    "enabled": True,
                    "templates": {"Bad_Name": {"image": "x"}, "ok": {"image": "x", "tier": "huge"}},
                }
            }
        )
    paths = sorted(p.path for p in caught.value.problems)
    assert paths == ["spec.agents.templates.Bad_Name", "spec.agents.templates.ok.tier"]


def test_adapter_json_is_written_next_to_the_app_output() -> None:
    from pathlib import Path

    adapter = json.loads(Path("dist/quickstart/agents/quickstart-opencode.json").read_text())
    assert adapter == {
        "adapterType": "process",
        "adapterConfig": {
            "command": "node",
            "args": ["/opt/paperclip-launcher/paperclip-launch.mjs", "--template", "opencode"],
            "timeoutSec": 0,
            "graceSec": 30,
        },
    }


def _rule_errors(spec: dict[str, Any]) -> list[tuple[str, str]]:
    from constructs_lib.constructs.instance import plan

    return [(p.path, p.message) for p in plan(make_instance(spec)).contribution.errors]


def test_templates_may_only_use_the_secrets_declared_for_agents() -> None:
    env = [{"name": "GITHUB_TOKEN", "secretKeyRef": {"name": "ci-agent", "key": "token"}}]
    template = {"image": "busybox:1.36", "env": env}
    undeclared = {"agents": {"enabled": True, "templates": {"ci": template}}}
    [(path, message)] = _rule_errors(undeclared)
    assert path == "spec.agents.templates.ci.env[0].secretKeyRef.name"
    assert "ci-agent" in message and "secretNames" in message
    declared = {"agents": {**undeclared["agents"], "secretNames": ["ci-agent"]}}
    assert _rule_errors(declared) == []


def test_a_template_is_checked_by_validating_the_job_it_stamps(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from constructs_lib.cli import main
    from tests.conftest import doc_yaml

    bad = {"image": "busybox:1.36", "tolerations": [{"effect": "Sometimes", "key": 3}]}
    app = tmp_path / "agents.yaml"
    app.write_text(doc_yaml({"agents": {"enabled": True, "templates": {"bad": bad}}}))
    result = CliRunner().invoke(main, ["validate", str(app)])
    assert result.exit_code == 2, result.output
    assert "spec.agents.templates.bad" in result.output
    assert "would be refused" in result.output
