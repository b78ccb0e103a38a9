"""Every bad input exits 2 with the file and field path, no traceback, and dist/ untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from constructs_lib.cli import main
from tests.conftest import MINIMAL, merge, tree_bytes


def doc(spec: dict[str, Any] | None = None, **top: object) -> str:
    return yaml.safe_dump(merge(merge(MINIMAL, {"spec": spec or {}}), dict(top)))


TWO_DEMOS = doc() + "---\n" + doc()

CASES: list[tuple[str, str, str]] = [
    # (case id, file content, text the error must contain: the field path or the cause)
    ("unknown-field", doc({"replica": 2}), "spec.replica"),
    ("unknown-nested-field", doc({"image": {"tga": "1"}}), "spec.image.tga"),
    ("wrong-enum", doc({"image": {"pullPolicy": "Sometimes"}}), "spec.image.pullPolicy"),
    ("wrong-workload-enum", doc({"workload": "DaemonSet"}), "spec.workload"),
    ("wrong-type", doc({"suspended": "perhaps"}), "spec.suspended"),
    (
        "wrong-type-port",
        doc({"networking": {"service": {"port": "http"}}}),
        "spec.networking.service.port",
    ),
    (
        "port-out-of-range",
        doc({"networking": {"service": {"port": 70000}}}),
        "spec.networking.service.port",
    ),
    ("no-tag-no-digest", doc({"image": {"tag": None}}), "spec.image"),
    ("bad-digest", doc({"image": {"digest": "sha256:xyz"}}), "spec.image.digest"),
    (
        "local-trusted-public",
        doc({"deployment": {"mode": "local_trusted", "exposure": "public"}}),
        "spec.deployment.exposure",
    ),
    ("replicas-zero", doc({"availability": {"replicas": 0}}), "spec.availability.replicas"),
    (
        "bad-quantity",
        doc({"storage": {"persistence": {"size": "5 GB"}}}),
        "spec.storage.persistence.size",
    ),
    ("bad-resource-quantity", doc({"resources": {"limits": {"memory": "lots"}}}), "spec.resources"),
    (
        "invalid-label-value",
        doc({"availability": {"nodeSelector": {"pool": "not ok!"}}}),
        "spec.availability.nodeSelector",
    ),
    (
        "metadata-label-value-with-a-line-break",
        doc(metadata={"name": "demo", "labels": {"team": "x\n"}}),
        "metadata.labels",
    ),
    (
        "metadata-label-key-with-a-line-break",
        doc(metadata={"name": "demo", "labels": {"team\n": "x"}}),
        "metadata.labels",
    ),
    (
        "quantity-with-a-line-break",
        doc({"storage": {"persistence": {"size": "5Gi\n"}}}),
        "spec.storage.persistence.size",
    ),
    (
        "bucket-with-a-line-break",
        doc({"backup": {"schedule": "0 3 * * *", "s3": {"bucket": "backups\n"}}}),
        "spec.backup.s3.bucket",
    ),
    (
        "invalid-metadata-label",
        doc(metadata={"name": "demo", "labels": {"team": "-x-"}}),
        "metadata.labels",
    ),
    ("invalid-name", doc(metadata={"name": "Demo_1"}), "metadata.name"),
    ("name-too-long", doc(metadata={"name": "a" * 53}), "metadata.name"),
    ("duplicate-instance-names", TWO_DEMOS, "two instances are named 'demo'"),
    (
        "non-instance-kind",
        yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
        "kind",
    ),
    ("wrong-api-version", doc(apiVersion="paperclip.inc/v1"), "apiVersion"),
    (
        "invalid-yaml",
        "apiVersion: paperclip.inc/v1alpha1\nkind: Instance\n  spec: [\n",
        "is not valid YAML",
    ),
    ("empty-file", "", "holds no documents"),
    ("only-comments", "# nothing here\n", "holds no documents"),
    ("not-a-mapping", "- a\n- b\n", "not a mapping"),
    (
        "missing-spec",
        yaml.safe_dump(
            {"apiVersion": "paperclip.inc/v1alpha1", "kind": "Instance", "metadata": {"name": "x"}}
        ),
        "spec",
    ),
    ("missing-name", doc(metadata={"name": None, "namespace": "x"}), "metadata.name"),
    ("unimplemented-field", doc({"backup": {"schedule": "0 3 * * *"}}), "spec.backup"),
    # the data tier (database.managed, backup, restoreFrom)
    (
        "managed-db-unpinned-image",
        doc({"database": {"mode": "managed", "managed": {"image": "postgres"}}}),
        "spec.database.managed.image",
    ),
    (
        "managed-db-bad-size",
        doc({"database": {"managed": {"storageSize": "10 GB"}}}),
        "spec.database.managed.storageSize",
    ),
    (
        "managed-db-with-external-url",
        doc({"database": {"mode": None, "externalURL": "postgres://db/x"}}),
        "spec.database.mode",
    ),
    (
        "backup-bad-schedule",
        doc({"backup": {"schedule": "0 25 * * *", "s3": {"bucket": "backups"}}}),
        "spec.backup.schedule",
    ),
    (
        "backup-schedule-six-fields",
        doc({"backup": {"schedule": "0 0 3 * * *", "s3": {"bucket": "backups"}}}),
        "spec.backup.schedule",
    ),
    ("backup-retention-zero", doc({"backup": {"retentionDays": 0}}), "spec.backup.retentionDays"),
    ("backup-keep-last-zero", doc({"backup": {"keepLast": 0}}), "spec.backup.keepLast"),
    (
        "backup-bad-bucket-name",
        doc({"backup": {"schedule": "@daily", "s3": {"bucket": "My_Backups"}}}),
        "spec.backup.s3.bucket",
    ),
    (
        "backup-bad-path",
        doc({"backup": {"s3": {"bucket": "backups", "path": "/leading/"}}}),
        "spec.backup.s3.path",
    ),
    (
        "backup-endpoint-without-credentials",
        doc(
            {
                "database": {"mode": "managed"},
                "backup": {
                    "schedule": "@daily",
                    "s3": {"bucket": "backups", "endpoint": "http://minio.storage:9000"},
                },
            }
        ),
        "spec.backup.s3.credentialsSecretRef",
    ),
    (
        "backup-credentials-without-name",
        doc({"backup": {"s3": {"bucket": "backups", "credentialsSecretRef": {}}}}),
        "spec.backup.s3.credentialsSecretRef.name",
    ),
    (
        "backup-without-bucket",
        doc({"database": {"mode": "managed"}, "backup": {"schedule": "@daily"}}),
        "spec.backup.s3",
    ),
    (
        "backup-of-embedded-db",
        doc({"backup": {"schedule": "@daily", "s3": {"bucket": "backups"}}}),
        "spec.backup.schedule",
    ),
    (
        "backup-app-native-negative",
        doc({"backup": {"appNative": {"intervalMinutes": -5}}}),
        "spec.backup.appNative.intervalMinutes",
    ),
    ("restore-from-bad-key", doc({"restoreFrom": "../etc/passwd"}), "spec.restoreFrom"),
    (
        "restore-from-without-backup",
        doc({"database": {"mode": "managed"}, "restoreFrom": "latest"}),
        "spec.restoreFrom",
    ),
    ("external-db-without-url", doc({"database": {"mode": "external"}}), "spec.database"),
    (
        "password-in-database-url",
        doc({"database": {"mode": "external", "externalURL": "postgres://u:hunter2@db/pc"}}),
        "spec.database.externalURL",
    ),
    (
        "authenticated-without-auth-secret-or-volume",
        doc(
            {
                "deployment": {"mode": "authenticated"},
                "storage": {"persistence": {"enabled": False}},
            }
        ),
        "spec.auth.secretRef",
    ),
    ("multi-replica-embedded", doc({"availability": {"replicas": 2}}), "spec.objectStorage"),
    ("deployment-with-persistence", doc({"workload": "Deployment"}), "spec.workload"),
    (
        "ordinal-on-deployment",
        doc(
            {
                "workload": "Deployment",
                "storage": {"persistence": {"enabled": False}},
                "database": {"mode": "external", "externalURLSecretRef": {"name": "d", "key": "u"}},
                "objectStorage": {"provider": "s3", "bucket": "files"},
                "secrets": {"masterKeySecretRef": {"name": "m", "key": "k"}},
                "availability": {"replicas": 2},
            }
        ),
        "spec.heartbeat.schedulerGating",
    ),
    ("bad-sidecar", doc({"sidecars": [{"name": "x", "imagee": "busybox"}]}), "spec.sidecars[0]"),
    (
        "bad-cidr",
        doc({"security": {"networkPolicy": {"allowIngressCIDRs": ["10.0.0.0/33"]}}}),
        "spec.security.networkPolicy.allowIngressCIDRs[0]",
    ),
    (
        "bad-public-url",
        doc({"deployment": {"publicURL": "not a url"}}),
        "spec.deployment.publicURL",
    ),
    (
        "ingress-host-upper-case",
        doc(
            {
                "networking": {
                    "ingress": {
                        "enabled": True,
                        "ingressClassName": "nginx",
                        "hosts": ["Paperclip.Example.com"],
                    }
                }
            }
        ),
        "spec.networking.ingress.hosts[0]",
    ),
    (
        "httproute-hostname-upper-case",
        doc(
            {
                "networking": {
                    "httpRoute": {
                        "enabled": True,
                        "parentRefs": [{"name": "gw"}],
                        "hostnames": ["PC.example.com"],
                    }
                }
            }
        ),
        "spec.networking.httpRoute.hostnames[0]",
    ),
    (
        "public-url-port-out-of-range",
        doc({"deployment": {"publicURL": "https://pc.example.com:99999"}}),
        "spec.deployment.publicURL",
    ),
    (
        "backup-endpoint-port-not-a-number",
        doc(
            {
                "database": {"mode": "managed"},
                "backup": {
                    "schedule": "@daily",
                    "s3": {
                        "bucket": "backups",
                        "endpoint": "http://minio.storage:abc",
                        "credentialsSecretRef": {"name": "s3"},
                    },
                },
            }
        ),
        "spec.backup.s3.endpoint",
    ),
    (
        "secrets-endpoint-port-zero",
        doc(
            {
                "secrets": {
                    "provider": "aws_secrets_manager",
                    "aws": {
                        "region": "eu-west-1",
                        "kmsKeyID": "k",
                        "deploymentID": "d",
                        "endpoint": "https://sm.example.com:0",
                    },
                }
            }
        ),
        "spec.secrets.aws.endpoint",
    ),
    # availability and networking (issue 11)
    (
        "autoscaling-without-enabled",
        doc({"availability": {"autoScaling": {"minReplicas": 2}}}),
        "spec.availability.autoScaling.enabled",
    ),
    (
        "autoscaling-min-zero",
        doc({"availability": {"autoScaling": {"enabled": True, "minReplicas": 0}}}),
        "spec.availability.autoScaling.minReplicas",
    ),
    (
        "autoscaling-with-embedded-db",
        doc({"availability": {"autoScaling": {"enabled": True, "maxReplicas": 4}}}),
        "spec.database.mode",
    ),
    (
        "budget-negative",
        doc({"availability": {"podDisruptionBudget": {"enabled": True, "minAvailable": -1}}}),
        "spec.availability.podDisruptionBudget.minAvailable",
    ),
    (
        "budget-blocks-drains",
        doc({"availability": {"podDisruptionBudget": {"enabled": True, "minAvailable": 1}}}),
        "PDBMayBlockDrains",
    ),
    (
        "ingress-bad-host",
        doc({"networking": {"ingress": {"enabled": True, "hosts": ["https://x.example.com"]}}}),
        "spec.networking.ingress.hosts[0]",
    ),
    (
        "ingress-unknown-class-blocked",
        doc({"networking": {"ingress": {"enabled": True, "ingressClassName": "corp"}}}),
        "spec.security.networkPolicy.ingressControllerNamespaces",
    ),
    (
        "route-parent-without-name",
        doc({"networking": {"httpRoute": {"enabled": True, "parentRefs": [{"namespace": "g"}]}}}),
        "spec.networking.httpRoute.parentRefs[0].name",
    ),
    (
        "route-without-parents",
        doc({"networking": {"httpRoute": {"enabled": True}}}),
        "spec.networking.httpRoute.parentRefs",
    ),
    (
        "controller-namespace-invalid",
        doc({"security": {"networkPolicy": {"ingressControllerNamespaces": ["Ingress_NGINX"]}}}),
        "spec.security.networkPolicy.ingressControllerNamespaces[0]",
    ),
    # adapters, connections, plugins, branding, selfConfigure, image.autoUpdate (issue 11)
    (
        "adapters-keys-ref-name",
        doc({"adapters": {"apiKeysSecretRef": {"name": "Bad_Name"}}}),
        "spec.adapters.apiKeysSecretRef.name",
    ),
    ("e2b-without-ref", doc({"adapters": {"e2b": {}}}), "spec.adapters.e2b.apiKeySecretRef"),
    (
        "sandbox-namespace",
        doc({"adapters": {"cloudSandbox": {"enabled": True, "namespace": "X"}}}),
        "spec.adapters.cloudSandbox.namespace",
    ),
    (
        "sandbox-idle-negative",
        doc({"adapters": {"cloudSandbox": {"enabled": True, "idleTimeoutMin": -1}}}),
        "spec.adapters.cloudSandbox.idleTimeoutMin",
    ),
    (
        "sandbox-persistence-size",
        doc({"adapters": {"cloudSandbox": {"enabled": True, "persistence": {"size": "lots"}}}}),
        "spec.adapters.cloudSandbox.persistence.size",
    ),
    (
        "sandbox-multi-namespace-string",
        doc({"adapters": {"cloudSandbox": {"enabled": True, "multiNamespace": "yes"}}}),
        "spec.adapters.cloudSandbox.multiNamespace",
    ),
    (
        "sandbox-with-agents",
        doc({"adapters": {"cloudSandbox": {"enabled": True}}, "agents": {"enabled": True}}),
        "spec.adapters.cloudSandbox.enabled",
    ),
    (
        "execution-mode",
        doc({"adapters": {"execution": {"mode": "cluster"}}}),
        "spec.adapters.execution.mode",
    ),
    (
        "execution-backend",
        doc({"adapters": {"execution": {"mode": "kubernetes", "kubernetes": {"backend": "pod"}}}}),
        "spec.adapters.execution.kubernetes.backend",
    ),
    (
        "execution-egress-cidr",
        doc({"adapters": {"execution": {"kubernetes": {"egressAllowCIDRs": ["10.0.0.0/33"]}}}}),
        "spec.adapters.execution.kubernetes.egressAllowCIDRs[0]",
    ),
    (
        "execution-quota-incomplete",
        doc({"adapters": {"execution": {"kubernetes": {"perTenantQuota": {"pods": "3"}}}}}),
        "spec.adapters.execution.kubernetes.perTenantQuota.requestsCpu",
    ),
    (
        "execution-with-agents",
        doc({"adapters": {"execution": {"mode": "kubernetes"}}, "agents": {"enabled": True}}),
        "spec.adapters.execution.mode",
    ),
    (
        "registry-without-type",
        doc({"adapters": {"registry": [{"enabled": True}]}}),
        "spec.adapters.registry[0].adapterType",
    ),
    (
        "registry-env-key",
        doc({"adapters": {"registry": [{"adapterType": "x", "envKeys": ["1A"]}]}}),
        "spec.adapters.registry[0].envKeys[0]",
    ),
    (
        "connections-without-secret",
        doc({"connections": {"credentialsKey": "k"}}),
        "spec.connections.credentialsSecretRef",
    ),
    (
        "plugins-not-declarative",
        doc({"plugins": [{"name": "@paperclip/analytics"}]}),
        "spec.plugins",
    ),
    (
        "branding-ref-name",
        doc({"branding": {"cssConfigMapRef": {"name": "Brand!"}}}),
        "spec.branding.cssConfigMapRef.name",
    ),
    ("self-configure-enabled", doc({"selfConfigure": {"enabled": True}}), "spec.selfConfigure"),
    (
        "self-configure-action",
        doc({"selfConfigure": {"allowedActions": ["everything"]}}),
        "spec.selfConfigure.allowedActions[0]",
    ),
    (
        "auto-update-interval",
        doc({"image": {"autoUpdate": {"enabled": True, "interval": "5 min"}}}),
        "spec.image.autoUpdate.interval",
    ),
    (
        "auto-update-moving-tag",
        doc({"image": {"tag": "stable", "autoUpdate": {"enabled": True}}}),
        "spec.image.autoUpdate.enabled",
    ),
    # observability.metrics and tailscale (issue 11)
    (
        "metrics-enabled-not-bool",
        doc({"observability": {"metrics": {"enabled": "yes"}}}),
        "spec.observability.metrics.enabled",
    ),
    (
        "service-monitor-without-enabled",
        doc({"observability": {"metrics": {"serviceMonitor": {"interval": "30s"}}}}),
        "spec.observability.metrics.serviceMonitor.enabled",
    ),
    (
        "service-monitor-bad-interval",
        doc(
            {
                "observability": {
                    "metrics": {"serviceMonitor": {"enabled": True, "interval": "30 seconds"}}
                }
            }
        ),
        "spec.observability.metrics.serviceMonitor.interval",
    ),
    (
        "service-monitor-zero-interval",
        doc(
            {"observability": {"metrics": {"serviceMonitor": {"enabled": True, "interval": "0s"}}}}
        ),
        "spec.observability.metrics.serviceMonitor.interval",
    ),
    (
        "service-monitor-bad-label",
        doc(
            {
                "observability": {
                    "metrics": {
                        "serviceMonitor": {"enabled": True, "labels": {"release": "not ok!"}}
                    }
                }
            }
        ),
        "spec.observability.metrics.serviceMonitor.labels",
    ),
    (
        "prometheus-namespace-invalid",
        doc(
            {
                "observability": {
                    "metrics": {
                        "serviceMonitor": {"enabled": True, "prometheusNamespaces": ["Monitoring"]}
                    }
                }
            }
        ),
        "spec.observability.metrics.serviceMonitor.prometheusNamespaces[0]",
    ),
    (
        "prometheus-rule-bad-runbook",
        doc(
            {
                "observability": {
                    "metrics": {"prometheusRule": {"enabled": True, "runbookBaseURL": "runbooks"}}
                }
            }
        ),
        "spec.observability.metrics.prometheusRule.runbookBaseURL",
    ),
    (
        "prometheus-rule-runbook-credentials",
        doc(
            {
                "observability": {
                    "metrics": {"prometheusRule": {"runbookBaseURL": "https://u:p@rb.example.com"}}
                }
            }
        ),
        "spec.observability.metrics.prometheusRule.runbookBaseURL",
    ),
    (
        "prometheus-rule-bad-label",
        doc(
            {
                "observability": {
                    "metrics": {"prometheusRule": {"enabled": True, "labels": {"-x": "y"}}}
                }
            }
        ),
        "spec.observability.metrics.prometheusRule.labels",
    ),
    (
        "prometheus-rule-enabled-string",
        doc({"observability": {"metrics": {"prometheusRule": {"enabled": "on"}}}}),
        "spec.observability.metrics.prometheusRule.enabled",
    ),
    (
        "grafana-empty-folder",
        doc({"observability": {"metrics": {"grafanaDashboard": {"enabled": True, "folder": ""}}}}),
        "spec.observability.metrics.grafanaDashboard.folder",
    ),
    (
        "grafana-bad-label",
        doc(
            {
                "observability": {
                    "metrics": {"grafanaDashboard": {"enabled": True, "labels": {"a": "b c"}}}
                }
            }
        ),
        "spec.observability.metrics.grafanaDashboard.labels",
    ),
    (
        "grafana-unknown-field",
        doc({"observability": {"metrics": {"grafanaDashboard": {"enabled": True, "title": "x"}}}}),
        "spec.observability.metrics.grafanaDashboard.title",
    ),
    (
        "grafana-enabled-string",
        doc({"observability": {"metrics": {"grafanaDashboard": {"enabled": "1"}}}}),
        "spec.observability.metrics.grafanaDashboard.enabled",
    ),
    (
        "tailscale-enabled-string",
        doc({"tailscale": {"enabled": "true"}}),
        "spec.tailscale.enabled",
    ),
    (
        "tailscale-wrong-mode",
        doc({"tailscale": {"enabled": True, "mode": "public"}}),
        "spec.tailscale.mode",
    ),
    (
        "tailscale-bad-hostname",
        doc({"tailscale": {"enabled": True, "hostname": "Paperclip_Host"}}),
        "spec.tailscale.hostname",
    ),
    (
        "tailscale-bad-image-repository",
        doc({"tailscale": {"enabled": True, "image": {"repository": "Tailscale/TS"}}}),
        "spec.tailscale.image.repository",
    ),
    (
        "tailscale-bad-image-tag",
        doc({"tailscale": {"enabled": True, "image": {"tag": "v1 84"}}}),
        "spec.tailscale.image.tag",
    ),
    (
        "tailscale-bad-image-digest",
        doc({"tailscale": {"enabled": True, "image": {"digest": "sha256:abc"}}}),
        "spec.tailscale.image.digest",
    ),
    (
        "tailscale-auth-key-without-secret",
        doc({"tailscale": {"enabled": True, "authKey": {"key": "k"}}}),
        "spec.tailscale.authKey.secretRef",
    ),
    (
        "tailscale-auth-key-bad-key",
        doc(
            {"tailscale": {"enabled": True, "authKey": {"secretRef": {"name": "ts"}, "key": "a/b"}}}
        ),
        "spec.tailscale.authKey.key",
    ),
    (
        "tailscale-bad-resources",
        doc({"tailscale": {"enabled": True, "resources": {"limits": {"cpu": "lots"}}}}),
        "spec.tailscale.resources",
    ),
    (
        "tailscale-missing-auth-key",
        doc({"tailscale": {"enabled": True}}),
        "spec.tailscale.authKey",
    ),
    (
        "tailscale-funnel-local-trusted",
        doc(
            {
                "tailscale": {
                    "enabled": True,
                    "mode": "funnel",
                    "authKey": {"secretRef": {"name": "ts"}},
                }
            }
        ),
        "spec.tailscale.mode",
    ),
    # auth.adminUser / email / google / apple, deployment.platformAdmin, secrets.aws
    (
        "admin-user-missing-password-ref",
        doc({"auth": {"adminUser": {"email": "admin@example.com"}}}),
        "spec.auth.adminUser.passwordSecretRef",
    ),
    (
        "admin-user-bad-email",
        doc(
            {
                "auth": {
                    "adminUser": {"email": "admin", "passwordSecretRef": {"name": "a", "key": "p"}}
                }
            }
        ),
        "spec.auth.adminUser.email",
    ),
    (
        "admin-user-literal-password",
        doc({"auth": {"adminUser": {"email": "a@example.com", "password": "hunter2"}}}),
        "spec.auth.adminUser.password",
    ),
    (
        "admin-user-local-trusted",
        doc(
            {
                "auth": {
                    "adminUser": {
                        "email": "a@example.com",
                        "passwordSecretRef": {"name": "a", "key": "p"},
                    }
                }
            }
        ),
        "spec.auth.adminUser",
    ),
    (
        "email-bad-resend-ref",
        doc({"auth": {"email": {"resendAPIKeySecretRef": {"name": "resend"}}}}),
        "spec.auth.email.resendAPIKeySecretRef.key",
    ),
    (
        "email-verification-not-bool",
        doc({"auth": {"email": {"verificationRequired": "yes"}}}),
        "spec.auth.email.verificationRequired",
    ),
    (
        "email-from-blank",
        doc({"auth": {"email": {"from": "   "}}}),
        "spec.auth.email.from",
    ),
    (
        "google-missing-secret",
        doc({"auth": {"google": {}}}),
        "spec.auth.google.credentialsSecretRef",
    ),
    (
        "apple-bad-secret-name",
        doc({"auth": {"apple": {"credentialsSecretRef": {"name": "Apple_OAuth"}}}}),
        "spec.auth.apple.credentialsSecretRef.name",
    ),
    (
        "platform-admin-missing-email",
        doc({"deployment": {"platformAdmin": {"name": "Ops"}}}),
        "spec.deployment.platformAdmin.email",
    ),
    (
        "platform-admin-bad-user-id",
        doc({"deployment": {"platformAdmin": {"email": "o@example.com", "userID": "a b"}}}),
        "spec.deployment.platformAdmin.userID",
    ),
    (
        "platform-admin-embedded-db",
        doc({"deployment": {"platformAdmin": {"email": "o@example.com"}}}),
        "spec.deployment.platformAdmin",
    ),
    (
        "secrets-aws-required",
        doc({"secrets": {"provider": "aws_secrets_manager"}}),
        "spec.secrets.aws",
    ),
    (
        "secrets-aws-bad-region",
        doc(
            {
                "secrets": {
                    "provider": "aws_secrets_manager",
                    "aws": {"region": "frankfurt", "kmsKeyID": "k", "deploymentID": "d"},
                }
            }
        ),
        "spec.secrets.aws.region",
    ),
    (
        "secrets-aws-missing-kms-key",
        doc({"secrets": {"aws": {"region": "eu-west-1", "deploymentID": "d"}}}),
        "spec.secrets.aws.kmsKeyID",
    ),
    (
        "secrets-aws-recovery-days-range",
        doc(
            {
                "secrets": {
                    "aws": {
                        "region": "eu-west-1",
                        "kmsKeyID": "k",
                        "deploymentID": "d",
                        "deleteRecoveryDays": 90,
                    }
                }
            }
        ),
        "spec.secrets.aws.deleteRecoveryDays",
    ),
    (
        "secrets-aws-bad-prefix",
        doc(
            {
                "secrets": {
                    "aws": {
                        "region": "eu-west-1",
                        "kmsKeyID": "k",
                        "deploymentID": "d",
                        "prefix": "a b",
                    }
                }
            }
        ),
        "spec.secrets.aws.prefix",
    ),
    (
        "secrets-aws-endpoint-credentials",
        doc(
            {
                "secrets": {
                    "aws": {
                        "region": "eu-west-1",
                        "kmsKeyID": "k",
                        "deploymentID": "d",
                        "endpoint": "https://key:secret@sm.example.com",
                    }
                }
            }
        ),
        "spec.secrets.aws.endpoint",
    ),
    # A value whose explicit YAML tag does not fit it: at its field, not a traceback (the
    # YAML constructor raised KeyError or IndexError) or a message without the field.
    ("bool-tag-on-a-word", doc() + "  suspended: !!bool maybe\n", "spec.suspended: the value"),
    ("bool-tag-on-nothing", doc() + "  suspended: !!bool ''\n", "spec.suspended: the value"),
    (
        "int-tag-on-nothing",
        doc() + "  availability: {replicas: !!int ''}\n",
        "spec.availability.replicas: the value",
    ),
    (
        "int-tag-on-a-sign",
        doc() + "  availability: {replicas: !!int '-'}\n",
        "spec.availability.replicas: the value",
    ),
    (
        "int-tag-on-a-word",
        doc() + "  availability: {replicas: !!int abc}\n",
        "spec.availability.replicas: the value 'abc'",
    ),
    (
        "float-tag-on-a-hex-number",
        doc() + "  availability: {replicas: !!float 0x1f}\n",
        "spec.availability.replicas: the value '0x1f'",
    ),
    # 1:00 is text in Kubernetes YAML (kubectl sends "1:00", which the schema refuses for a
    # port), not YAML 1.1's base-60 integer 60.
    (
        "port-written-as-a-time",
        doc() + "  networking: {service: {port: 1:00}}\n",
        "spec.networking.service.port: Input should be a valid integer (got '1:00')",
    ),
    # A key the YAML reads as a number, boolean or null: at its key (it was reported at
    # nodeSelector[1] for `on:`, as if a list index, with the value's type message).
    (
        "boolean-key",
        doc() + "  availability: {nodeSelector: {on: demand}}\n",
        "spec.availability.nodeSelector.on: the key 'on' is read as a boolean",
    ),
    (
        "number-key",
        doc() + "  availability: {nodeSelector: {1: a}}\n",
        "spec.availability.nodeSelector.1: the key '1' is read as a number",
    ),
    ("null-key", doc() + "  ~: x\n", "spec.~: the key '~' is read as null"),
]


@pytest.mark.parametrize(("content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_path_and_leaves_dist_untouched(
    tmp_path: Path, dist_copy: Path, content: str, expected: str
) -> None:
    app = tmp_path / "bad.yaml"
    app.write_text(content)
    before = tree_bytes(dist_copy)
    result = CliRunner().invoke(main, ["synth", str(app), "--out", str(dist_copy)])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert str(app) in result.output or "bad.yaml" in result.output
    assert "Traceback" not in result.output
    assert tree_bytes(dist_copy) == before


def test_enough_cases() -> None:
    assert len(CASES) >= 25


def test_python_app_errors_are_reported_with_the_line(tmp_path: Path, dist_copy: Path) -> None:
    app = tmp_path / "broken.py"
    app.write_text("def instances():\n    return [1 / 0]\n")
    before = tree_bytes(dist_copy)
    result = CliRunner().invoke(main, ["synth", str(app), "--out", str(dist_copy)])
    assert result.exit_code == 2
    assert "ZeroDivisionError (line 2)" in result.output
    assert "Traceback" not in result.output
    assert tree_bytes(dist_copy) == before


def test_python_app_model_errors_name_the_field(tmp_path: Path) -> None:
    app = tmp_path / "typo.py"
    app.write_text(
        "from constructs_lib.spec import ImageSpec\n"
        "def instances():\n    return [ImageSpec(tag='1', pull_policy='Sometimes')]\n"
    )
    result = CliRunner().invoke(main, ["validate", str(app)])
    assert result.exit_code == 2
    assert "pull_policy" in result.output or "pullPolicy" in result.output


def test_one_bad_app_among_many_writes_nothing(tmp_path: Path, dist_copy: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(doc())
    bad = tmp_path / "bad.yaml"
    bad.write_text(doc({"replicas": 3}))
    before = tree_bytes(dist_copy)
    result = CliRunner().invoke(main, ["synth", str(good), str(bad), "--out", str(dist_copy)])
    assert result.exit_code == 2
    assert tree_bytes(dist_copy) == before
    assert not (dist_copy / "good").exists()


def test_unknown_app_name_suggests(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["synth", "quickstrat", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "did you mean 'quickstart'?" in result.output


def test_unsupported_kubernetes_version() -> None:
    result = CliRunner().invoke(main, ["validate", "apps/production.yaml", "-k", "1.2"])
    assert result.exit_code == 2
    assert "--kubernetes-version" in result.output
    assert "Traceback" not in result.output


def test_feature_errors_are_reported_with_field_errors(tmp_path: Path, dist_copy: Path) -> None:
    """One run reports a document's field errors, the errors its features raise (the cloud
    sandbox beside agents) and those of the file's valid documents, in document order."""
    conflict = {"agents": {"enabled": True}, "adapters": {"cloudSandbox": {"enabled": True}}}
    valid = merge(MINIMAL, {"metadata": {"name": "first"}, "spec": conflict})
    invalid = merge(valid, {"metadata": {"name": "second"}, "spec": {"suspended": "perhaps"}})
    app = tmp_path / "mixed.yaml"
    app.write_text(yaml.safe_dump_all([valid, invalid]))
    before = tree_bytes(dist_copy)
    result = CliRunner().invoke(main, ["synth", str(app), "--out", str(dist_copy)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("  - ")]
    assert len(lines) == 3, result.output
    assert "document 1 (first): spec.adapters.cloudSandbox.enabled" in lines[0]
    assert "document 2 (second): spec.suspended" in lines[1]
    assert "document 2 (second): spec.adapters.cloudSandbox.enabled" in lines[2]
    assert tree_bytes(dist_copy) == before
