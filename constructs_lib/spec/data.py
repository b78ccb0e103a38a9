"""Spec groups for data: database, object storage and the data volume."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from constructs_lib.spec.base import (
    LocalObjectReference,
    ObjectName,
    Quantity,
    SecretKeySelector,
    SpecModel,
)
from constructs_lib.spec.unsupported import NotBuiltYet, not_built_yet


class DatabaseMode(StrEnum):
    EMBEDDED = "embedded"
    EXTERNAL = "external"
    MANAGED = "managed"


class DatabaseSpec(SpecModel):
    """Where the server keeps its PostgreSQL data."""

    # CRD fields not built yet: setting one is an error naming it.
    managed: NotBuiltYet

    mode: DatabaseMode | None = None
    """embedded (PostgreSQL inside the server pod, on the data volume) or external. The CRD
    default, managed, is not built yet, so the mode must be set explicitly."""
    external_url: Annotated[str | None, Field(alias="externalURL")] = None
    """A literal postgres:// URL without a password (use externalURLSecretRef for one that has
    credentials)."""
    external_url_secret_ref: Annotated[
        SecretKeySelector | None, Field(alias="externalURLSecretRef")
    ] = None
    """Secret key holding DATABASE_URL. Wins over externalURL."""

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
        if parts.password:
            raise ValueError(
                "contains a password, which would be committed to git; put the URL in a Secret "
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
    """Bucket region."""
    endpoint: str | None = None
    """Endpoint URL for non-AWS services."""
    credentials_secret_ref: LocalObjectReference | None = None
    """Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."""
    force_path_style: bool | None = None
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

    enabled: bool = True
    """Default: true. false uses an emptyDir, so data is lost when the pod goes."""
    size: Quantity = "5Gi"
    """Requested size. Default: 5Gi."""
    storage_class: ObjectName | None = None
    """StorageClass name. Default: the cluster default."""
    access_modes: Annotated[list[AccessMode], Field(min_length=1)] = [AccessMode.READ_WRITE_ONCE]
    """Default: [ReadWriteOnce]."""


class StorageSpec(SpecModel):
    persistence: PersistenceSpec = PersistenceSpec()
    """The data volume."""
