"""Backups and restore of the managed or external database (``backup.*``, ``restoreFrom``), and
the server's own backups (``backup.appNative``, env only, as the operator wires it).

With ``backup.schedule``:

* CronJob ``<name>-db-backup``: an init container in the database's own postgres image (so
  pg_dump matches the server's major version) runs ``paperclip-db.sh dump`` (``pg_dump -Fc``,
  ``pg_restore --list``, sha256), then the aws-cli container runs ``paperclip-db.sh upload``
  (``<path>/<instance>/<UTC timestamp>.dump`` and ``.sha256``, then retention by LastModified,
  keeping the newest ``keepLast``). A failed dump fails the pod before anything is uploaded.
* CronJob ``<name>-db-restore``, suspended, run by hand with
  ``kubectl create job --from=cronjob/<name>-db-restore <job-name>``: ``fetch`` (download the
  ``restoreFrom`` key or the latest complete backup, check the sha256), then ``restore``
  (check again, ``pg_restore --list``, then one-transaction ``pg_restore --clean``).
* ConfigMap ``<name>-db-scripts`` (the one script both run), ServiceAccount ``<name>-db-backup``
  (no token; carries ``security.rbac.serviceAccountAnnotations`` for workload identity) and
  NetworkPolicy ``<name>-db-backup`` (no ingress; DNS, the database and the S3 endpoint only).

Backup and restore pods: the postgres user's uid, restricted security contexts with read-only
roots, no ServiceAccount token, and emptyDir work space with a size limit.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from constructs_lib.constructs.database import (
    BACKUP_COMPONENT,
    DB_NAME,
    DB_USER,
    PASSWORD_KEY,
    POSTGRES_PORT,
    RESTORE_COMPONENT,
    DatabaseNames,
    database_host,
    database_selector,
    external_database_ports,
    is_managed,
    postgres_pod_security,
)
from constructs_lib.constructs.env import AWS_KEYS, literal_entries, secret_var
from constructs_lib.constructs.feature import Contribution, EnvEntry, EnvSlot, Feature
from constructs_lib.constructs.kube import NETWORK_POLICY
from constructs_lib.constructs.names import (
    DATA_PATH,
    SuffixedNames,
    component_labels,
    components_selector,
)
from constructs_lib.constructs.pod import placement
from constructs_lib.constructs.primitives import (
    container_resources,
    dns_egress,
    egress_port,
    https_egress,
    pods_rule,
    policy_body,
    ports_rule,
    restricted_container_security,
)
from constructs_lib.errors import Problem
from constructs_lib.spec import Instance
from constructs_lib.spec.data import BackupS3Spec, DatabaseMode, ObjectStorageSpec

AWS_CLI_IMAGE = "amazon/aws-cli:2.22.35"
"""The uploader image. 2.22.35 is the last release before aws-cli's default checksums
(refused by R2, B2 and MinIO); the pods also set both AWS_*_CHECKSUM_* variables to
when_required, so a newer image works as well."""
SCRIPT_KEY = "paperclip-db.sh"
SCRIPT_DIR = "/opt/paperclip-db"
WORK_DIR = "/backup"
DEFAULT_WORK_SIZE = "10Gi"
SCHEDULE_TIME_ZONE = "Etc/UTC"
RESTORE_SCHEDULE = "0 0 1 1 *"
"""Never used: the restore CronJob is suspended and only ever run by hand."""
APP_BACKUP_DIR = f"{DATA_PATH}/backups"


@dataclass(frozen=True)
class BackupTarget:
    """Where backups go: backup.s3, or objectStorage's bucket (as the operator falls back)."""

    bucket: str
    prefix: str
    """The key prefix of this instance's backups: <path>/<instance>."""
    region: str | None
    endpoint: str | None
    credentials: str | None
    """Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or None (workload identity)."""
    path_style: bool
    source: str
    """The spec path the target came from (for messages)."""

    @classmethod
    def of(cls, instance: Instance) -> BackupTarget | None:
        backup = instance.spec.backup
        if backup is None:
            return None
        s3, storage = backup.s3, instance.spec.object_storage
        store: BackupS3Spec | ObjectStorageSpec
        if s3 is not None:
            store, prefix, source = s3, f"{s3.path}/{instance.name}", "spec.backup.s3"
            forced = s3.force_path_style
            path_style = forced if forced is not None else s3.endpoint is not None
        elif storage is not None:
            store, prefix, source = storage, f"backups/{instance.name}", "spec.objectStorage"
            path_style = storage.path_style
        else:
            return None
        ref = store.credentials_secret_ref
        credentials = ref.name if ref else None
        return cls(
            store.bucket, prefix, store.region, store.endpoint, credentials, path_style, source
        )


@dataclass(frozen=True)
class BackupNames(SuffixedNames):
    suffixes = ("db-backup", "db-restore", "db-scripts", "db-backup")
    backup: str
    restore: str
    scripts: str
    service_account: str


def scheduled_target(instance: Instance) -> BackupTarget | None:
    """The target of the backup and restore CronJobs, or None when they are not built (they
    need a schedule, a resolved target, and a database pg_dump can reach: managed or
    external)."""
    backup = instance.spec.backup
    timed = backup is not None and backup.schedule is not None
    reachable = instance.spec.database.mode is not DatabaseMode.EMBEDDED
    return BackupTarget.of(instance) if timed and reachable else None


def app_native_env(instance: Instance) -> list[EnvEntry]:
    """PAPERCLIP_DB_BACKUP_* as the operator sets them (only when backup.appNative is set)."""
    backup = instance.spec.backup
    native = backup.app_native if backup else None
    if native is None:
        return []
    enabled, interval, retention = native.enabled, native.interval_minutes, native.retention_days
    return literal_entries(
        EnvSlot.APP_BACKUP,
        ("PAPERCLIP_DB_BACKUP_ENABLED", str(enabled).lower() if enabled is not None else None),
        ("PAPERCLIP_DB_BACKUP_INTERVAL_MINUTES", str(interval) if interval else None),
        ("PAPERCLIP_DB_BACKUP_RETENTION_DAYS", str(retention) if retention else None),
        ("PAPERCLIP_DB_BACKUP_DIR", APP_BACKUP_DIR),
    )


def _value(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def database_env(instance: Instance) -> list[dict[str, Any]]:
    """How pg_dump/pg_restore reach the database: libpq variables for the managed database
    (the password from <name>-db-credentials), DATABASE_URL from the Secret for external."""
    db = instance.spec.database
    if is_managed(instance):
        return [
            _value("PGHOST", database_host(instance)),
            _value("PGPORT", str(POSTGRES_PORT)),
            _value("PGUSER", DB_USER),
            _value("PGDATABASE", DB_NAME),
            secret_var("PGPASSWORD", DatabaseNames.of(instance).credentials, PASSWORD_KEY),
        ]
    ref = db.external_url_secret_ref
    if ref is not None:
        return [secret_var("DATABASE_URL", ref.name, ref.key)]
    return [_value("DATABASE_URL", db.external_url or "")]


def s3_env(instance: Instance, target: BackupTarget) -> list[dict[str, Any]]:
    backup = instance.spec.backup
    assert backup is not None
    values = {
        "S3_BUCKET": target.bucket,
        "S3_PREFIX": target.prefix,
        "S3_FORCE_PATH_STYLE": "true" if target.path_style else "false",
        "RETENTION_DAYS": str(backup.retention_days),
        "KEEP_LAST": str(backup.keep_last),
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        "HOME": WORK_DIR,
        "S3_ENDPOINT": target.endpoint,
        "AWS_DEFAULT_REGION": target.region,
    }
    # only the endpoint and the region can be unset (None or empty): no variable then
    env = [_value(name, value) for name, value in values.items() if value]
    if target.credentials:
        env += [secret_var(key, target.credentials, key) for key in AWS_KEYS]
    return env


def work_size(instance: Instance) -> str:
    """The work volume's size limit: the managed database's volume size (a compressed dump is
    smaller than the data), else 10Gi."""
    if is_managed(instance):
        return str(instance.spec.database.managed.storage_size)
    return DEFAULT_WORK_SIZE


def _container(instance: Instance, phase: str, env: list[dict[str, Any]]) -> dict[str, Any]:
    """Runs ``paperclip-db.sh <phase>`` (the container's name): ``dump`` and ``restore`` in the
    database's own postgres image, ``upload`` and ``fetch`` in the aws-cli image."""
    postgres = phase in ("dump", "restore")
    resources = ("100m", "128Mi", "1Gi") if postgres else ("50m", "128Mi", "512Mi")
    return {
        "name": phase,
        "image": instance.spec.database.managed.image if postgres else AWS_CLI_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["bash", f"{SCRIPT_DIR}/{SCRIPT_KEY}", phase],
        "env": [_value("BACKUP_DIR", WORK_DIR), *env],
        "resources": container_resources(*resources),
        "securityContext": restricted_container_security(),
        "volumeMounts": [
            {"name": "work", "mountPath": WORK_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "scripts", "mountPath": SCRIPT_DIR, "readOnly": True},
        ],
    }


def _cronjob_body(
    instance: Instance,
    component: str,
    schedule: str,
    fields: dict[str, Any],
    backoff_limit: int,
    first: dict[str, Any],
    second: dict[str, Any],
) -> dict[str, Any]:
    """A backup or restore CronJob; ``fields``: the rest of its spec before the job template;
    ``first`` runs as an init container, then ``second``."""
    labels = component_labels(instance, component)
    names = BackupNames.of(instance)
    pod = {
        "restartPolicy": "Never",
        "serviceAccountName": names.service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": postgres_pod_security(instance.spec.database.managed.image),
        "initContainers": [first],
        "containers": [second],
        "volumes": [
            {"name": "work", "emptyDir": {"sizeLimit": work_size(instance)}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
            {"name": "scripts", "configMap": {"name": names.scripts, "defaultMode": 0o555}},
        ],
        **placement(instance),
    }
    return {
        "spec": {
            "schedule": schedule,
            "timeZone": SCHEDULE_TIME_ZONE,
            **fields,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": backoff_limit,
                    "activeDeadlineSeconds": 3 * 3600,
                    "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
                },
            },
        }
    }


def backup_cronjob_body(instance: Instance, target: BackupTarget) -> dict[str, Any]:
    backup = instance.spec.backup
    assert backup is not None and backup.schedule is not None
    dump = _container(instance, "dump", database_env(instance))
    upload = _container(instance, "upload", s3_env(instance, target))
    fields = {
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 5,
    }
    return _cronjob_body(instance, BACKUP_COMPONENT, backup.schedule, fields, 2, dump, upload)


def restore_cronjob_body(instance: Instance, target: BackupTarget) -> dict[str, Any]:
    key = instance.spec.restore_from or "latest"
    fetch_env = [*s3_env(instance, target), _value("RESTORE_KEY", key)]
    fetch = _container(instance, "fetch", fetch_env)
    restore = _container(instance, "restore", database_env(instance))
    fields = {
        "suspend": True,
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 1,
        "failedJobsHistoryLimit": 1,
    }
    return _cronjob_body(instance, RESTORE_COMPONENT, RESTORE_SCHEDULE, fields, 0, fetch, restore)


def network_policy_body(instance: Instance, target: BackupTarget) -> dict[str, Any]:
    """Backup and restore pods: no ingress; DNS, HTTPS (S3), the endpoint's own port, and the
    database (the managed pods, or anywhere on the port(s) of a literal externalURL, 5432
    otherwise, for an external one)."""
    egress = [dns_egress(), https_egress(*filter(None, [egress_port(target.endpoint)]))]
    if is_managed(instance):
        egress.append(pods_rule(database_selector(instance), POSTGRES_PORT))
    else:
        egress.append(ports_rule(*external_database_ports(instance)))
    return policy_body(
        components_selector(instance, BACKUP_COMPONENT, RESTORE_COMPONENT), [], egress
    )


# --- the rules (what a backup CronJob needs to work at all) -------------------------------


def backup_errors(instance: Instance) -> list[Problem]:
    """``backup.*`` and ``restoreFrom`` rules that stop synthesis."""
    return list(_backup_errors(instance))


def _backup_errors(instance: Instance) -> Iterator[Problem]:
    spec = instance.spec
    timed = spec.backup is not None and spec.backup.schedule is not None
    if timed and spec.database.mode is DatabaseMode.EMBEDDED:
        yield Problem(
            "is set, but the embedded database lives inside the server pod, where no "
            "backup Job can reach it; the server backs it up itself (backup.appNative: "
            "every 60 minutes to /paperclip/backups by default).",
            "spec.backup.schedule",
            "remove backup.schedule (tune backup.appNative instead), or use "
            "database.mode: managed or external.",
        )
        return
    target = BackupTarget.of(instance)
    if timed and target is None:
        yield Problem(
            "needs a bucket: neither backup.s3 nor objectStorage is set.",
            "spec.backup.s3",
            "set spec.backup.s3.bucket (with region, endpoint and credentialsSecretRef as "
            "the store needs).",
        )
    if timed and target is not None and target.endpoint is not None and target.credentials is None:
        yield Problem(
            f"has the endpoint {target.endpoint} but no credentials: workload identity "
            "works only with AWS S3 itself.",
            f"{target.source}.credentialsSecretRef",
            "reference a Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
        )
    if spec.restore_from is not None and spec.database.mode is DatabaseMode.EMBEDDED:
        yield Problem(
            "is set, but the embedded database lives inside the server pod, where no "
            "restore Job can reach it.",
            "spec.restoreFrom",
            "remove restoreFrom, or use database.mode: managed (with backup.schedule and "
            "backup.s3).",
        )
    elif spec.restore_from is not None and not timed:
        yield Problem(
            "is set, but no restore CronJob is built: it reads backups from the backup "
            "bucket, which needs backup.schedule.",
            "spec.restoreFrom",
            "configure spec.backup (schedule and s3), or remove restoreFrom.",
        )


def backup_warnings(instance: Instance) -> list[Problem]:
    return list(_backup_warnings(instance))


def _backup_warnings(instance: Instance) -> Iterator[Problem]:
    backup = instance.spec.backup
    if backup is not None and backup.schedule is None and backup.s3 is not None:
        yield Problem(
            "backup.s3 is set without backup.schedule: no backups are made and no restore "
            "CronJob is built.",
            "spec.backup.schedule",
            "set a cron schedule in UTC, e.g. '0 3 * * *'.",
        )
    target = scheduled_target(instance)
    if (
        target is not None
        and target.endpoint is None
        and target.credentials is None
        and not instance.spec.security.rbac.service_account_annotations
    ):
        yield Problem(
            "backups to AWS S3 without credentialsSecretRef rely on workload identity "
            f"(EKS Pod Identity for ServiceAccount {BackupNames.of(instance).service_account}, or "
            "IRSA).",
            f"{target.source}.credentialsSecretRef",
            "reference a Secret with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or set "
            "security.rbac.serviceAccountAnnotations (e.g. eks.amazonaws.com/role-arn).",
        )


class Backups(Feature):
    """pg_dump backups to S3 with retention, the restore CronJob, appNative env, and the
    rules of ``backup.*`` and ``restoreFrom``."""

    id = "backup"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        return instance.spec.backup is not None or instance.spec.restore_from is not None

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        return Contribution(
            env=app_native_env(instance),
            errors=backup_errors(instance),
            warnings=backup_warnings(instance),
        )

    def add_objects(self) -> None:
        context = self.context
        instance = context.instance
        target = scheduled_target(instance)
        if target is None:
            return
        add = functools.partial(self.add, labels=component_labels(instance, BACKUP_COMPONENT))
        names = BackupNames.of(instance)
        annotations = dict(instance.spec.security.rbac.service_account_annotations)
        no_token = {"automountServiceAccountToken": False}
        add("ServiceAccount", names.service_account, no_token, annotations=annotations)
        add("ConfigMap", names.scripts, {"data": {SCRIPT_KEY: context.db_script}})
        policy = network_policy_body(instance, target)
        add("NetworkPolicy", names.backup, policy, only_if=NETWORK_POLICY)
        add("CronJob", names.backup, backup_cronjob_body(instance, target))
        add(
            "CronJob",
            names.restore,
            restore_cronjob_body(instance, target),
            labels=component_labels(instance, RESTORE_COMPONENT),
        )
