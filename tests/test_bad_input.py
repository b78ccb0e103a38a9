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
        "authenticated-without-auth-secret",
        doc({"deployment": {"mode": "authenticated"}}),
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
