"""The data tier on the real control plane: every object passes server-side dry-run, the
CronJob controller runs the backup CronJob on schedule and the Job's pod is scheduled, the
secrets bootstrap creates <name>-db-credentials once and adopts the operator's, the operator's
data volume is adopted by apply, and the bootstrap's RBAC allows exactly what it needs."""

from __future__ import annotations

import base64
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from tests.bootstrap_container import run_container
from tests.conftest import make_instance, synth_objects
from tests.controlplane.cluster import NODE_NAME, ControlPlane
from tests.k8s.harness import wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(300)]

NAMESPACE = "data-tier"
FIELD_MANAGER = "paperclip-gitops-tests"
SPEC: dict[str, Any] = {
    "deployment": {"mode": "authenticated"},
    "auth": {"secretRef": {"name": "auth", "key": "k"}},
    "database": {"mode": "managed", "managed": {"storageSize": "20Gi"}},
    "backup": {
        "schedule": "* * * * *",
        "retentionDays": 14,
        "s3": {
            "bucket": "paperclip-backups",
            "endpoint": "http://minio.storage:9000",
            "credentialsSecretRef": {"name": "backup-s3"},
        },
        "appNative": {"enabled": True},
    },
    "restoreFrom": "latest",
    "agents": {"enabled": True},
}


def _resource(plane: ControlPlane, obj: dict[str, Any]) -> Any:
    dyn = dynamic.DynamicClient(plane.api_client())
    return dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])


def apply(
    plane: ControlPlane, obj: dict[str, Any], *, dry_run: bool = False, force: bool = False
) -> Any:
    kwargs: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
    if force:
        kwargs["force_conflicts"] = True
    return _resource(plane, obj).server_side_apply(
        body=obj, namespace=NAMESPACE, field_manager=FIELD_MANAGER, **kwargs
    )


@pytest.fixture(scope="module")
def namespace(control_plane: ControlPlane) -> str:
    core = client.CoreV1Api(control_plane.api_client())
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    wait_for("default SA", lambda: core.read_namespaced_service_account("default", NAMESPACE))
    return NAMESPACE


def objects_of(name: str) -> dict[str, dict[str, Any]]:
    return synth_objects(make_instance(SPEC, name=name, namespace=NAMESPACE))


def test_every_data_tier_object_passes_server_side_dry_run(
    control_plane: ControlPlane, namespace: str
) -> None:
    objects = objects_of("dry")
    names = {
        "StatefulSet/dry-db",
        "Service/dry-db",
        "Service/dry-db-hl",
        "PersistentVolumeClaim/dry-db-data",
        "NetworkPolicy/dry-db",
        "NetworkPolicy/dry-db-backup",
        "ConfigMap/dry-db-scripts",
        "ServiceAccount/dry-db-backup",
        "CronJob/dry-db-backup",
        "CronJob/dry-db-restore",
    }
    assert names <= set(objects)
    for key, obj in objects.items():
        try:
            apply(control_plane, obj, dry_run=True)
        except ApiException as exc:
            raise AssertionError(f"{key}: {exc.body}") from None


def test_the_cronjob_controller_runs_the_backup_and_its_pod_is_scheduled(
    control_plane: ControlPlane, namespace: str
) -> None:
    objects = objects_of("cron")
    for key in (
        "ServiceAccount/cron-db-backup",
        "ConfigMap/cron-db-scripts",
        "NetworkPolicy/cron-db-backup",
        "CronJob/cron-db-restore",
        "CronJob/cron-db-backup",
    ):
        apply(control_plane, objects[key])
    batch = client.BatchV1Api(control_plane.api_client())
    core = client.CoreV1Api(control_plane.api_client())

    def backup_job() -> Any:
        jobs = batch.list_namespaced_job(NAMESPACE).items
        return next(
            (j for j in jobs if j.metadata.owner_references[0].name == "cron-db-backup"), None
        )

    job = wait_for("a Job from the backup CronJob (every minute)", backup_job, timeout=150)
    assert job.spec.backoff_limit == 2
    assert job.spec.active_deadline_seconds == 3 * 3600
    pod = wait_for(
        "the backup pod on the kwok node",
        lambda: next(
            (
                p
                for p in core.list_namespaced_pod(
                    NAMESPACE, label_selector=f"job-name={job.metadata.name}"
                ).items
                if p.spec.node_name
            ),
            None,
        ),
        timeout=60,
    )
    assert pod.spec.node_name == NODE_NAME
    assert pod.metadata.labels["app.kubernetes.io/component"] == "backup"
    assert [c.name for c in pod.spec.init_containers] == ["dump"]
    assert [c.name for c in pod.spec.containers] == ["upload"]
    assert pod.spec.automount_service_account_token is False
    assert not [v for v in pod.spec.volumes if v.projected]  # no ServiceAccount token
    # the suspended restore CronJob never runs by itself
    restore = batch.read_namespaced_cron_job("cron-db-restore", NAMESPACE)
    assert restore.spec.suspend is True
    assert not [
        j for j in batch.list_namespaced_job(NAMESPACE).items if "restore" in str(j.metadata.name)
    ]


@dataclass
class _Bootstrap:
    """The generated secrets-bootstrap Job of one instance, its RBAC applied."""

    plane: ControlPlane
    name: str
    token: str
    objects: dict[str, dict[str, Any]]
    workdir: Path

    def run(self) -> subprocess.CompletedProcess[str]:
        """The Job's container as generated (the server image's Node, the hook ConfigMap's
        script), under the generated ServiceAccount's token: what the next sync runs."""
        job = f"{self.name}-secrets-bootstrap"
        pod = self.objects[f"Job/{job}"]["spec"]["template"]["spec"]
        script = self.objects[f"ConfigMap/{job}"]["data"]
        return run_container(self.plane, pod, {job: script}, self.token, self.workdir)


def _bootstrap(plane: ControlPlane, name: str, tmp_path: Path) -> _Bootstrap:
    objects = objects_of(name)
    for kind in ("ServiceAccount", "Role", "RoleBinding"):
        apply(plane, objects[f"{kind}/{name}-secrets-bootstrap"])
    token = plane.mint_token(NAMESPACE, f"{name}-secrets-bootstrap")
    return _Bootstrap(plane, name, token, objects, tmp_path / "bootstrap")


def _data(core: client.CoreV1Api, name: str) -> dict[str, str]:
    secret = core.read_namespaced_secret(name, NAMESPACE)
    return {k: base64.b64decode(v).decode() for k, v in secret.data.items()}


def test_the_bootstrap_creates_the_credentials_once(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    bootstrap = _bootstrap(control_plane, "fresh", tmp_path)
    first = bootstrap.run()
    assert first.returncode == 0, first.stderr
    assert "created secret fresh-db-credentials (database, host, password, port, username)" in (
        first.stdout
    )
    core = client.CoreV1Api(control_plane.api_client())
    data = _data(core, "fresh-db-credentials")
    assert {k: v for k, v in data.items() if k != "password"} == {
        "username": "paperclip",
        "database": "paperclip",
        "host": f"fresh-db.{NAMESPACE}.svc.cluster.local",
        "port": "5432",
    }
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", data["password"])  # random and URL-safe
    second = bootstrap.run()  # the next sync
    assert second.returncode == 0, second.stderr
    assert "secret fresh-db-credentials exists; left unchanged" in second.stdout
    assert _data(core, "fresh-db-credentials") == data
    for output in (first.stdout, first.stderr, second.stdout, second.stderr):
        assert data["password"] not in output


def test_the_operators_credentials_and_volume_are_adopted_unchanged(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    core = client.CoreV1Api(control_plane.api_client())
    operator_labels = {
        "app.kubernetes.io/name": "paperclip",
        "app.kubernetes.io/instance": "moved",
        "app.kubernetes.io/managed-by": "paperclip-operator",
    }
    # what the operator created: a password-only Secret and the data PVC
    core.create_namespaced_secret(
        NAMESPACE,
        {
            "metadata": {"name": "moved-db-credentials", "labels": operator_labels},
            "stringData": {"password": "0123456789abcdef0123456789abcdef"},
        },
    )
    core.create_namespaced_persistent_volume_claim(
        NAMESPACE,
        {
            "metadata": {
                "name": "moved-db-data",
                "labels": {**operator_labels, "app.kubernetes.io/component": "database"},
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "20Gi"}},
            },
        },
        field_manager="paperclip-operator",
    )
    before = core.read_namespaced_persistent_volume_claim("moved-db-data", NAMESPACE)
    moved = _bootstrap(control_plane, "moved", tmp_path)
    objects = moved.objects
    result = moved.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "secret moved-db-credentials exists; left unchanged" in result.stdout
    assert "has no optional key(s) database, host, port, username" in result.stdout
    assert _data(core, "moved-db-credentials") == {"password": "0123456789abcdef0123456789abcdef"}
    # the sync applies the generated PVC over the operator's: the same claim is taken over
    # (Argo CD and Flux apply server-side with forced ownership; the only field that differs
    # is the managed-by label)
    claim = objects["PersistentVolumeClaim/moved-db-data"]
    with pytest.raises(ApiException) as conflict:
        apply(control_plane, claim)
    assert "app.kubernetes.io/managed-by" in str(conflict.value.body)
    apply(control_plane, claim, force=True)
    after = core.read_namespaced_persistent_volume_claim("moved-db-data", NAMESPACE)
    assert after.metadata.uid == before.metadata.uid
    assert after.spec.resources.requests["storage"] == "20Gi"
    assert after.metadata.annotations["helm.sh/resource-policy"] == "keep"
    assert after.metadata.labels["app.kubernetes.io/managed-by"] == "paperclip-gitops"
    # an operator Secret without the password is a gap the Job reports and fails on
    core.create_namespaced_secret(
        NAMESPACE, {"metadata": {"name": "gap-db-credentials"}, "stringData": {"other": "x"}}
    )
    gap = _bootstrap(control_plane, "gap", tmp_path / "gap").run()
    assert gap.returncode == 3 and "exists without key(s) password" in gap.stdout


def test_the_bootstrap_role_allows_exactly_what_it_needs(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    bootstrap = _bootstrap(control_plane, "rbac", tmp_path)
    token = bootstrap.token
    names = bootstrap.objects["Role/rbac-secrets-bootstrap"]["rules"][1]["resourceNames"]
    assert names == ["rbac-db-credentials", "rbac-launcher-token"]
    assert bootstrap.run().returncode == 0
    core = client.CoreV1Api(control_plane.api_client(token))
    for name in names:
        core.read_namespaced_secret(name, NAMESPACE)  # allowed
    denied = [
        lambda: core.read_namespaced_secret("fresh-db-credentials", NAMESPACE),
        lambda: core.list_namespaced_secret(NAMESPACE),
        lambda: core.patch_namespaced_secret(
            "rbac-db-credentials", NAMESPACE, {"stringData": {"password": "x"}}
        ),
        lambda: core.delete_namespaced_secret("rbac-db-credentials", NAMESPACE),
        lambda: core.list_namespaced_pod(NAMESPACE),
        lambda: client.BatchV1Api(control_plane.api_client(token)).list_namespaced_cron_job(
            NAMESPACE
        ),
    ]
    for call in denied:
        with pytest.raises(ApiException) as caught:
            call()
        assert caught.value.status == 403
