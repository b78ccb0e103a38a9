"""spec.adapters (LLM keys, E2B, cloud sandbox, execution, registry), connections, branding,
plugins, selfConfigure and image.autoUpdate: env order, names, labels, exact RBAC rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from constructs_lib.constructs.build import plan
from constructs_lib.constructs.image_automation import images_block, previous_values
from constructs_lib.errors import UserError
from constructs_lib.spec.rules import warnings as rule_warnings
from tests.conftest import make_instance, synth_objects

SANDBOX = {"enabled": True, "namespace": "sandboxes", "persistence": {"enabled": True}}
EXECUTION = {
    "mode": "kubernetes",
    "kubernetes": {
        "backend": "sandbox-cr",
        "runtimeClassName": "gvisor",
        "egressMode": "cilium",
        "egressAllowFQDNs": ["api.anthropic.com", "github.com"],
        "egressAllowCIDRs": ["10.0.0.0/8"],
        "namespacePrefix": "pc-",
        "perTenantQuota": {
            "pods": "10",
            "requestsCpu": "2",
            "requestsMemory": "4Gi",
            "limitsCpu": "4",
            "limitsMemory": "8Gi",
        },
    },
}


def _server(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    pod: dict[str, Any] = objects["StatefulSet/demo"]["spec"]["template"]["spec"]
    return pod


def _env_names(objects: dict[str, dict[str, Any]]) -> list[str]:
    """Server variables in order: the ConfigMap's literals and the container's references
    interleave by slot, so both are read in order and compared per source."""
    config = list(objects["ConfigMap/demo-config"]["data"])
    refs = [e["name"] for e in _server(objects)["containers"][0].get("env", [])]
    return config + refs


def _verbs(rules: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    return {
        (group, resource): rule["verbs"]
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def test_keys_e2b_and_connections_are_references_in_the_operator_order() -> None:
    objects = synth_objects(
        make_instance(
            {
                "adapters": {
                    "apiKeysSecretRef": {"name": "llm"},
                    "e2b": {"apiKeySecretRef": {"name": "e2b", "key": "key"}},
                },
                "connections": {
                    "credentialsSecretRef": {"name": "oauth"},
                    "providersConfigRef": {"name": "providers"},
                },
            }
        )
    )
    env = _server(objects)["containers"][0]["env"]
    by_name = {e["name"]: e["valueFrom"] for e in env}
    names = [e["name"] for e in env]
    assert names[-5:] == [
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "E2B_API_KEY",
        "PAPERCLIP_OAUTH_CREDENTIALS",
        "PAPERCLIP_OAUTH_PROVIDERS",
    ]
    assert by_name["ANTHROPIC_API_KEY"] == {
        "secretKeyRef": {"name": "llm", "key": "ANTHROPIC_API_KEY", "optional": True}
    }
    assert by_name["E2B_API_KEY"] == {"secretKeyRef": {"name": "e2b", "key": "key"}}
    assert by_name["PAPERCLIP_OAUTH_CREDENTIALS"] == {
        "secretKeyRef": {"name": "oauth", "key": "PAPERCLIP_OAUTH_CREDENTIALS"}
    }
    assert by_name["PAPERCLIP_OAUTH_PROVIDERS"] == {
        "configMapKeyRef": {
            "name": "providers",
            "key": "PAPERCLIP_OAUTH_PROVIDERS",
            "optional": True,
        }
    }
    # no Kubernetes credentials for any of these
    assert _server(objects)["automountServiceAccountToken"] is False


def test_branding_mounts_the_config_map_read_only() -> None:
    objects = synth_objects(make_instance({"branding": {"cssConfigMapRef": {"name": "brand"}}}))
    pod = _server(objects)
    assert {"name": "paperclip-branding", "configMap": {"name": "brand"}} in pod["volumes"]
    mount = {"name": "paperclip-branding", "mountPath": "/etc/paperclip/branding", "readOnly": True}
    assert mount in pod["containers"][0]["volumeMounts"]
    assert objects["ConfigMap/demo-config"]["data"]["PAPERCLIP_BRAND_DIR"] == (
        "/etc/paperclip/branding"
    )


def test_cloud_sandbox_role_in_its_namespace_with_exactly_the_operator_rules() -> None:
    objects = synth_objects(
        make_instance(
            {
                "adapters": {"cloudSandbox": SANDBOX},
                "availability": {"nodeSelector": {"pool": "agents"}},
            }
        )
    )
    role = objects["Role/demo-sandbox"]
    assert role["metadata"]["namespace"] == "sandboxes"
    assert _verbs(role["rules"]) == {
        ("", "pods"): ["create", "get", "list", "watch", "delete", "patch"],
        ("", "pods/exec"): ["create", "get"],
        ("", "pods/log"): ["get"],
        ("networking.k8s.io", "networkpolicies"): ["create", "get", "update", "patch"],
        ("", "persistentvolumeclaims"): ["create", "get", "list", "delete"],
    }
    binding = objects["RoleBinding/demo-sandbox"]
    assert binding["metadata"]["namespace"] == "sandboxes"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "demo", "namespace": "team"}]
    assert "ClusterRole/team.demo-sandbox" not in objects
    data = objects["ConfigMap/demo-config"]["data"]
    sandbox_env = [k for k in data if k.startswith("PAPERCLIP_CLOUD_SANDBOX_")]
    assert sandbox_env == [
        "PAPERCLIP_CLOUD_SANDBOX_ENABLED",
        "PAPERCLIP_CLOUD_SANDBOX_NAMESPACE",
        "PAPERCLIP_CLOUD_SANDBOX_DEFAULT_IMAGE",
        "PAPERCLIP_CLOUD_SANDBOX_IDLE_TIMEOUT_MIN",
        "PAPERCLIP_CLOUD_SANDBOX_PERSISTENCE_ENABLED",
        "PAPERCLIP_CLOUD_SANDBOX_PERSISTENCE_SIZE",
        "PAPERCLIP_CLOUD_SANDBOX_NODE_SELECTOR",
    ]
    assert data["PAPERCLIP_CLOUD_SANDBOX_NAMESPACE"] == "sandboxes"
    assert data["PAPERCLIP_CLOUD_SANDBOX_NODE_SELECTOR"] == '{"pool":"agents"}'
    pod = _server(objects)
    assert pod["automountServiceAccountToken"] is True
    egress = objects["NetworkPolicy/demo"]["spec"]["egress"]
    assert {"ports": [{"port": 6443, "protocol": "TCP"}]} in egress


def test_multi_namespace_sandbox_cluster_objects_have_collision_free_names() -> None:
    objects = synth_objects(
        make_instance({"adapters": {"cloudSandbox": {"enabled": True, "multiNamespace": True}}})
    )
    role = objects["ClusterRole/team.demo-sandbox"]
    assert "namespace" not in role["metadata"]
    assert role["metadata"]["labels"]["paperclip.inc/instance-namespace"] == "team"
    verbs = _verbs(role["rules"])
    assert verbs[("", "namespaces")] == ["create", "get", "list", "delete"]
    assert verbs[("", "serviceaccounts")] == verbs[("", "services")]
    assert "watch" in verbs[("", "services")]
    assert verbs[("rbac.authorization.k8s.io", "rolebindings")] == [
        "get",
        "list",
        "create",
        "update",
        "patch",
        "delete",
    ]
    binding = objects["ClusterRoleBinding/team.demo-sandbox"]
    assert binding["roleRef"]["name"] == "team.demo-sandbox"
    # a-b/c and a/b-c would both be a-b-c-sandbox with the operator's naming
    first = synth_objects(
        make_instance(
            {"adapters": {"cloudSandbox": {"enabled": True, "multiNamespace": True}}},
            name="c",
            namespace="a-b",
        )
    )
    second = synth_objects(
        make_instance(
            {"adapters": {"cloudSandbox": {"enabled": True, "multiNamespace": True}}},
            name="b-c",
            namespace="a",
        )
    )
    cluster = {k for k in first if k.startswith("Cluster")}
    assert cluster.isdisjoint(k for k in second if k.startswith("Cluster"))


def test_execution_mode_kubernetes_cluster_role_env_and_token() -> None:
    objects = synth_objects(make_instance({"adapters": {"execution": EXECUTION}}))
    role = objects["ClusterRole/team.demo-execution"]
    assert _verbs(role["rules"]) == {
        ("", "namespaces"): ["get", "create"],
        ("", "serviceaccounts"): ["get", "create"],
        ("", "resourcequotas"): ["get", "create"],
        ("", "limitranges"): ["get", "create"],
        ("", "secrets"): ["get", "create"],
        ("rbac.authorization.k8s.io", "roles"): ["get", "create"],
        ("rbac.authorization.k8s.io", "rolebindings"): ["get", "create"],
        ("networking.k8s.io", "networkpolicies"): ["get", "create"],
        ("", "pods"): ["get", "list"],
        ("", "pods/log"): ["get"],
        ("", "pods/exec"): ["create", "get"],
        ("batch", "jobs"): ["get", "list", "create", "delete"],
        ("batch", "jobs/status"): ["get", "list", "create", "delete"],
        ("agents.x-k8s.io", "sandboxes"): ["get", "create", "delete"],
        ("cilium.io", "ciliumnetworkpolicies"): ["get", "create"],
        ("node.k8s.io", "runtimeclasses"): ["get", "use"],
    }
    [runtime] = [r for r in role["rules"] if r["apiGroups"] == ["node.k8s.io"]]
    assert runtime["resourceNames"] == ["gvisor"]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        assert "*" not in rule["apiGroups"]
    binding = objects["ClusterRoleBinding/team.demo-execution"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "demo", "namespace": "team"}]
    data = objects["ConfigMap/demo-config"]["data"]
    execution = [k for k in data if k.startswith(("PAPERCLIP_EXECUTION", "PAPERCLIP_K8S"))]
    assert execution == [
        "PAPERCLIP_EXECUTION_MODE",
        "PAPERCLIP_K8S_IN_CLUSTER",
        "PAPERCLIP_K8S_BACKEND",
        "PAPERCLIP_K8S_RUNTIME_CLASS_NAME",
        "PAPERCLIP_K8S_EGRESS_MODE",
        "PAPERCLIP_K8S_EGRESS_POLICY",
        "PAPERCLIP_K8S_EGRESS_ALLOW_FQDNS",
        "PAPERCLIP_K8S_EGRESS_ALLOW_CIDRS",
        "PAPERCLIP_K8S_NAMESPACE_PREFIX",
        "PAPERCLIP_K8S_QUOTA_PODS",
        "PAPERCLIP_K8S_QUOTA_REQUESTS_CPU",
        "PAPERCLIP_K8S_QUOTA_REQUESTS_MEMORY",
        "PAPERCLIP_K8S_QUOTA_LIMITS_CPU",
        "PAPERCLIP_K8S_QUOTA_LIMITS_MEMORY",
    ]
    assert data["PAPERCLIP_K8S_EGRESS_ALLOW_FQDNS"] == "api.anthropic.com,github.com"
    assert _server(objects)["automountServiceAccountToken"] is True
    egress = objects["NetworkPolicy/demo"]["spec"]["egress"]
    assert egress.count({"ports": [{"port": 6443, "protocol": "TCP"}]}) == 1


def test_execution_tenant_limit_range_env_names_each_field_in_the_operators_order() -> None:
    limits = {
        "defaultCpu": "500m",
        "defaultMemory": "512Mi",
        "defaultRequestCpu": "250m",
        "defaultRequestMemory": "256Mi",
        "maxCpu": "2",
        "maxMemory": "4Gi",
    }
    kubernetes = {**EXECUTION["kubernetes"], "perTenantLimitRange": limits}  # type: ignore[dict-item]
    execution = {**EXECUTION, "kubernetes": kubernetes}
    data = synth_objects(make_instance({"adapters": {"execution": execution}}))[
        "ConfigMap/demo-config"
    ]["data"]
    assert {k: v for k, v in data.items() if "_LIMITRANGE_" in k} == {
        "PAPERCLIP_K8S_LIMITRANGE_DEFAULT_CPU": "500m",
        "PAPERCLIP_K8S_LIMITRANGE_DEFAULT_MEMORY": "512Mi",
        "PAPERCLIP_K8S_LIMITRANGE_DEFAULT_REQUEST_CPU": "250m",
        "PAPERCLIP_K8S_LIMITRANGE_DEFAULT_REQUEST_MEMORY": "256Mi",
        "PAPERCLIP_K8S_LIMITRANGE_MAX_CPU": "2",
        "PAPERCLIP_K8S_LIMITRANGE_MAX_MEMORY": "4Gi",
    }
    assert list(data).index("PAPERCLIP_K8S_QUOTA_LIMITS_MEMORY") + 1 == list(data).index(
        "PAPERCLIP_K8S_LIMITRANGE_DEFAULT_CPU"
    )


def _execution_groups(execution: dict[str, Any]) -> tuple[set[str], dict[str, str]]:
    objects = synth_objects(make_instance({"adapters": {"execution": execution}}))
    rules = objects["ClusterRole/team.demo-execution"]["rules"]
    data = objects["ConfigMap/demo-config"]["data"]
    return {g for r in rules for g in r["apiGroups"]}, data


def test_execution_job_backend_has_no_sandbox_rights_and_mode_any_is_a_no_op() -> None:
    core = {"", "rbac.authorization.k8s.io", "networking.k8s.io", "batch"}
    # a kubernetes block gets the CRD's default backend job, written into the env
    for block in ({}, {"backend": "job"}):
        groups, data = _execution_groups({"mode": "kubernetes", "kubernetes": block})
        assert groups == core
        assert data["PAPERCLIP_K8S_BACKEND"] == "job"
    baseline = synth_objects(make_instance())
    assert synth_objects(make_instance({"adapters": {"execution": {"mode": "any"}}})) == baseline


def test_execution_without_a_kubernetes_block_may_create_sandboxes() -> None:
    """No kubernetes block: no PAPERCLIP_K8S_BACKEND, so the server's sandbox provider uses its
    own default backend, sandbox-cr, and creates agents.x-k8s.io Sandboxes; the operator grants
    them for an unset backend (``k == nil || k.Backend != "job"``). Without the rule every run
    is refused (403)."""
    groups, data = _execution_groups({"mode": "kubernetes"})
    assert "PAPERCLIP_K8S_BACKEND" not in data
    assert groups == {
        "",
        "rbac.authorization.k8s.io",
        "networking.k8s.io",
        "batch",
        "agents.x-k8s.io",
    }


def test_rbac_create_false_keeps_env_and_token_without_rbac_objects() -> None:
    instance = make_instance(
        {
            "adapters": {"execution": {"mode": "kubernetes"}, "cloudSandbox": {"enabled": True}},
            "security": {"rbac": {"create": False}},
        }
    )
    objects = synth_objects(instance)
    assert not [k for k in objects if k.split("/")[0] in ("Role", "RoleBinding", "ClusterRole")]
    assert _server(objects)["automountServiceAccountToken"] is True
    paths = [w.path for w in plan(instance).contribution.warnings]
    assert "spec.adapters.execution.mode" in paths
    assert "spec.adapters.cloudSandbox.enabled" in paths


@pytest.mark.parametrize(
    ("adapters", "path"),
    [
        ({"execution": {"mode": "kubernetes"}}, "spec.adapters.execution.mode"),
        ({"cloudSandbox": {"enabled": True}}, "spec.adapters.cloudSandbox.enabled"),
    ],
)
def test_kubernetes_credentials_in_the_server_refuse_the_agents_launcher(
    adapters: dict[str, Any], path: str
) -> None:
    instance = make_instance({"adapters": adapters, "agents": {"enabled": True}})
    errors = plan(instance).contribution.errors
    assert [e.path for e in errors] == [path]
    assert "spec.agents" in errors[0].message


def test_registry_is_compact_json_in_declaration_order() -> None:
    registry = [
        {
            "adapterType": "opencode_k8s",
            "runtimeImage": "ghcr.io/paperclipai/agent-runtime-opencode:1.0.0",
            "envKeys": ["ANTHROPIC_API_KEY"],
            "defaultEnv": {"B": "2", "A": "1"},
        },
        {"adapterType": "claude_local", "enabled": False},
    ]
    instance = make_instance({"adapters": {"registry": registry}})
    data = synth_objects(instance)["ConfigMap/demo-config"]["data"]
    value = data["PAPERCLIP_ADAPTERS"]
    assert json.loads(value) == [
        {
            "adapterType": "opencode_k8s",
            "runtimeImage": "ghcr.io/paperclipai/agent-runtime-opencode:1.0.0",
            "envKeys": ["ANTHROPIC_API_KEY"],
            "defaultEnv": {"A": "1", "B": "2"},
        },
        {"adapterType": "claude_local", "enabled": False},
    ]
    assert " " not in value
    keys = list(data)
    assert keys.index("PAPERCLIP_ADAPTERS") < keys.index("PAPERCLIP_LOG_LEVEL")


def test_registry_default_env_that_looks_secret_is_a_warning() -> None:
    instance = make_instance(
        {"adapters": {"registry": [{"adapterType": "x", "defaultEnv": {"API_TOKEN": "t"}}]}}
    )
    [warning] = plan(instance).contribution.warnings
    assert warning.path == "spec.adapters.registry[0].defaultEnv.API_TOKEN"


@pytest.mark.parametrize(
    ("patch", "path", "words"),
    [
        ({"plugins": [{"name": "@paperclip/analytics"}]}, "spec.plugins", "installed"),
        ({"selfConfigure": {"enabled": True}}, "spec.selfConfigure", "git"),
        (
            {"image": {"autoUpdate": {"interval": "30s"}}},
            "spec.image.autoUpdate.interval",
            "'30s' is below the minimum of 1m (the operator silently used 5m instead); "
            "write 1m or more",
        ),
        (
            {"image": {"autoUpdate": {"interval": "5 min"}}},
            "spec.image.autoUpdate.interval",
            "'5 min' is not an interval: write a number with s, m or h, e.g. 5m",
        ),
    ],
)
def test_refused_fields_name_the_path_and_the_fix(
    patch: dict[str, Any], path: str, words: str
) -> None:
    with pytest.raises(UserError) as caught:
        make_instance(patch)
    [problem] = caught.value.problems
    assert problem.path == path
    assert words in problem.message


def test_image_automation_objects_follow_the_tag_or_the_digest() -> None:
    objects = synth_objects(
        make_instance(
            {
                "image": {
                    "autoUpdate": {"enabled": True, "interval": "10m"},
                    "pullSecrets": [{"name": "ghcr"}],
                }
            }
        )
    )
    repository = objects["ImageRepository/demo"]
    assert repository["apiVersion"] == "image.toolkit.fluxcd.io/v1"
    assert repository["spec"] == {
        "image": "ghcr.io/paperclipai/paperclip",
        "interval": "10m",
        "secretRef": {"name": "ghcr"},
    }
    assert objects["ImagePolicy/demo"]["spec"] == {
        "imageRepositoryRef": {"name": "demo"},
        "policy": {"semver": {"range": ">=2026.1106.0"}},
    }
    pinned = synth_objects(
        make_instance(
            {
                "image": {
                    "tag": "stable",
                    "digest": "sha256:" + "a" * 64,
                    "autoUpdate": {"enabled": True},
                }
            }
        )
    )
    assert pinned["ImagePolicy/demo"]["spec"] == {
        "imageRepositoryRef": {"name": "demo"},
        "filterTags": {"pattern": "^stable$"},
        "policy": {"alphabetical": {"order": "asc"}},
        "digestReflectionPolicy": "Always",
        "interval": "5m",
    }


def test_a_moving_tag_without_digest_cannot_be_auto_updated() -> None:
    instance = make_instance({"image": {"tag": "stable", "autoUpdate": {"enabled": True}}})
    [error] = plan(instance).contribution.errors
    assert error.path == "spec.image.autoUpdate.enabled"
    assert "digest" in error.fix


def test_images_block_marks_the_tag_and_keeps_what_flux_committed() -> None:
    instance = make_instance({"image": {"autoUpdate": {"enabled": True}}})
    block = images_block([instance])
    marker = '# {"$imagepolicy": "team:demo:tag"}'
    assert f"  newTag: 2026.1106.0 {marker}" in block.splitlines()
    header = "kind: Kustomization\nresources: []\n"
    # Flux commits a newer tag; a later synth keeps it while the spec is unchanged
    committed = header + block.replace("newTag: 2026.1106.0", "newTag: 2026.1201.0")
    assert previous_values(committed) == {("team", "demo"): ("2026.1106.0", "2026.1201.0")}
    assert "newTag: 2026.1201.0" in images_block([instance], committed)
    # the spec moves on: the spec wins
    bumped = make_instance({"image": {"tag": "2027.0101.0", "autoUpdate": {"enabled": True}}})
    assert "newTag: 2027.0101.0" in images_block([bumped], committed)
    assert images_block([make_instance()], committed) == ""


def test_synth_and_check_keep_the_tag_flux_committed(tmp_path: Path) -> None:
    """Through the CLI: Flux's image automation edits newTag in dist/; a later synth keeps it
    (the spec's tag did not change)."""
    from click.testing import CliRunner

    from constructs_lib.cli import main
    from tests.conftest import doc_yaml

    app = tmp_path / "auto.yaml"
    app.write_text(doc_yaml({"image": {"tag": "2026.1106.0", "autoUpdate": {"enabled": True}}}))
    out = tmp_path / "dist"
    runner = CliRunner()
    assert runner.invoke(main, ["synth", str(app), "--out", str(out)]).exit_code == 0
    kustomization = out / "auto" / "kustomize" / "kustomization.yaml"
    text = kustomization.read_text()
    assert "newTag: 2026.1106.0 #" in text
    kustomization.write_text(text.replace("newTag: 2026.1106.0 #", "newTag: 2026.1201.0 #"))
    result = runner.invoke(main, ["synth", str(app), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "newTag: 2026.1201.0 #" in kustomization.read_text()


def test_a_kubernetes_block_without_mode_kubernetes_warns_that_it_is_unused() -> None:
    """mode any (the default) ignores the kubernetes block: say so, rather than drop it."""
    unused = make_instance({"adapters": {"execution": {"kubernetes": {"backend": "job"}}}})
    assert [w.path for w in rule_warnings(unused)] == ["spec.adapters.execution.kubernetes"]
    used = {"adapters": {"execution": {"mode": "kubernetes", "kubernetes": {"backend": "job"}}}}
    assert "spec.adapters.execution.kubernetes" not in [
        w.path for w in rule_warnings(make_instance(used))
    ]
