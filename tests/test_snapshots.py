"""Per-feature snapshots: one small scenario per construct, feature and option that changes the
output, each holding only the objects that scenario is about — readable on its own in a pull
request. `dist/` stays the full picture of the apps (checked by `paperclip-gitops check`).

Update after reviewing a change: `.venv/bin/pytest tests/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import make_instance, synth_objects

Select = Callable[[dict[str, Any]], bool]

AUTH = {
    "deployment": {"mode": "authenticated"},
    "auth": {"secretRef": {"name": "demo-auth", "key": "secret"}},
}
EXTERNAL_DB = {
    "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}}
}
HA = {
    **AUTH,
    **EXTERNAL_DB,
    "workload": "Deployment",
    "storage": {"persistence": {"enabled": False}},
    "objectStorage": {"provider": "s3", "bucket": "files", "region": "eu-west-1"},
    "heartbeat": {"schedulerGating": "lease"},
    "availability": {"replicas": 3},
}


def kinds(*names: str) -> Select:
    return lambda obj: obj["kind"] in names


def component(*names: str) -> Select:
    def select(obj: dict[str, Any]) -> bool:
        labels = obj["metadata"].get("labels", {})
        return labels.get("app.kubernetes.io/component") in names

    return select


def named(*suffixes: str) -> Select:
    return lambda obj: obj["metadata"]["name"].endswith(suffixes)


SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, Any], Select]] = {
    # name: (spec patch, metadata, which objects the snapshot shows)
    "server-local-trusted-embedded": ({}, {}, lambda obj: True),
    "server-authenticated-external-db": (
        {
            **AUTH,
            **EXTERNAL_DB,
            "deployment": {
                "mode": "authenticated",
                "publicURL": "https://pc.example.com",
                "allowedHostnames": ["pc.example.com"],
            },
        },
        {},
        kinds("ConfigMap", "StatefulSet", "NetworkPolicy"),
    ),
    "server-deployment-ha": (HA, {}, kinds("Deployment", "ConfigMap")),
    "server-statefulset-ordinal-gating": (
        {**HA, "workload": "StatefulSet", "heartbeat": {"schedulerGating": "ordinal"}},
        {},
        kinds("StatefulSet"),
    ),
    "server-security-overrides": (
        {
            "security": {
                "podSecurityContext": {"fsGroup": 2000},
                "containerSecurityContext": {"readOnlyRootFilesystem": True},
                "seLinuxRelabel": True,
                "networkPolicy": {
                    "allowIngressCIDRs": ["10.0.0.0/8"],
                    "allowEgressCIDRs": ["192.168.0.0/16"],
                },
                "rbac": {"serviceAccountAnnotations": {"eks.amazonaws.com/role-arn": "arn:x"}},
            }
        },
        {},
        kinds("StatefulSet", "NetworkPolicy", "ServiceAccount"),
    ),
    "server-without-persistence-or-policy": (
        {
            **EXTERNAL_DB,
            "storage": {"persistence": {"enabled": False}},
            "security": {"networkPolicy": {"enabled": False}},
            "networking": {"service": {"type": "LoadBalancer", "port": 8080}},
        },
        {},
        kinds("StatefulSet", "Service"),
    ),
    "server-probes-and-drain": (
        {
            "probes": {
                "type": "tcp",
                "liveness": {"periodSeconds": 30},
                "startup": {"failureThreshold": 60},
            },
            "availability": {
                "terminationGracePeriodSeconds": 60,
                "serverDrain": {"timeoutSeconds": 20},
            },
        },
        {},
        kinds("StatefulSet"),
    ),
    "availability-autoscaler-and-budget": (
        {
            **HA,
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
            "availability": {
                "autoScaling": {
                    "enabled": True,
                    "minReplicas": 2,
                    "maxReplicas": 6,
                    "targetMemoryUtilizationPercentage": 75,
                },
                "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
            },
        },
        {},
        kinds("HorizontalPodAutoscaler", "PodDisruptionBudget"),
    ),
    "networking-ingress-and-http-route": (
        {
            "networking": {
                "ingress": {
                    "enabled": True,
                    "ingressClassName": "nginx",
                    "hosts": ["pc.example.com"],
                    "tls": [{"hosts": ["pc.example.com"], "secretName": "pc-tls"}],
                },
                "httpRoute": {
                    "enabled": True,
                    "parentRefs": [{"name": "public", "namespace": "gateways"}],
                    "hostnames": ["pc.example.org"],
                },
            }
        },
        {},
        kinds("Ingress", "HTTPRoute", "NetworkPolicy"),
    ),
    "instance-metadata-carried": (
        {},
        {"labels": {"team": "platform"}, "annotations": {"owner": "platform@example.com"}},
        kinds("Service", "ServiceAccount"),
    ),
    "agents-default": (
        {"agents": {"enabled": True}},
        {},
        named("-launcher", "-launcher-adapter", "-agent", "-agent-workspace"),
    ),
    "agents-custom-templates": (
        {
            "agents": {
                "enabled": True,
                "launcher": {"replicas": 2},
                "secretNames": ["ci-agent"],
                "templates": {
                    "ci": {
                        "image": "ghcr.io/example/ci-agent:1.4.2",
                        "command": ["/bin/sh", "-c", "make check"],
                        "env": [
                            {
                                "name": "GITHUB_TOKEN",
                                "secretKeyRef": {"name": "ci-agent", "key": "token"},
                            }
                        ],
                        "timeoutSeconds": 1800,
                    }
                },
            }
        },
        {},
        named("-launcher"),
    ),
    "secrets-bootstrap-launcher-token": (
        {"agents": {"enabled": True}},
        {},
        component("secrets-bootstrap"),
    ),
    "secrets-bootstrap-shared-master-key": (HA, {}, component("secrets-bootstrap")),
    # the data tier
    "database-managed": ({"database": {"mode": "managed"}}, {}, component("database")),
    "database-managed-server": (
        {"database": {"mode": "managed"}},
        {},
        lambda obj: (
            obj["metadata"]["name"] in ("demo", "demo-config")
            and obj["kind"] in ("StatefulSet", "ConfigMap", "NetworkPolicy")
        ),
    ),
    "secrets-bootstrap-db-credentials": (
        {"database": {"mode": "managed"}},
        {},
        component("secrets-bootstrap"),
    ),
    "backup-s3-and-restore": (
        {
            "database": {"mode": "managed"},
            "backup": {
                "schedule": "0 3 * * *",
                "retentionDays": 14,
                "s3": {
                    "bucket": "paperclip-backups",
                    "endpoint": "https://account.r2.cloudflarestorage.com",
                    "region": "auto",
                    "credentialsSecretRef": {"name": "backup-r2"},
                },
            },
            "restoreFrom": "backups/demo/20260101T030000Z.dump",
        },
        {},
        lambda obj: component("backup", "restore")(obj) and obj["kind"] != "ConfigMap",
    ),
    "backup-app-native": (
        {"backup": {"appNative": {"enabled": True, "intervalMinutes": 30, "retentionDays": 14}}},
        {},
        kinds("ConfigMap"),
    ),
    # observability.metrics and tailscale (issue 11)
    "observability-metrics": (
        {
            "deployment": {"mode": "authenticated", "exposure": "public"},
            "auth": {"secretRef": {"name": "demo-auth", "key": "secret"}},
            "observability": {
                "metrics": {
                    "enabled": True,
                    "serviceMonitor": {"enabled": True, "labels": {"release": "kps"}},
                    "prometheusRule": {"enabled": True, "labels": {"release": "kps"}},
                    "grafanaDashboard": {"enabled": True},
                }
            },
        },
        {},
        lambda obj: (
            obj["kind"] in ("ServiceMonitor", "PrometheusRule", "NetworkPolicy")
            or obj["metadata"]["name"]
            in ("demo-config", "demo-dashboard-operator", "demo-dashboard-instance")
        ),
    ),
    "tailscale-serve-persistent-state": (
        {
            "deployment": {"allowedHostnames": ["demo.tail1234.ts.net"]},
            "tailscale": {
                "enabled": True,
                "image": {"tag": "v1.84.3"},
                "authKey": {"secretRef": {"name": "ts-auth"}},
            },
        },
        {},
        lambda obj: (
            obj["kind"] in ("StatefulSet", "NetworkPolicy")
            or obj["metadata"]["name"] == "demo-tailscale"
        ),
    ),
    "tailscale-funnel-ephemeral": (
        {
            "deployment": {
                "mode": "authenticated",
                "exposure": "public",
                "publicURL": "https://paperclip.tail1234.ts.net",
            },
            "auth": {"secretRef": {"name": "demo-auth", "key": "secret"}},
            "storage": {"persistence": {"enabled": False}},
            "tailscale": {
                "enabled": True,
                "mode": "funnel",
                "hostname": "paperclip",
                "image": {"tag": "v1.84.3"},
                "authKey": {"secretRef": {"name": "ts-auth"}, "key": "key"},
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
            },
        },
        {},
        lambda obj: obj["kind"] == "StatefulSet" or obj["metadata"]["name"] == "demo-tailscale",
    ),
    "adapters-sandbox-and-execution": (
        {
            "adapters": {
                "apiKeysSecretRef": {"name": "llm-keys"},
                "cloudSandbox": {
                    "enabled": True,
                    "namespace": "sandboxes",
                    "multiNamespace": True,
                    "persistence": {"enabled": True, "storageClass": "gp3"},
                },
                "execution": {
                    "mode": "kubernetes",
                    "kubernetes": {"backend": "sandbox-cr", "runtimeClassName": "gvisor"},
                },
                "registry": [{"adapterType": "opencode_k8s", "envKeys": ["ANTHROPIC_API_KEY"]}],
            }
        },
        {},
        kinds("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ConfigMap"),
    ),
    "adapters-image-automation": (
        {"image": {"autoUpdate": {"enabled": True, "interval": "10m"}}},
        {},
        kinds("ImageRepository", "ImagePolicy"),
    ),
    "adapters-branding-connections": (
        {
            "branding": {"cssConfigMapRef": {"name": "brand"}},
            "connections": {
                "credentialsSecretRef": {"name": "oauth"},
                "providersConfigRef": {"name": "providers"},
            },
        },
        {},
        kinds("StatefulSet"),
    ),
    "auth-admin-bootstrap": (
        {
            **AUTH,
            **EXTERNAL_DB,
            "auth": {
                "secretRef": {"name": "demo-auth", "key": "secret"},
                "adminUser": {
                    "email": "admin@example.com",
                    "name": "Ada Admin",
                    "passwordSecretRef": {"name": "demo-admin", "key": "password"},
                },
            },
        },
        {},
        lambda obj: component("bootstrap")(obj) and obj["kind"] != "ConfigMap",
    ),
    "auth-identity-and-platform-admin": (
        {
            **AUTH,
            **EXTERNAL_DB,
            "deployment": {
                "mode": "authenticated",
                "platformAdmin": {"email": "ops@example.com", "name": "Ops", "userID": "ops"},
            },
            "auth": {
                "secretRef": {"name": "demo-auth", "key": "secret"},
                "email": {
                    "resendAPIKeySecretRef": {"name": "resend", "key": "RESEND_API_KEY"},
                    "from": "Paperclip <noreply@example.com>",
                    "verificationRequired": True,
                },
                "google": {"credentialsSecretRef": {"name": "google-oauth"}},
                "apple": {"credentialsSecretRef": {"name": "apple-oauth"}},
            },
        },
        {},
        kinds("ConfigMap", "StatefulSet"),
    ),
    "secrets-aws-secrets-manager": (
        {
            "secrets": {
                "provider": "aws_secrets_manager",
                "aws": {
                    "region": "eu-central-1",
                    "kmsKeyID": "alias/paperclip",
                    "deploymentID": "prod",
                    "environment": "production",
                    "endpoint": "http://localstack.aws.svc.cluster.local:4566",
                },
            },
            "security": {
                "rbac": {
                    "serviceAccountAnnotations": {
                        "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/paperclip"
                    }
                }
            },
        },
        {},
        kinds("ConfigMap", "ServiceAccount", "NetworkPolicy"),
    ),
}


def scenario_document(name: str) -> dict[str, Any]:
    """The Instance document of a feature scenario, as an app file would hold it."""
    patch, metadata, _ = SCENARIOS[name]
    return make_instance(patch, **metadata).model_dump(by_alias=True, mode="json")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_feature_snapshot(scenario: str, yaml_snapshot: Any) -> None:
    patch, metadata, select = SCENARIOS[scenario]
    objects = synth_objects(make_instance(patch, **metadata))
    chosen = [obj for obj in objects.values() if select(obj)]
    assert chosen, f"scenario {scenario} selects no objects"
    assert chosen == yaml_snapshot
