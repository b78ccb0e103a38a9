"""The managed database: objects, security, env order, credentials bootstrap, network policy,
and that no secret value is ever generated into the output."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from constructs_lib.constructs.feature import BootstrapSecret, SecretForm
from constructs_lib.errors import UserError
from constructs_lib.spec.rules import errors
from tests.conftest import REPO, make_instance, synth_objects
from tests.unit.test_bootstrap_script import parses

MANAGED: dict[str, Any] = {"database": {"mode": "managed"}}


def db_pod(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return dict(objects["StatefulSet/demo-db"]["spec"]["template"]["spec"])


def server_container(objects: dict[str, dict[str, Any]], init: bool = False) -> dict[str, Any]:
    pod = objects["StatefulSet/demo"]["spec"]["template"]["spec"]
    return dict(pod["initContainers" if init else "containers"][0])


def test_an_unset_mode_means_managed_as_in_the_crd() -> None:
    objects = synth_objects(make_instance({"database": {"mode": None}}))
    assert {
        "StatefulSet/demo-db",
        "Service/demo-db",
        "Service/demo-db-hl",
        "PersistentVolumeClaim/demo-db-data",
        "NetworkPolicy/demo-db",
        "Job/demo-secrets-bootstrap",
    } <= set(objects)
    assert errors(make_instance({"database": {"mode": None}})) == []


def test_the_statefulset_runs_as_the_images_postgres_user_with_a_restricted_context() -> None:
    objects = synth_objects(make_instance(MANAGED))
    sts = objects["StatefulSet/demo-db"]["spec"]
    assert sts["serviceName"] == "demo-db-hl"  # the headless governing Service
    assert objects["Service/demo-db-hl"]["spec"]["clusterIP"] == "None"
    assert objects["Service/demo-db"]["spec"]["ports"][0]["port"] == 5432
    assert sts["replicas"] == 1
    pod = db_pod(objects)
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] | {} == {
        "runAsNonRoot": True,
        "runAsUser": 70,
        "runAsGroup": 70,
        "fsGroup": 70,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    [container] = pod["containers"]
    assert container["image"] == "postgres:17-alpine"
    security = container["securityContext"]
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["allowPrivilegeEscalation"] is False
    assert security["runAsNonRoot"] is True
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    debian = synth_objects(
        make_instance(
            {
                "database": {
                    "mode": "managed",
                    "managed": {"image": "postgres:17.6@sha256:" + "a" * 64},
                }
            }
        )
    )
    assert db_pod(debian)["securityContext"]["runAsUser"] == 999
    assert db_pod(debian)["containers"][0]["image"] == "postgres:17.6@sha256:" + "a" * 64


def test_pgdata_shm_probes_and_shutdown() -> None:
    pod = db_pod(synth_objects(make_instance(MANAGED)))
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["PGDATA"]["value"] == "/var/lib/postgresql/data/pgdata"  # a subdirectory
    assert env["POSTGRES_PASSWORD_FILE"]["value"] == "/etc/paperclip-db-credentials/password"
    assert "POSTGRES_PASSWORD" not in env
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["pgdata"] == "/var/lib/postgresql/data"
    assert mounts["dshm"] == "/dev/shm"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    assert volumes["dshm"]["emptyDir"]["sizeLimit"]
    assert volumes["pgdata"]["persistentVolumeClaim"]["claimName"] == "demo-db-data"
    assert volumes["credentials"]["secret"]["secretName"] == "demo-db-credentials"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600  # crash recovery
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        command = container[probe]["exec"]["command"]
        assert command[:3] == ["pg_isready", "-h", "127.0.0.1"]
    assert container["lifecycle"]["preStop"]["exec"]["command"] == [
        "pg_ctl",
        "stop",
        "-D",
        "/var/lib/postgresql/data/pgdata",
        "-m",
        "fast",
    ]


def test_resources_default_to_the_operators_and_follow_the_spec() -> None:
    pod = db_pod(synth_objects(make_instance(MANAGED)))
    assert pod["containers"][0]["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    custom = {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}}
    spec = {"database": {"mode": "managed", "managed": {"resources": custom}}}
    assert db_pod(synth_objects(make_instance(spec)))["containers"][0]["resources"] == custom


def test_the_data_volume_is_never_pruned_and_follows_storage_size_and_class() -> None:
    spec = {
        "database": {
            "mode": "managed",
            "managed": {"storageSize": "50Gi", "storageClass": "fast-ssd"},
        }
    }
    claim = synth_objects(make_instance(spec))["PersistentVolumeClaim/demo-db-data"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert claim["metadata"]["annotations"] == {
        "argocd.argoproj.io/sync-options": "Delete=false,Prune=false",
        "kustomize.toolkit.fluxcd.io/prune": "disabled",
        "helm.sh/resource-policy": "keep",
    }


def test_server_env_declares_db_password_before_the_url_that_expands_it() -> None:
    objects = synth_objects(make_instance(MANAGED))
    for container in (server_container(objects), server_container(objects, init=True)):
        names = [e["name"] for e in container["env"]]
        assert names.index("DB_PASSWORD") < names.index("DATABASE_URL")
        env = {e["name"]: e for e in container["env"]}
        assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "demo-db-credentials",
            "key": "password",
        }
        assert env["DATABASE_URL"]["value"] == (
            "postgresql://paperclip:$(DB_PASSWORD)@demo-db.team.svc.cluster.local:5432/paperclip"
        )
    # the ConfigMap (envFrom) would not expand $(DB_PASSWORD): the URL is not there
    assert "DATABASE_URL" not in objects["ConfigMap/demo-config"]["data"]


def test_agent_pods_never_see_the_database_credentials() -> None:
    objects = synth_objects(make_instance({**MANAGED, "agents": {"enabled": True}}))
    templates = objects["ConfigMap/demo-launcher"]["data"]["templates.json"]
    assert "DATABASE_URL" not in templates and "db-credentials" not in templates
    launcher = objects["Deployment/demo-launcher"]["spec"]["template"]["spec"]
    assert "db-credentials" not in yaml.safe_dump(launcher)
    agent_policy = objects["NetworkPolicy/demo-agent"]["spec"]
    assert "database" not in yaml.safe_dump(agent_policy)


def test_network_policies_admit_only_the_server_and_backup_pods() -> None:
    objects = synth_objects(make_instance(MANAGED))
    policy = objects["NetworkPolicy/demo-db"]["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "database"
    assert policy["egress"] == [] and policy["policyTypes"] == ["Ingress", "Egress"]
    [rule] = policy["ingress"]
    assert rule["ports"] == [{"port": 5432, "protocol": "TCP"}]
    peers = [p["podSelector"] for p in rule["from"]]
    assert peers[0]["matchLabels"]["app.kubernetes.io/component"] == "server"
    assert peers[1]["matchExpressions"][0]["values"] == ["backup", "restore", "bootstrap"]
    server = objects["NetworkPolicy/demo"]["spec"]["egress"]
    to_db = [r for r in server if r.get("to") and "5432" in str(r["ports"])]
    assert to_db == [
        {
            "to": [
                {
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/name": "paperclip",
                            "app.kubernetes.io/instance": "demo",
                            "app.kubernetes.io/component": "database",
                        }
                    }
                }
            ],
            "ports": [{"port": 5432, "protocol": "TCP"}],
        }
    ]
    off = synth_objects(
        make_instance({**MANAGED, "security": {"networkPolicy": {"enabled": False}}})
    )
    assert "NetworkPolicy/demo-db" not in off


def test_the_credentials_are_created_in_cluster_with_operator_compatible_keys() -> None:
    objects = synth_objects(make_instance(MANAGED))
    args = objects["Job/demo-secrets-bootstrap"]["spec"]["template"]["spec"]["containers"][0][
        "args"
    ]
    assert [a for a in args if a.startswith("demo-db-credentials/")] == [
        "demo-db-credentials/database?=literal:paperclip",
        "demo-db-credentials/host?=literal:demo-db.team.svc.cluster.local",
        "demo-db-credentials/password=token",  # random, URL-safe; the only required key
        "demo-db-credentials/port?=literal:5432",
        "demo-db-credentials/username?=literal:paperclip",
    ]
    assert parses(args)  # the bootstrap script takes every argument the Job passes
    rules = objects["Role/demo-secrets-bootstrap"]["rules"]
    assert rules[1]["resourceNames"] == ["demo-db-credentials"]


def test_bootstrap_secret_forms() -> None:
    literal = BootstrapSecret("n", "port", SecretForm.LITERAL, optional=True, value="5432")
    assert literal.argument == "n/port?=literal:5432"
    assert BootstrapSecret("n", "k", SecretForm.TOKEN).argument == "n/k=token"
    with pytest.raises(ValueError):
        BootstrapSecret("n", "k", SecretForm.LITERAL)
    with pytest.raises(ValueError):
        BootstrapSecret("n", "k", SecretForm.HEX32, value="x")
    assert parses(["--namespace", "ns", "a-db-credentials/host?=literal:a-db.ns.svc.local"])
    for bad in ("a/b=literal:", "a/b=nope", "a=token", "/b=token", "a/b/c=token"):
        assert not parses(["--namespace", "ns", bad]), bad


def _documents(root: Path, pattern: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(root.glob(pattern)):
        text = path.read_text()
        try:
            found += [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        except yaml.YAMLError:  # a Helm template: its documents' top-level keys checked as text
            assert not re.search(r"^kind: Secret$|^stringData:", text, re.MULTILINE), path
    return found


def test_no_secret_value_is_generated_for_the_data_tier() -> None:
    spec = {
        **MANAGED,
        "backup": {
            "schedule": "@daily",
            "s3": {"bucket": "b-1", "credentialsSecretRef": {"name": "s3"}},
        },
    }
    objects = synth_objects(make_instance(spec))
    assert not [k for k in objects if k.startswith("Secret/")]
    assert not [k for k, o in objects.items() if "stringData" in o]
    for obj in objects.values():
        for item in _env_entries(obj):
            name = item["name"]
            if ("PASSWORD" in name or "SECRET" in name) and not name.endswith("_FILE"):
                assert "value" not in item, (obj["metadata"]["name"], item["name"])


def _env_entries(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = list(node["env"]) if isinstance(node.get("env"), list) else []
        for value in node.values():
            found += _env_entries(value)
        return found
    if isinstance(node, list):
        return [e for item in node for e in _env_entries(item)]
    return []


@pytest.mark.parametrize(
    ("root", "pattern"), [("dist", "*/kustomize/**/*.yaml"), ("snapshots", "**/*.yaml")]
)
def test_no_secret_object_or_value_in_committed_output(root: str, pattern: str) -> None:
    documents = _documents(REPO / root, pattern)
    assert documents
    assert not [d for d in documents if d.get("kind") == "Secret"]
    for document in documents:
        assert "stringData" not in document
        for item in _env_entries(document):
            if "PASSWORD" in str(item.get("name", "")) and not item["name"].endswith("_FILE"):
                assert "value" not in item, item["name"]


def test_a_managed_database_with_an_external_url_is_an_error() -> None:
    with pytest.raises(UserError):
        make_instance(
            {
                "database": {
                    "mode": "managed",
                    "externalURL": "postgres://x/y",
                    "managed": {"image": "x y"},
                }
            }
        )
    instance = make_instance({"database": {"mode": "managed", "externalURL": "postgres://x/y"}})
    assert [p.path for p in errors(instance)] == ["spec.database.mode"]
