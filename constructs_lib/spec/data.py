"""Spec groups for data: database, object storage and the data volume."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from constructs_lib.spec.base import (
    HttpURL,
    LocalObjectReference,
    ObjectName,
    Quantity,
    SecretKeySelector,
    SpecModel,
    StrictBool,
    credentials_in_url,
)
from constructs_lib.spec.unsupported import asks_for_nothing, not_built_yet


class DatabaseMode(StrEnum):
    EMBEDDED = "embedded"
    EXTERNAL = "external"
    MANAGED = "managed"


class DatabaseSpec(SpecModel):
    """Where the server keeps its PostgreSQL data."""

    managed: Annotated[dict[str, Any] | None, Field(exclude=True)] = None
    """Settings of the managed database (not built yet). Accepted and ignored when mode is
    embedded or external (an exported Instance may carry the CRD's defaults here).
    Default: unset."""

    mode: DatabaseMode | None = None
    """embedded (PostgreSQL inside the server pod, on the data volume) or external. The CRD
    default, managed, is not built yet, so the mode must be set explicitly. Default: unset."""
    external_url: Annotated[str | None, Field(alias="externalURL")] = None
    """A literal postgres:// URL without a password (use externalURLSecretRef for one that has
    credentials). Default: unset."""
    external_url_secret_ref: Annotated[
        SecretKeySelector | None, Field(alias="externalURLSecretRef")
    ] = None
    """Secret key holding DATABASE_URL. Wins over externalURL. Default: unset."""

    @model_validator(mode="after")
    def _managed_block(self) -> DatabaseSpec:
        if self.mode in (None, DatabaseMode.MANAGED) and not asks_for_nothing(self.managed):
            raise not_built_yet("database.managed")
        return self

    @field_validator("mode")
    @classmethod
    def _mode_built(cls, value: DatabaseMode | None) -> DatabaseMode | None:
        if value is DatabaseMode.MANAGED:
            raise not_built_yet("database mode managed")
        return value

    @field_validator("external_url")
    @classmethod
    def _no_password_in_git(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
            raise ValueError(
                "must be a postgres:// or postgresql:// URL with a host, e.g. "
                "postgresql://paperclip@db.example.com:5432/paperclip"
            )
        found = credentials_in_url(value)
        if found:
            raise ValueError(
                f"contains {found}, which would be committed to git; put the URL in a Secret "
                "and reference it with externalURLSecretRef instead"
            )
        return value


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
    endpoint: HttpURL | None = None
    """Endpoint URL for non-AWS services, without credentials. Default: unset (AWS)."""
    credentials_secret_ref: LocalObjectReference | None = None
    """Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Default: unset (the AWS
    SDK's default chain, e.g. workload identity)."""
    force_path_style: StrictBool | None = None
    """Path-style addressing. Default: true for minio, else false."""

    @property
    def path_style(self) -> bool:
        if self.force_path_style is not None:
            return self.force_path_style
        return self.provider is ObjectStorageProvider.MINIO


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
    size: Quantity = "5Gi"
    """Requested size. Default: 5Gi."""
    storage_class: ObjectName | None = None
    """StorageClass name. Default: the cluster default."""
    access_modes: Annotated[list[AccessMode], Field(min_length=1)] = [AccessMode.READ_WRITE_ONCE]
    """Default: [ReadWriteOnce]."""


class StorageSpec(SpecModel):
    """Server storage."""

    persistence: PersistenceSpec = PersistenceSpec()
    """The data volume. Default: enabled, 5Gi, ReadWriteOnce."""
