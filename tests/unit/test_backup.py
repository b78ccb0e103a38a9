"""Backups (backup.*), restore (restoreFrom) and the server's own backups (backup.appNative):
the generated objects and the rules the backup feature holds."""

from __future__ import annotations

from typing import Any

import pytest

from constructs_lib.constructs.backup import backup_errors as errors
from constructs_lib.constructs.backup import backup_warnings as warnings
from constructs_lib.errors import UserError
from tests.conftest import make_instance, synth_objects

S3 = {"bucket": "paperclip-backups", "region": "eu-west-1", "credentialsSecretRef": {"name": "s3"}}
SCHEDULED: dict[str, Any] = {
    "database": {"mode": "managed"},
    "backup": {"schedule": "0 3 * * *", "s3": S3},
}


def pod_of(cronjob: dict[str, Any]) -> dict[str, Any]:
    return dict(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_backup_cronjob() -> None:
    objects = synth_objects(make_instance(SCHEDULED))
    cron = objects["CronJob/demo-db-backup"]["spec"]
    assert cron["schedule"] == "0 3 * * *"
    assert cron["timeZone"] == "Etc/UTC"
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron["startingDeadlineSeconds"] > 0
    assert (cron["successfulJobsHistoryLimit"], cron["failedJobsHistoryLimit"]) == (3, 5)
    job = cron["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 2 and job["activeDeadlineSeconds"] == 3 * 3600
    pod = pod_of(objects["CronJob/demo-db-backup"])
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "demo-db-backup"
    assert pod["securityContext"]["runAsUser"] == 70 and pod["securityContext"]["runAsNonRoot"]
    [dump] = pod["initContainers"]
    [upload] = pod["containers"]
    assert dump["command"] == ["bash", "/opt/paperclip-db/paperclip-db.sh", "dump"]
    assert upload["command"] == ["bash", "/opt/paperclip-db/paperclip-db.sh", "upload"]
    for container in (dump, upload):
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] and security["capabilities"] == {"drop": ["ALL"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["work"]["emptyDir"]["sizeLimit"] == "10Gi"  # the database volume's size
    assert volumes["scripts"]["configMap"]["name"] == "demo-db-scripts"
    dump_env = env_of(dump)
    assert dump_env["PGHOST"] == "demo-db.team.svc.cluster.local"
    assert dump_env["PGPASSWORD"] == {
        "secretKeyRef": {"name": "demo-db-credentials", "key": "password"}
    }
    up = env_of(upload)
    assert up["S3_BUCKET"] == "paperclip-backups"
    assert up["S3_PREFIX"] == "backups/demo"
    assert up["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert up["RETENTION_DAYS"] == "30" and up["KEEP_LAST"] == "3"
    assert up["AWS_REQUEST_CHECKSUM_CALCULATION"] == "when_required"
    assert up["AWS_RESPONSE_CHECKSUM_VALIDATION"] == "when_required"
    assert up["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "s3", "key": "AWS_SECRET_ACCESS_KEY"}
    }
    assert "PGPASSWORD" not in up  # the uploader never sees the database password
    assert up["S3_FORCE_PATH_STYLE"] == "false"


def test_the_restore_cronjob_is_suspended_and_restores_restore_from() -> None:
    objects = synth_objects(make_instance(SCHEDULED))
    restore = objects["CronJob/demo-db-restore"]
    assert restore["spec"]["suspend"] is True
    assert restore["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0
    pod = pod_of(restore)
    assert [c["name"] for c in pod["initContainers"]] == ["fetch"]
    assert [c["name"] for c in pod["containers"]] == ["restore"]
    assert env_of(pod["initContainers"][0])["RESTORE_KEY"] == "latest"
    assert pod["restartPolicy"] == "Never"
    assert restore["spec"]["jobTemplate"]["metadata"]["labels"]["app.kubernetes.io/component"] == (
        "restore"
    )
    key = "backups/demo/20260101T030000Z.dump"
    named = synth_objects(make_instance({**SCHEDULED, "restoreFrom": key}))
    assert env_of(pod_of(named["CronJob/demo-db-restore"])["initContainers"][0])["RESTORE_KEY"] == (
        key
    )


def test_an_s3_compatible_endpoint_gets_path_style_and_its_port_in_the_policy() -> None:
    minio = {
        "bucket": "b-1",
        "endpoint": "http://minio.storage:9000",
        "credentialsSecretRef": {"name": "m"},
    }
    objects = synth_objects(
        make_instance({**SCHEDULED, "backup": {"schedule": "@daily", "s3": minio}})
    )
    upload = pod_of(objects["CronJob/demo-db-backup"])["containers"][0]
    assert env_of(upload)["S3_FORCE_PATH_STYLE"] == "true"
    assert env_of(upload)["S3_ENDPOINT"] == "http://minio.storage:9000"
    policy = objects["NetworkPolicy/demo-db-backup"]["spec"]
    assert policy["ingress"] == []
    ports = [p["port"] for rule in policy["egress"] for p in rule["ports"]]
    assert ports == [53, 53, 443, 9000, 5432]
    assert (
        policy["egress"][-1]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        == "database"
    )


def test_object_storage_is_the_fallback_target_as_in_the_operator() -> None:
    spec = {
        "database": {"mode": "managed"},
        "objectStorage": {
            "provider": "minio",
            "bucket": "files",
            "endpoint": "http://m:9000",
            "credentialsSecretRef": {"name": "files-s3"},
        },
        "backup": {"schedule": "@daily"},
    }
    objects = synth_objects(make_instance(spec))
    up = env_of(pod_of(objects["CronJob/demo-db-backup"])["containers"][0])
    assert (up["S3_BUCKET"], up["S3_PREFIX"], up["S3_FORCE_PATH_STYLE"]) == (
        "files",
        "backups/demo",
        "true",
    )


def test_an_external_database_is_dumped_through_its_url_secret() -> None:
    spec = {
        "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}},
        "backup": {"schedule": "@daily", "s3": S3},
    }
    objects = synth_objects(make_instance(spec))
    dump = pod_of(objects["CronJob/demo-db-backup"])["initContainers"][0]
    assert env_of(dump) == {
        "BACKUP_DIR": "/backup",
        "DATABASE_URL": {"secretKeyRef": {"name": "db", "key": "url"}},
    }
    egress = objects["NetworkPolicy/demo-db-backup"]["spec"]["egress"]
    assert egress[-1] == {"ports": [{"port": 5432, "protocol": "TCP"}]}
    assert "StatefulSet/demo-db" not in objects


def test_workload_identity_rides_on_the_backup_service_account() -> None:
    spec = {
        **SCHEDULED,
        "backup": {"schedule": "@daily", "s3": {"bucket": "b-1"}},
        "security": {"rbac": {"serviceAccountAnnotations": {"eks.amazonaws.com/role-arn": "arn"}}},
    }
    objects = synth_objects(make_instance(spec))
    account = objects["ServiceAccount/demo-db-backup"]
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn"}
    upload = pod_of(objects["CronJob/demo-db-backup"])["containers"][0]
    assert "AWS_ACCESS_KEY_ID" not in env_of(upload)
    assert warnings(make_instance(spec)) == []
    bare = make_instance({**SCHEDULED, "backup": {"schedule": "@daily", "s3": {"bucket": "b-1"}}})
    assert "spec.backup.s3.credentialsSecretRef" in [p.path for p in warnings(bare)]


def test_app_native_backups_are_env_in_the_operators_slot() -> None:
    spec = {"backup": {"appNative": {"enabled": True, "intervalMinutes": 30, "retentionDays": 0}}}
    objects = synth_objects(make_instance(spec))
    data = objects["ConfigMap/demo-config"]["data"]
    names = list(data)
    assert data["PAPERCLIP_DB_BACKUP_ENABLED"] == "true"
    assert data["PAPERCLIP_DB_BACKUP_INTERVAL_MINUTES"] == "30"
    assert "PAPERCLIP_DB_BACKUP_RETENTION_DAYS" not in data  # 0: not set, as the operator
    assert data["PAPERCLIP_DB_BACKUP_DIR"] == "/paperclip/backups"
    assert names.index("PAPERCLIP_ALLOWED_HOSTNAMES") < names.index("PAPERCLIP_DB_BACKUP_ENABLED")
    assert names.index("PAPERCLIP_DB_BACKUP_DIR") < names.index("PAPERCLIP_LOG_LEVEL")
    # the embedded database has no backup CronJob: the server backs it up itself
    assert not [k for k in objects if k.startswith("CronJob/")]


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"backup": {"schedule": "@daily", "s3": S3}}, "spec.backup.schedule"),
        ({"database": {"mode": "managed"}, "backup": {"schedule": "@daily"}}, "spec.backup.s3"),
        (
            {
                "database": {"mode": "managed"},
                "backup": {"schedule": "@daily", "s3": {"bucket": "b-1", "endpoint": "https://r2"}},
            },
            "spec.backup.s3.credentialsSecretRef",
        ),
        ({"database": {"mode": "managed"}, "restoreFrom": "latest"}, "spec.restoreFrom"),
    ],
    ids=["embedded", "no-bucket", "endpoint-without-credentials", "restore-without-backup"],
)
def test_backup_rules(spec: dict[str, Any], path: str) -> None:
    assert [p.path for p in errors(make_instance(spec))] == [path]


def test_restore_into_the_embedded_database_is_refused_without_circular_advice() -> None:
    """Following the fix must not lead to another error: a schedule is refused with the
    embedded database, so the fix for restoreFrom cannot be "configure backup.schedule"."""
    found = errors(make_instance({"database": {"mode": "embedded"}, "restoreFrom": "latest"}))
    assert [p.path for p in found] == ["spec.restoreFrom"]
    assert "embedded database" in found[0].message
    assert "database.mode: managed" in found[0].fix


@pytest.mark.parametrize(
    ("schedule", "ok"),
    [
        ("0 3 * * *", True),
        ("*/15 1-5 * jan-mar mon,fri", True),
        ("@hourly", True),
        ("0 0 * * 7", True),
        ("0 24 * * *", False),
        ("0 3 * *", False),
        ("TZ=UTC 0 3 * * *", False),
        ("0 3 * * */0", False),
        ("0 5-3 * * *", False),
        ("daily", False),
    ],
)
def test_cron_schedules(schedule: str, ok: bool) -> None:
    spec = {**SCHEDULED, "backup": {"schedule": schedule, "s3": S3}}
    if ok:
        make_instance(spec)
    else:
        with pytest.raises(UserError) as caught:
            make_instance(spec)
        assert [p.path for p in caught.value.problems] == ["spec.backup.schedule"]


def test_s3_without_a_schedule_warns_that_nothing_is_backed_up() -> None:
    instance = make_instance({**SCHEDULED, "backup": {"s3": S3}})
    assert "spec.backup.schedule" in [p.path for p in warnings(instance)]
    assert not [k for k in synth_objects(instance) if k.startswith("CronJob/")]
