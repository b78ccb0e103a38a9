"""Spec groups for the server itself: image, deployment, auth, secrets, heartbeat, logging."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator

from constructs_lib.spec.base import (
    HttpURL,
    Hostname,
    LocalObjectReference,
    NonNegativeInt32,
    SecretKeySelector,
    SpecModel,
    StrictBool,
)
from constructs_lib.spec.unsupported import NotBuiltYet, not_built_yet

DEFAULT_IMAGE_REPOSITORY = "ghcr.io/paperclipai/paperclip"


class PullPolicy(StrEnum):
    ALWAYS = "Always"
    NEVER = "Never"
    IF_NOT_PRESENT = "IfNotPresent"


class ImageSpec(SpecModel):
    """The Paperclip server image. One of ``tag`` or ``digest`` is required."""

    # CRD fields not built yet: setting one is an error naming it.
    auto_update: NotBuiltYet

    repository: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._:/-]*$")] = (
        DEFAULT_IMAGE_REPOSITORY
    )
    """Image repository. Default: ghcr.io/paperclipai/paperclip."""
    tag: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")] | None = None
    """Image tag, e.g. 2026.1106.0. The digest wins when both are set. Default: unset (one
    of tag or digest is required)."""
    digest: Annotated[str, Field(pattern=r"^sha256:[a-f0-9]{64}$")] | None = None
    """Image digest, sha256:<64 hex>. Wins over the tag. Default: unset."""
    pull_policy: PullPolicy = PullPolicy.IF_NOT_PRESENT
    """Image pull policy. Default: IfNotPresent."""
    pull_secrets: list[LocalObjectReference] = []
    """Secrets used to pull the image (pod imagePullSecrets). Default: none."""

    @property
    def reference(self) -> str:
        """repository@digest when a digest is set, else repository:tag."""
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"


class DeploymentMode(StrEnum):
    LOCAL_TRUSTED = "local_trusted"
    AUTHENTICATED = "authenticated"


class Exposure(StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"


class DeploymentSpec(SpecModel):
    """How the server authenticates users and who can reach it."""

    # CRD fields not built yet: setting one is an error naming it.
    platform_admin: NotBuiltYet

    mode: DeploymentMode = DeploymentMode.AUTHENTICATED
    """local_trusted or authenticated. Default: authenticated."""
    exposure: Exposure = Exposure.PRIVATE
    """private or public. Default: private. local_trusted requires private."""
    public_url: Annotated[HttpURL | None, Field(alias="publicURL")] = None
    """The URL users reach the server at, passed through as written as PAPERCLIP_PUBLIC_URL.
    Default: unset."""
    allowed_hostnames: list[Hostname] = []
    """Extra host names the private-hostname guard accepts (the in-cluster Service names are
    always allowed). Default: none."""


class AuthSpec(SpecModel):
    """Authentication settings."""

    # CRD fields not built yet: setting one is an error naming it.
    admin_user: NotBuiltYet
    email: NotBuiltYet
    google: NotBuiltYet
    apple: NotBuiltYet

    secret_ref: SecretKeySelector | None = None
    """Secret key holding BETTER_AUTH_SECRET. Required in authenticated mode. Default: unset."""
    disable_sign_up: StrictBool | None = None
    """Turn off self sign-up (PAPERCLIP_AUTH_DISABLE_SIGN_UP=true). Default: unset."""


class SecretsProvider(StrEnum):
    LOCAL_ENCRYPTED = "local_encrypted"
    AWS_SECRETS_MANAGER = "aws_secrets_manager"


class SecretsSpec(SpecModel):
    """How the server encrypts the secrets it stores."""

    # CRD fields not built yet: setting one is an error naming it.
    aws: NotBuiltYet

    provider: SecretsProvider = SecretsProvider.LOCAL_ENCRYPTED
    """Only local_encrypted is built so far. Default: local_encrypted."""
    master_key_secret_ref: SecretKeySelector | None = None
    """Secret key with the master key. Default: unset — with one replica the optional Secret
    <name>-secrets-master-key (key master-key) is referenced, and without it the server keeps
    its own key file on the data volume; with more replicas that Secret is created in-cluster
    by the secrets bootstrap (never in git) so every replica shares one key."""
    strict_mode: StrictBool | None = None
    """PAPERCLIP_SECRETS_STRICT_MODE=true when true. Default: unset."""

    @field_validator("provider")
    @classmethod
    def _only_local(cls, value: SecretsProvider) -> SecretsProvider:
        if value is not SecretsProvider.LOCAL_ENCRYPTED:
            raise not_built_yet(f"secrets provider {value.value}")
        return value


class SchedulerGating(StrEnum):
    ORDINAL = "ordinal"
    LEASE = "lease"
    AUTO = "auto"

    @property
    def resolved(self) -> SchedulerGating:
        """auto resolves to ordinal, as in the operator."""
        return SchedulerGating.ORDINAL if self is SchedulerGating.AUTO else self


class HeartbeatSpec(SpecModel):
    """The heartbeat scheduler that wakes agents."""

    enabled: StrictBool = True
    """Run the heartbeat scheduler; false sets HEARTBEAT_SCHEDULER_ENABLED=false. Default: true."""
    interval_ms: Annotated[NonNegativeInt32, Field(alias="intervalMS")] = 60000
    """Scheduler interval in milliseconds (0 leaves the server default). Default: 60000."""
    scheduler_gating: SchedulerGating = SchedulerGating.ORDINAL
    """ordinal, lease or auto (= ordinal): which replica runs the scheduler. Default: ordinal."""


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class LoggingSpec(SpecModel):
    """Server logging."""

    level: LogLevel = LogLevel.INFO
    """Server log level (LOG_LEVEL). Default: info."""


class ObservabilitySpec(SpecModel):
    """Logging and metrics."""

    logging: LoggingSpec = LoggingSpec()
    """Logging settings. Default: level info."""

    # CRD fields not built yet: setting one is an error naming it.
    metrics: NotBuiltYet
