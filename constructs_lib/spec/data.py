"""Spec groups for data: database, object storage and the data volume."""

import re
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field

from constructs_lib.spec.base import (
    LocalObjectReference,
    NonNegativeInt32,
    ObjectName,
    OptionalHttpURL,
    PositiveInt32,
    PositiveQuantity,
    Quantity,
    SecretKeySelector,
    SpecModel,
    StrictBool,
    credentials_in_url,
)
from constructs_lib.spec.platform import Resources
from launcher.templates import IMAGE_REFERENCE, image_reference_problem


class DatabaseMode(StrEnum):
    EMBEDDED = "embedded"
    EXTERNAL = "external"
    MANAGED = "managed"


DEFAULT_POSTGRES_IMAGE = "postgres:17-alpine"


def _image_reference(value: str) -> str:
    """An image reference by the container tools' grammar, pinned by a tag or a digest."""
    match = IMAGE_REFERENCE.fullmatch(value)
    if image_reference_problem(value) or match is None or not (match["tag"] or match["digest"]):
        raise ValueError(
            f"{value[:80]!r} is not a pinned image reference: write repository:tag or "
            "repository@sha256:<64 hex digits>, e.g. postgres:17-alpine"
        )
    return value


ImageReference = Annotated[str, AfterValidator(_image_reference)]


class ManagedDatabaseSpec(SpecModel):
    """The PostgreSQL StatefulSet paperclip-gitops runs for mode managed."""

    image: ImageReference = DEFAULT_POSTGRES_IMAGE
    """The official postgres image (or a compatible one); pin it by digest with
    postgres:17-alpine@sha256:... The pods run as the image's postgres user (uid 70 for alpine
    images, 999 otherwise). Backups use the same image, so pg_dump matches the server's major
    version. Default: postgres:17-alpine."""
    storage_size: Quantity = "10Gi"
    """Size of the data volume <name>-db-data. Growing it later: docs/data-tier.md.
    Default: 10Gi."""
    storage_class: ObjectName | None = None
    """StorageClass of the data volume. Default: the cluster default."""
    resources: Resources | None = None
    """Resources of the postgres container. Default: requests 250m CPU / 256Mi, limits 1 CPU /
    1Gi (the operator's)."""


def _postgres_url(value: str) -> str:
    """A postgres:// URL with a host, kept as written in DATABASE_URL: no control characters
    and no credentials (the spec is committed to git)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError(
            "contains a control character (e.g. a line break), which would be passed into "
            "DATABASE_URL as written; remove it"
        )
    parts = urlsplit(value)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise ValueError(
            "must be a postgres:// or postgresql:// URL with a host, e.g. "
            "postgresql://paperclip@db.example.com:5432/paperclip"
        )
    if found := credentials_in_url(value):
        raise ValueError(
            f"contains {found}, which would be committed to git; put the URL in a Secret "
            "and reference it with externalURLSecretRef instead"
        )
    return value


PostgresURL = Annotated[str, AfterValidator(_postgres_url)]


class DatabaseSpec(SpecModel):
    """Where the server keeps its PostgreSQL data."""

    mode: DatabaseMode = DatabaseMode.MANAGED
    """managed (a PostgreSQL StatefulSet next to the server, credentials created in-cluster),
    embedded (PostgreSQL inside the server pod, on the data volume) or external. Default:
    managed (as in the CRD)."""
    external_url: Annotated[PostgresURL | None, Field(alias="externalURL")] = None
    """A literal postgres:// URL without a password (use externalURLSecretRef for one that has
    credentials). Default: unset."""
    external_url_secret_ref: Annotated[
        SecretKeySelector | None, Field(alias="externalURLSecretRef")
    ] = None
    """Secret key holding DATABASE_URL. Wins over externalURL. Default: unset."""
    # managed: null (an exported Instance may say so) means the defaults
    managed: Annotated[
        ManagedDatabaseSpec, BeforeValidator(lambda value: {} if value is None else value)
    ] = ManagedDatabaseSpec()
    """Settings of the managed database (used only in mode managed; an exported Instance may
    carry the CRD's defaults here in other modes). Default: postgres:17-alpine, 10Gi."""


class ObjectStorageProvider(StrEnum):
    S3 = "s3"
    MINIO = "minio"
    R2 = "r2"


class ObjectStorageSpec(SpecModel):
    """S3-compatible storage for uploaded files (required for more than one replica)."""

    provider: ObjectStorageProvider
    """s3, minio or r2 (all use the server's s3 provider)."""
    bucket: Annotated[str, Field(min_length=3, max_length=63)]
    """Bucket name."""
    region: str | None = None
    """Bucket region. Default: unset (the server's default, us-east-1)."""
    endpoint: OptionalHttpURL = None
    """Endpoint URL for non-AWS services, without credentials. Default: unset (AWS)."""
    credentials_secret_ref: LocalObjectReference | None = None
    """Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Default: unset (the AWS
    SDK's default chain, e.g. workload identity)."""
    force_path_style: StrictBool | None = None
    """Path-style addressing. Default: true for minio, else false."""

    @property
    def path_style(self) -> bool:
        forced = self.force_path_style
        return self.provider is ObjectStorageProvider.MINIO if forced is None else forced


class AccessMode(StrEnum):
    READ_WRITE_ONCE = "ReadWriteOnce"
    READ_ONLY_MANY = "ReadOnlyMany"
    READ_WRITE_MANY = "ReadWriteMany"
    READ_WRITE_ONCE_POD = "ReadWriteOncePod"


class PersistenceSpec(SpecModel):
    """The data volume mounted at /paperclip."""

    enabled: StrictBool = True
    """Keep /paperclip on a PersistentVolumeClaim; false uses an emptyDir, so data is lost
    when the pod goes. Default: true."""
    size: PositiveQuantity = "5Gi"
    """Requested size. Default: 5Gi."""
    storage_class: ObjectName | None = None
    """StorageClass name. Default: the cluster default."""
    access_modes: Annotated[list[AccessMode], Field(min_length=1)] = [AccessMode.READ_WRITE_ONCE]
    """Default: [ReadWriteOnce]."""


class StorageSpec(SpecModel):
    """Server storage."""

    persistence: PersistenceSpec = PersistenceSpec()
    """The data volume. Default: enabled, 5Gi, ReadWriteOnce."""


# --- Backups (backup.*) and restore (restoreFrom) ---------------------------------------------

_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


def _cron_value(text: str, low: int, names: tuple[str, ...]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + low
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


def _cron_field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> None:
    for part in text.split(","):
        base, slash, step = part.partition("/")
        if slash and (not step.isdigit() or int(step) < 1):
            raise ValueError(f"the {name} field has a bad step {part!r}")
        if base in ("*", "?"):
            continue
        try:  # a value or a range
            bounds = [_cron_value(bound, low, names) for bound in base.split("-", 1)]
        except ValueError:
            raise ValueError(f"the {name} field has {part!r}, not a number") from None
        if any(b < low or b > high for b in bounds) or bounds[0] > bounds[-1]:
            raise ValueError(f"the {name} field has {part!r} outside {low}-{high}")


def _cron_schedule(value: str) -> str:
    """A schedule the Kubernetes CronJob controller accepts (5 fields or a macro, no TZ)."""
    text = value.strip()
    if text in _CRON_MACROS:
        return value
    if "TZ=" in text:
        raise ValueError("must not set a time zone: backups are scheduled in UTC")
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"{value!r} is not a cron schedule: write 5 fields (minute hour day-of-month month "
            "day-of-week, e.g. '0 3 * * *' for 03:00 UTC daily) or a macro such as @daily"
        )
    for part, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        try:
            _cron_field(part, name, low, high, names)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a cron schedule: {exc}") from None
    return value


CronSchedule = Annotated[str, AfterValidator(_cron_schedule)]

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")


def _bucket_name(value: str) -> str:
    if not _BUCKET.fullmatch(value) or ".." in value or _IP.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an S3 bucket name: 3-63 lower-case letters, digits, '.' and '-', "
            "starting and ending with a letter or digit (not an IP address)"
        )
    return value


def _key_prefix(value: str) -> str:
    if not _PREFIX.fullmatch(value) or value in (".", "..") or "/../" in f"/{value}/":
        raise ValueError(
            f"{value!r} is not a key prefix: write path segments of letters, digits and "
            "!_.*'()- separated by '/', without a leading or trailing '/' (e.g. backups)"
        )
    return value


BucketName = Annotated[str, AfterValidator(_bucket_name)]
KeyPrefix = Annotated[str, AfterValidator(_key_prefix)]


class BackupS3Spec(SpecModel):
    """The S3-compatible store backups are written to (AWS S3, MinIO, Cloudflare R2, ...)."""

    bucket: BucketName
    """Bucket name. Required."""
    path: KeyPrefix = "backups"
    """Key prefix; each backup is <path>/<instance>/<UTC timestamp>.dump (plus .sha256).
    Default: backups."""
    region: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9-]+$")] | None = None
    """Bucket region (R2: auto). Default: unset (us-east-1)."""
    endpoint: OptionalHttpURL = None
    """Endpoint URL of a non-AWS service, e.g. https://<account>.r2.cloudflarestorage.com or
    http://minio.storage:9000. Default: unset (AWS S3)."""
    credentials_secret_ref: LocalObjectReference | None = None
    """Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (required with an
    endpoint). Default: unset: workload identity (EKS Pod Identity or IRSA through
    security.rbac.serviceAccountAnnotations, which the backup ServiceAccount carries)."""
    force_path_style: StrictBool | None = None
    """Path-style addressing (MinIO needs it). Default: true when an endpoint is set, else
    false."""


class AppNativeBackupSpec(SpecModel):
    """The server's own periodic database backups (files under /paperclip/backups)."""

    enabled: StrictBool | None = None
    """PAPERCLIP_DB_BACKUP_ENABLED. Default: unset (the server's default, enabled)."""
    interval_minutes: NonNegativeInt32 | None = None
    """PAPERCLIP_DB_BACKUP_INTERVAL_MINUTES when above 0. Default: unset (the server's 60)."""
    retention_days: NonNegativeInt32 | None = None
    """PAPERCLIP_DB_BACKUP_RETENTION_DAYS when above 0. Default: unset (the server's 7)."""


class BackupSpec(SpecModel):
    """Verified pg_dump backups of the managed or external database to S3, with retention."""

    schedule: CronSchedule | None = None
    """Cron schedule in UTC, e.g. '0 3 * * *'. The backup CronJob <name>-db-backup and the
    restore CronJob <name>-db-restore exist only when it is set. Default: unset (no backups
    besides appNative)."""
    s3: BackupS3Spec | None = None
    """Where backups go. Default: unset: objectStorage's bucket, region, endpoint and
    credentials (as the operator)."""
    retention_days: PositiveInt32 = 30
    """Backups whose LastModified is older than this many days are deleted after each backup
    (the newest keepLast are always kept). Default: 30."""
    keep_last: PositiveInt32 = 3
    """paperclip-gitops extension: the newest backups retention never deletes, however old.
    Default: 3."""
    app_native: AppNativeBackupSpec | None = None
    """The server's own backups, set through env as the operator does (PAPERCLIP_DB_BACKUP_*;
    the embedded database is backed up this way). Default: unset (the server's defaults)."""


_RESTORE_KEY = re.compile(r"^[A-Za-z0-9!_.*'()/-]+\.dump$")


def _restore_from(value: str | None) -> str | None:
    if not value:
        return None  # "" as exported from a cluster: unset
    if value != "latest" and (not _RESTORE_KEY.fullmatch(value) or "/../" in f"/{value}"):
        raise ValueError(
            f"{value!r} is not a backup: write latest, or a key of the backup bucket "
            "such as backups/<instance>/20260101T030000Z.dump"
        )
    return value


RestoreSource = Annotated[str | None, AfterValidator(_restore_from)]
