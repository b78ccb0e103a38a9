"""Input handling of the spec: no-op blocks, exported Instances, strict and bounded numbers,
credentials in URLs, metadata carried onto objects, and the warnings that explain a spec."""

from __future__ import annotations

from typing import Any

import pytest

from constructs_lib.constructs.build import plan
from constructs_lib.errors import UserError
from constructs_lib.spec import Instance, rules
from constructs_lib.spec.loader import parse_instance
from launcher.schema_docs import json_schema
from tests.conftest import MINIMAL, make_instance, merge, synth_objects

NO_OP_BLOCKS: list[dict[str, Any]] = [
    {"tailscale": {"enabled": False}},
    {"observability": {"metrics": {"enabled": False}}},
    {"networking": {"ingress": {"enabled": False}}},
    {"networking": {"httpRoute": {"enabled": False, "hostnames": []}}},
    {"availability": {"autoScaling": {"enabled": False}}},
    {"availability": {"podDisruptionBudget": {"enabled": False}}},
    {"image": {"tag": "2026.1106.0", "autoUpdate": {"enabled": False, "interval": "5m"}}},
    {"selfConfigure": {"enabled": False}},
    {"adapters": {}},
    {"plugins": []},
    {"restoreFrom": ""},
    {"backup": {}},
    {
        "database": {
            "mode": "embedded",
            "managed": {"image": "postgres:17-alpine", "storageSize": "10Gi"},
        }
    },
    {
        "database": {
            "mode": "external",
            "externalURLSecretRef": {"name": "db", "key": "url"},
            "managed": {"image": "postgres:17-alpine", "storageSize": "10Gi"},
        }
    },
]


@pytest.mark.parametrize("block", NO_OP_BLOCKS, ids=lambda b: next(iter(b)))
def test_disabled_or_empty_blocks_of_unbuilt_features_are_no_ops(block: dict[str, Any]) -> None:
    baseline = synth_objects(make_instance())
    assert synth_objects(make_instance(block)).keys() == baseline.keys()


def test_an_enabled_feature_is_validated_not_ignored() -> None:
    errors = plan(make_instance({"tailscale": {"enabled": True}})).contribution.errors
    assert [p.path for p in errors] == ["spec.tailscale.authKey"]


EXPORTED = """
apiVersion: paperclip.inc/v1alpha1
kind: Instance
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"paperclip.inc/v1alpha1","kind":"Instance"}
  creationTimestamp: "2026-11-01T10:00:00Z"
  finalizers: [paperclip.ai/finalizer]
  generation: 3
  managedFields:
  - apiVersion: paperclip.inc/v1alpha1
    fieldsType: FieldsV1
    fieldsV1: {f:spec: {}}
    manager: kubectl-client-side-apply
    operation: Update
    time: "2026-11-01T10:00:00Z"
  name: exported
  namespace: team
  resourceVersion: "48213"
  uid: 0b6c1a2e-8f5d-4a8e-9a57-1f1d7c0a0b11
spec:
  availability:
    replicas: 1
    serverDrain: {enabled: true, timeoutSeconds: 15}
    terminationGracePeriodSeconds: 1800
    autoScaling:
      {enabled: false, maxReplicas: 3, minReplicas: 1, targetCPUUtilizationPercentage: 80}
  database: {mode: embedded}
  deployment: {exposure: private, mode: local_trusted}
  heartbeat: {enabled: true, intervalMS: 60000, schedulerGating: ordinal}
  image: {pullPolicy: IfNotPresent, repository: ghcr.io/paperclipai/paperclip, tag: 2026.1106.0}
  networking:
    service: {port: 3100, type: ClusterIP}
    ingress: {enabled: false}
  observability:
    logging: {level: info}
    metrics: {enabled: false}
  probes: {type: auto}
  secrets: {provider: local_encrypted}
  security:
    networkPolicy: {enabled: true}
    rbac: {create: true}
    seLinuxRelabel: false
  storage:
    persistence: {accessModes: [ReadWriteOnce], enabled: true, size: 5Gi}
  tailscale: {enabled: false, mode: serve}
  workload: StatefulSet
status:
  conditions:
  - {lastTransitionTime: "2026-11-01T10:01:00Z", message: ok, reason: AllResourcesReady,
     status: "True", type: Ready}
  phase: Running
"""


def test_an_instance_exported_with_kubectl_loads() -> None:
    import yaml

    instance = parse_instance(yaml.safe_load(EXPORTED))
    objects = synth_objects(instance)
    assert "StatefulSet/exported" in objects
    for obj in objects.values():
        annotations = obj["metadata"].get("annotations", {})
        assert "kubectl.kubernetes.io/last-applied-configuration" not in annotations


def test_public_url_is_passed_through_as_written() -> None:
    instance = make_instance({"deployment": {"publicURL": "https://x.example.com"}})
    data = synth_objects(instance)["ConfigMap/demo-config"]["data"]
    assert data["PAPERCLIP_PUBLIC_URL"] == "https://x.example.com"


def paths_of(spec: dict[str, Any], **metadata: Any) -> list[str]:
    with pytest.raises(UserError) as caught:
        make_instance(spec, **metadata)
    return [p.path for p in caught.value.problems]


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"availability": {"replicas": 4294967296}}, "spec.availability.replicas"),
        ({"availability": {"replicas": 2**70}}, "spec.availability.replicas"),
        ({"availability": {"replicas": True}}, "spec.availability.replicas"),
        ({"availability": {"replicas": "3"}}, "spec.availability.replicas"),
        ({"suspended": "off"}, "spec.suspended"),
        ({"suspended": 0}, "spec.suspended"),
        (
            {"availability": {"terminationGracePeriodSeconds": 2**63}},
            "spec.availability.terminationGracePeriodSeconds",
        ),
        ({"heartbeat": {"intervalMS": 2**31}}, "spec.heartbeat.intervalMS"),
        ({"probes": {"liveness": {"periodSeconds": 0}}}, "spec.probes.liveness.periodSeconds"),
        (
            {"probes": {"liveness": {"successThreshold": 2}}},
            "spec.probes.liveness.successThreshold",
        ),
        ({"agents": {"launcher": {"replicas": 2**31}}}, "spec.agents.launcher.replicas"),
        (
            {"availability": {"priorityClassName": "High Priority"}},
            "spec.availability.priorityClassName",
        ),
    ],
)
def test_numbers_are_strict_and_bounded_by_their_kubernetes_type(
    spec: dict[str, Any], path: str
) -> None:
    assert path in paths_of(spec)


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        (
            {
                "database": {
                    "mode": "external",
                    "externalURL": "postgres://db.example.com/pc?sslmode=require&password=x",
                }
            },
            "spec.database.externalURL",
        ),
        (
            {"deployment": {"publicURL": "https://user:pw@x.example.com"}},
            "spec.deployment.publicURL",
        ),
        (
            {
                "objectStorage": {
                    "provider": "minio",
                    "bucket": "files",
                    "endpoint": "http://k:s@minio:9000",
                }
            },
            "spec.objectStorage.endpoint",
        ),
    ],
)
def test_credentials_in_url_fields_are_refused(spec: dict[str, Any], path: str) -> None:
    assert paths_of(spec) == [path]


def warnings_of(spec: dict[str, Any], **metadata: Any) -> list[tuple[str, str]]:
    instance = make_instance(spec, **metadata)
    found = rules.warnings(instance) + plan(instance).contribution.warnings
    return [(p.path, p.message) for p in found]


def test_literal_env_that_looks_like_a_credential_is_a_warning() -> None:
    env = [
        {"name": "OPENAI_API_KEY", "value": "sk-live"},
        {"name": "GITHUB_TOKEN", "value": "x"},
        {"name": "FEATURE_FLAGS", "value": "a,b"},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}},
    ]
    flagged = [path for path, _ in warnings_of({"env": env}) if path.startswith("spec.env")]
    assert flagged == ["spec.env[0].value", "spec.env[1].value"]


def test_instance_labels_and_annotations_reach_every_object_generated_labels_win() -> None:
    labels = {"team": "platform", "app.kubernetes.io/name": "mine"}
    instance = make_instance({"agents": {"enabled": True}}, labels=labels)
    for key, obj in synth_objects(instance).items():
        meta = obj["metadata"]
        assert meta["labels"]["team"] == "platform", key
        assert meta["labels"]["app.kubernetes.io/name"] == "paperclip", key
    assert ("metadata.labels.app.kubernetes.io/name") in [
        path for path, _ in warnings_of({}, labels=labels)
    ]


@pytest.mark.parametrize(
    "spec",
    [
        {
            "deployment": {
                "mode": "authenticated",
                "exposure": "public",
                "publicURL": "https://x.io",
            },
            "auth": {"secretRef": {"name": "a", "key": "k"}},
        },
        {"networking": {"service": {"type": "LoadBalancer"}}},
        {"networking": {"service": {"type": "NodePort"}}},
    ],
)
def test_exposure_the_network_policy_blocks_is_a_warning(spec: dict[str, Any]) -> None:
    found = [p for p, _ in warnings_of(spec)]
    assert "spec.security.networkPolicy.allowIngressCIDRs" in found
    opened = merge(spec, {"security": {"networkPolicy": {"allowIngressCIDRs": ["10.0.0.0/8"]}}})
    assert "spec.security.networkPolicy.allowIngressCIDRs" not in [
        p for p, _ in warnings_of(opened)
    ]


def test_pod_security_restricted_violations_name_their_field() -> None:
    spec = {
        "security": {"seLinuxRelabel": True},
        "extraVolumes": [{"name": "host", "hostPath": {"path": "/var/run"}}],
        "sidecars": [
            {"name": "debug", "image": "busybox:1.36", "securityContext": {"privileged": True}}
        ],
        "initContainers": [{"name": "prep", "image": "busybox:1.36"}],
    }
    found = {path for path, message in warnings_of(spec) if "restricted" in message}
    assert found == {
        "spec.security.seLinuxRelabel",
        "spec.extraVolumes[0]",
        "spec.sidecars[0]",
        "spec.initContainers[0]",
    }
    assert not [m for _, m in warnings_of({}) if "restricted" in m]


def test_a_users_init_container_named_like_the_relabel_one_is_named_as_the_users() -> None:
    """Without seLinuxRelabel, an init container the user calls selinux-relabel is theirs."""
    spec = {
        "initContainers": [
            {
                "name": "selinux-relabel",
                "image": "busybox:1.36",
                "securityContext": {"privileged": True},
            }
        ]
    }
    found = {path for path, message in warnings_of(spec) if "restricted" in message}
    assert found == {"spec.initContainers[0]"}


def test_several_replicas_get_a_shared_master_key_made_in_cluster() -> None:
    ha = {
        "deployment": {"mode": "authenticated"},
        "auth": {"secretRef": {"name": "a", "key": "k"}},
        "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}},
        "objectStorage": {"provider": "s3", "bucket": "files"},
        "heartbeat": {"schedulerGating": "lease"},
        "availability": {"replicas": 2},
    }
    objects = synth_objects(make_instance(ha))
    args = objects["Job/demo-secrets-bootstrap"]["spec"]["template"]["spec"]["containers"][0][
        "args"
    ]
    assert "demo-secrets-master-key/master-key=base64-32" in args
    assert objects["Role/demo-secrets-bootstrap"]["rules"][1]["resourceNames"] == [
        "demo-secrets-master-key"
    ]
    env = objects["StatefulSet/demo"]["spec"]["template"]["spec"]["containers"][0]["env"]
    [master] = [e for e in env if e["name"] == "PAPERCLIP_SECRETS_MASTER_KEY"]
    assert master["valueFrom"]["secretKeyRef"] == {
        "name": "demo-secrets-master-key",
        "key": "master-key",
    }
    assert "spec.secrets.masterKeySecretRef" in [p for p, _ in warnings_of(ha)]
    # one replica: no bootstrap for it; the optional reference stays
    single = synth_objects(make_instance({**ha, "availability": {"replicas": 1}}))
    assert "Job/demo-secrets-bootstrap" not in single


def test_secrets_bootstrap_runs_before_every_sync_under_argo_helm_and_flux() -> None:
    objects = synth_objects(make_instance({"agents": {"enabled": True}}))
    for kind, weight in (
        ("ServiceAccount", "-10"),
        ("Role", "-10"),
        ("RoleBinding", "-10"),
        ("Job", "-5"),
    ):
        annotations = objects[f"{kind}/demo-secrets-bootstrap"]["metadata"]["annotations"]
        assert annotations["argocd.argoproj.io/hook"] == "PreSync"
        assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
        assert annotations["helm.sh/hook-weight"] == weight
        assert annotations["kustomize.toolkit.fluxcd.io/force"] == "Enabled"
    job = objects["Job/demo-secrets-bootstrap"]
    assert "ttlSecondsAfterFinished" not in job["spec"]  # a TTL loops OutOfSync under Argo CD
    rules_ = objects["Role/demo-secrets-bootstrap"]["rules"]
    assert rules_ == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "verbs": ["get"],
            "resourceNames": ["demo-launcher-token"],
        },
    ]


def test_no_bootstrap_when_nothing_is_registered() -> None:
    assert not [k for k in synth_objects(make_instance()) if "secrets-bootstrap" in k]


def _properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    """(dotted path, property schema, required) for every property of every definition."""
    found = []
    definitions = {"Instance": schema, **schema.get("$defs", {})}
    for name, definition in definitions.items():
        required = set(definition.get("required", []))
        for key, prop in definition.get("properties", {}).items():
            found.append((f"{name}.{key}", prop, key in required))
    return found


def test_every_schema_field_has_a_description_that_states_its_default() -> None:
    schema = json_schema(Instance)
    missing = [
        path
        for path, prop, required in _properties(schema)
        if not any(word in prop.get("description", "") for word in ("Default", "Required"))
        and not required
    ]
    assert missing == []
    assert merge(MINIMAL, {}) == MINIMAL
