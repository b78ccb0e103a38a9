"""The generator's agents stack: RBAC, isolation, the adapter in the Paperclip pod, the
templates' extra pod fields and what they may reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from constructs_lib.constructs.agents import launcher_config
from constructs_lib.constructs.names import ADAPTER_DIR
from constructs_lib.constructs.package_files import ADAPTER_FILES
from constructs_lib.errors import UserError
from launcher.access import RULES as LAUNCHER_RULES
from launcher.templates import LauncherConfig
from tests.conftest import make_instance, synth_objects

AGENTS = {"agents": {"enabled": True}}
REPO = Path(__file__).resolve().parents[2]


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


def test_the_adapter_is_mounted_and_registered_in_the_paperclip_pod() -> None:
    objects = synth_objects(make_instance(AGENTS))
    pod = objects["StatefulSet/demo"]["spec"]["template"]["spec"]
    server = pod["containers"][0]
    mount = {"name": "launcher-adapter", "mountPath": ADAPTER_DIR, "readOnly": True}
    assert mount in server["volumeMounts"]
    assert {"name": "launcher-adapter", "configMap": {"name": "demo-launcher-adapter"}} in pod[
        "volumes"
    ]
    [install] = [c for c in pod["initContainers"] if c["name"] == "adapter-install"]
    assert install["image"] == server["image"]  # the server image has Node: nothing to pull
    assert install["command"] == ["node", f"{ADAPTER_DIR}/install.mjs"]
    assert {"name": "PAPERCLIP_HOME", "value": "/paperclip"} in install["env"]
    assert mount in install["volumeMounts"]
    data = objects["ConfigMap/demo-config"]["data"]
    assert data["AGENT_LAUNCHER_URL"] == "http://demo-launcher.team.svc.cluster.local:8080"
    token = next(e for e in server["env"] if e["name"] == "AGENT_LAUNCHER_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {
        "name": "demo-launcher-token",
        "key": "token",
        "optional": True,
    }
    files = objects["ConfigMap/demo-launcher-adapter"]["data"]
    assert sorted(files) == sorted(ADAPTER_FILES)
    adapter = REPO / "launcher" / "adapter"
    assert all(files[name] == (adapter / name).read_text() for name in files)
    job = objects["Job/demo-secrets-bootstrap"]
    assert (
        "demo-launcher-token/token=token"
        in job["spec"]["template"]["spec"]["containers"][0]["args"]
    )


def test_agent_pods_inherit_the_server_pull_secrets_through_the_launcher_pod() -> None:
    spec = {**AGENTS, "image": {"tag": "2026.1106.0", "pullSecrets": [{"name": "registry"}]}}
    objects = synth_objects(make_instance(spec))
    launcher = objects["Deployment/demo-launcher"]["spec"]["template"]["spec"]
    assert launcher["imagePullSecrets"] == [{"name": "registry"}]
    env = launcher["containers"][0]["env"]
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in env


def test_the_llm_keys_reach_the_default_template() -> None:
    keys = {"adapters": {"apiKeysSecretRef": {"name": "llm-keys"}}}
    config = json.loads(launcher_config(make_instance({**AGENTS, **keys})))
    assert config["templates"]["opencode"]["envFromSecrets"] == ["llm-keys"]
    assert (
        json.loads(launcher_config(make_instance(AGENTS)))["templates"]["opencode"][
            "envFromSecrets"
        ]
        == []
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
    assert adapter == {"adapterType": "k8s_launcher", "adapterConfig": {"template": "opencode"}}


def _rule_errors(spec: dict[str, Any]) -> list[tuple[str, str]]:
    from constructs_lib.constructs.build import plan

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

    bad = {"image": "busybox:1.36", "resources": {"requests": {"cpu": "lots"}}}
    app = tmp_path / "agents.yaml"
    app.write_text(doc_yaml({"agents": {"enabled": True, "templates": {"bad": bad}}}))
    result = CliRunner().invoke(main, ["validate", str(app)])
    assert result.exit_code == 2, result.output
    assert "spec.agents.templates.bad" in result.output
    assert "would be refused" in result.output
    # Kubernetes blocks of a template are checked field by field, at the template's path
    blocks = {"image": "busybox:1.36", "tolerations": [{"effect": "Sometimes", "key": 3}]}
    app.write_text(doc_yaml({"agents": {"enabled": True, "templates": {"bad": blocks}}}))
    result = CliRunner().invoke(main, ["validate", str(app)])
    assert result.exit_code == 2, result.output
    assert "spec.agents.templates.bad.tolerations[0]" in result.output


def test_the_documented_agents_example_synthesizes(tmp_path: Path) -> None:
    """The spec.agents example of docs/agents.md ("Agent templates"), with every template
    field, passes synth (schema validation of the stamped Jobs and the per-template
    NetworkPolicy included)."""
    import re

    import yaml

    from constructs_lib.render.pipeline import synthesize
    from constructs_lib.spec.versions import DEFAULT_KUBERNETES_VERSION
    from tests.conftest import MINIMAL, docs_text, merge

    text = docs_text("agents.md")
    section = text.split("\n## Agent templates\n", 1)[1].split("\n## ", 1)[0]
    [example] = re.findall(r"```yaml\n(.*?)```", section, re.S)
    app = tmp_path / "agents.yaml"
    app.write_text(yaml.safe_dump(merge(MINIMAL, yaml.safe_load(example))))
    result = synthesize([app], DEFAULT_KUBERNETES_VERSION)
    files = result.trees["agents"]
    assert any(name.endswith("networkpolicy-demo-agent-opencode.yaml") for name in files), sorted(
        files
    )


def test_template_secret_volumes_and_env_from_must_be_declared() -> None:
    template = {
        "image": "busybox:1.36",
        "envFromSecrets": ["llm"],
        "volumes": [
            {"name": "ssh", "secret": {"secretName": "git-ssh"}},
            {"name": "both", "projected": {"sources": [{"secret": {"name": "other"}}]}},
        ],
    }
    spec = {"agents": {"enabled": True, "templates": {"ci": template}}}
    errors = dict(_rule_errors(spec))
    assert sorted(errors) == [
        "spec.agents.templates.ci.envFromSecrets[0]",
        "spec.agents.templates.ci.volumes[0].secret.secretName",
        "spec.agents.templates.ci.volumes[1].projected.sources[0].secret.name",
    ]
    declared = {
        "agents": {**spec["agents"], "secretNames": ["git-ssh", "other"]},
        "adapters": {"apiKeysSecretRef": {"name": "llm"}},  # the LLM keys may be used too
    }
    assert _rule_errors(declared) == []


def test_a_templates_egress_is_a_policy_for_its_own_pods() -> None:
    egress = [{"ports": [{"port": 22, "protocol": "TCP"}]}]
    template = {"image": "busybox:1.36", "egress": egress}
    objects = synth_objects(
        make_instance({"agents": {"enabled": True, "templates": {"git": template}}})
    )
    policy = objects["NetworkPolicy/demo-agent-git"]["spec"]
    assert policy["podSelector"]["matchLabels"]["paperclip.io/template"] == "git"
    assert policy["policyTypes"] == ["Egress"] and policy["egress"] == egress
    assert "NetworkPolicy/demo-agent-opencode" not in objects


def test_the_workspace_needs_no_read_write_many_by_default() -> None:
    objects = synth_objects(make_instance(AGENTS))
    claim = objects["PersistentVolumeClaim/demo-agent-workspace"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]  # any StorageClass, one node
    shared = {"agents": {"enabled": True, "workspace": {"accessMode": "ReadWriteMany"}}}
    warnings = plan_warnings(shared)
    assert [path for path, _ in warnings] == ["spec.agents.workspace.storageClass"]
    assert "assumes that class provides it" in warnings[0][1]
    named = {
        "agents": {
            "enabled": True,
            "workspace": {"accessMode": "ReadWriteMany", "storageClass": "nfs"},
        }
    }
    assert plan_warnings(named) == []
    claim = synth_objects(make_instance(named))["PersistentVolumeClaim/demo-agent-workspace"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def plan_warnings(spec: dict[str, Any]) -> list[tuple[str, str]]:
    from constructs_lib.constructs.build import plan

    return [(p.path, p.message) for p in plan(make_instance(spec)).contribution.warnings]
