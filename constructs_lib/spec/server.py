"""Spec groups for the server itself: image, deployment, auth, secrets, heartbeat, logging."""

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from constructs_lib.spec.base import (
    Hostname,
    ImageDigest,
    ImageRepository,
    ImageTag,
    LocalObjectReference,
    MergedByKey,
    NonNegativeInt32,
    OptionalHttpURL,
    SecretKeySelector,
    SpecModel,
    StrictBool,
)
from constructs_lib.spec.extras import AutoUpdateSpec
from constructs_lib.spec.identity import (
    AdminUserSpec,
    AwsSecretsSpec,
    EmailSpec,
    OAuthProviderSpec,
    PlatformAdminSpec,
)
from constructs_lib.spec.observability import MetricsSpec
from constructs_lib.spec.platform import POD

DEFAULT_IMAGE_REPOSITORY = "ghcr.io/paperclipai/paperclip"


class PullPolicy(StrEnum):
    ALWAYS = "Always"
    NEVER = "Never"
    IF_NOT_PRESENT = "IfNotPresent"


class ImageSpec(SpecModel):
    """The Paperclip server image. One of ``tag`` or ``digest`` is required."""

    auto_update: AutoUpdateSpec = AutoUpdateSpec()
    """Image automation (Flux ImageRepository/ImagePolicy and a marked tag). Default: off."""

    repository: ImageRepository = DEFAULT_IMAGE_REPOSITORY
    """Image repository. Default: ghcr.io/paperclipai/paperclip."""
    tag: ImageTag | None = None
    """Image tag, e.g. 2026.1106.0. The digest wins when both are set. Default: unset (one
    of tag or digest is required)."""
    digest: ImageDigest | None = None
    """Image digest, sha256:<64 hex>. Wins over the tag. Default: unset."""
    pull_policy: PullPolicy = PullPolicy.IF_NOT_PRESENT
    """Image pull policy. Default: IfNotPresent."""
    pull_secrets: Annotated[list[LocalObjectReference], MergedByKey(POD, "imagePullSecrets")] = []
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

    platform_admin: PlatformAdminSpec | None = None
    """A platform-managed instance admin seeded before the server starts. Default: none."""

    mode: DeploymentMode = DeploymentMode.AUTHENTICATED
    """local_trusted or authenticated. Default: authenticated."""
    exposure: Exposure = Exposure.PRIVATE
    """private or public. Default: private. local_trusted requires private."""
    public_url: Annotated[OptionalHttpURL, Field(alias="publicURL")] = None
    """The URL users reach the server at, passed through as written as PAPERCLIP_PUBLIC_URL.
    Default: unset."""
    allowed_hostnames: list[Hostname] = []
    """Extra host names the private-hostname guard accepts (the in-cluster Service names are
    always allowed). Default: none."""


class AuthSpec(SpecModel):
    """Authentication settings."""

    admin_user: AdminUserSpec | None = None
    """The first admin, created by the admin bootstrap Job. Default: none."""
    email: EmailSpec | None = None
    """E-mail through Resend. Default: none."""
    google: OAuthProviderSpec | None = None
    """Sign-in with Google. Default: none."""
    apple: OAuthProviderSpec | None = None
    """Sign-in with Apple. Default: none."""

    secret_ref: SecretKeySelector | None = None
    """Secret key holding BETTER_AUTH_SECRET. Required in authenticated mode. Default: unset."""
    disable_sign_up: StrictBool | None = None
    """Turn off self sign-up (PAPERCLIP_AUTH_DISABLE_SIGN_UP=true). Default: unset."""


class SecretsProvider(StrEnum):
    LOCAL_ENCRYPTED = "local_encrypted"
    AWS_SECRETS_MANAGER = "aws_secrets_manager"


class SecretsSpec(SpecModel):
    """How the server encrypts the secrets it stores."""

    aws: AwsSecretsSpec | None = None
    """AWS Secrets Manager settings; required with provider aws_secrets_manager. Default:
    none."""

    provider: SecretsProvider = SecretsProvider.LOCAL_ENCRYPTED
    """local_encrypted (the master key) or aws_secrets_manager (needs aws). Default:
    local_encrypted."""
    master_key_secret_ref: SecretKeySelector | None = None
    """Secret key with the master key. Default: unset — with one replica the optional Secret
    <name>-secrets-master-key (key master-key) is referenced, and without it the server keeps
    its own key file on the data volume; with more replicas that Secret is created in-cluster
    by the secrets bootstrap (never in git) so every replica shares one key."""
    strict_mode: StrictBool | None = None
    """PAPERCLIP_SECRETS_STRICT_MODE=true when true. Default: unset."""


class SchedulerGating(StrEnum):
    ORDINAL = "ordinal"
    LEASE = "lease"
    AUTO = "auto"


class HeartbeatSpec(SpecModel):
    """The heartbeat scheduler that wakes agents."""

    enabled: StrictBool = True
    """Run the heartbeat scheduler; false sets HEARTBEAT_SCHEDULER_ENABLED=false. Default: true."""
    interval_ms: Annotated[NonNegativeInt32, Field(alias="intervalMS")] = 60000
    """Scheduler interval in milliseconds (0 leaves the server default). Default: 60000."""
    scheduler_gating: SchedulerGating = SchedulerGating.ORDINAL
    """ordinal, lease or auto (= ordinal): which replica runs the scheduler. Default: ordinal."""

    @property
    def ordinal(self) -> bool:
        """Whether the scheduler runs and its gating resolves to ordinal (auto does, as in the
        operator: the pod whose hostname ends in -0 runs it)."""
        return self.enabled and self.scheduler_gating is not SchedulerGating.LEASE


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class LoggingSpec(SpecModel):
    """Server logging."""

    level: LogLevel = LogLevel.INFO
    """Server log level (PAPERCLIP_LOG_LEVEL; the operator writes LOG_LEVEL, which the server
    ignores). Default: info."""


class ObservabilitySpec(SpecModel):
    """Logging and metrics."""

    logging: LoggingSpec = LoggingSpec()
    """Logging settings. Default: level info."""

    metrics: MetricsSpec = MetricsSpec()
    """OpenTelemetry export, ServiceMonitor, PrometheusRule and Grafana dashboards. Default:
    all off."""
