"""Spec groups for identity: the admin bootstrap user, e-mail (Resend), Google and Apple
sign-in, the platform admin seed, and the AWS Secrets Manager provider's settings.

Field names, defaults and requirements are the operator's (paperclip.inc/v1alpha1); every
credential is a Secret reference, never a value.
"""

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from constructs_lib.spec.base import (
    LocalObjectReference,
    OptionalHttpURL,
    SecretKeySelector,
    SpecModel,
    StrictBool,
    empty_is_unset,
)

_EMAIL_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+"
_EMAIL_DOMAIN = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+"


def _email(value: str) -> str:
    if len(value) > 254 or not re.fullmatch(f"{_EMAIL_LOCAL}@{_EMAIL_DOMAIN}", value):
        raise PydanticCustomError(
            "email",
            "'{value}' is not an e-mail address such as admin@example.com",
            {"value": value},
        )
    return value


EmailAddress = Annotated[str, AfterValidator(_email)]
"""An e-mail address (one @, a dotted domain, no spaces or quotes)."""


def _display_name(value: str) -> str:
    if not value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise PydanticCustomError(
            "display_name",
            "a name must not be blank or contain control characters (line breaks, tabs)",
            {},
        )
    return value


DisplayName = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_display_name)]

# Names AWS Secrets Manager accepts in a secret name (a prefix, a deployment id, ...).
AwsNamePart = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9/_+=.@-]+$")]


class AdminUserSpec(SpecModel):
    """The first admin, created by the admin bootstrap Job ``<name>-bootstrap`` (sign-up, or
    sign-in when the user exists, then the CEO bootstrap invite is accepted)."""

    email: EmailAddress
    """The admin's e-mail address (written into the Job; not a secret). Required."""
    name: DisplayName = "Admin"
    """The admin's display name. Default: Admin."""
    password_secret_ref: SecretKeySelector
    """Secret key holding the admin's password (ADMIN_PASSWORD of the Job). Required."""


class EmailSpec(SpecModel):
    """Transactional e-mail through Resend (verification mails, invitations)."""

    resend_api_key_secret_ref: Annotated[
        SecretKeySelector | None, Field(alias="resendAPIKeySecretRef")
    ] = None
    """Secret key holding the Resend API key (RESEND_API_KEY). Default: unset."""
    from_: Annotated[
        Annotated[str, Field(min_length=3, max_length=320), AfterValidator(_display_name)] | None,
        Field(alias="from"),
        BeforeValidator(empty_is_unset),
    ] = None
    """Sender, e.g. "Paperclip <noreply@example.com>" (PAPERCLIP_EMAIL_FROM). Default: unset."""
    verification_required: StrictBool | None = None
    """Require e-mail verification before sign-in
    (PAPERCLIP_EMAIL_VERIFICATION_REQUIRED=true). Default: unset (false)."""


class OAuthProviderSpec(SpecModel):
    """Sign-in with an OAuth provider; the Secret holds <PROVIDER>_CLIENT_ID and
    <PROVIDER>_CLIENT_SECRET."""

    credentials_secret_ref: LocalObjectReference
    """The Secret with the client id and secret (keys GOOGLE_CLIENT_ID/GOOGLE_CLIENT_SECRET or
    APPLE_CLIENT_ID/APPLE_CLIENT_SECRET). Required."""


class PlatformAdminSpec(SpecModel):
    """A platform-managed instance admin, seeded by the ``seed-instance-admin`` init container
    (``pnpm paperclipai auth seed-instance-admin``) before the server starts."""

    email: EmailAddress
    """The admin's e-mail address (PAPERCLIP_SEED_ADMIN_EMAIL). Required."""
    name: DisplayName | None = None
    """Display name (PAPERCLIP_SEED_ADMIN_NAME). Default: unset (the CLI's default)."""
    user_id: Annotated[
        Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._@:-]+$")] | None,
        Field(alias="userID"),
    ] = None
    """The admin's user id (PAPERCLIP_SEED_ADMIN_USER_ID). Default: unset (the CLI's
    default)."""


def _aws_region(value: str) -> str:
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", value):
        raise PydanticCustomError(
            "aws_region",
            "'{value}' is not an AWS region such as eu-central-1 or us-gov-west-1",
            {"value": value},
        )
    return value


class AwsSecretsSpec(SpecModel):
    """AWS Secrets Manager settings (``secrets.provider: aws_secrets_manager``). The server
    authenticates with the AWS SDK's default chain: IRSA (``eks.amazonaws.com/role-arn`` in
    ``security.rbac.serviceAccountAnnotations``) or EKS Pod Identity."""

    region: Annotated[str, AfterValidator(_aws_region)]
    """AWS region (PAPERCLIP_SECRETS_AWS_REGION). Required."""
    kms_key_id: Annotated[
        Annotated[str, Field(min_length=1, max_length=2048, pattern=r"^[A-Za-z0-9:/_.+=@-]+$")],
        Field(alias="kmsKeyID"),
    ]
    """KMS key id, ARN or alias/... used to encrypt the secrets
    (PAPERCLIP_SECRETS_AWS_KMS_KEY_ID). Required."""
    deployment_id: Annotated[AwsNamePart, Field(alias="deploymentID")]
    """Namespaces this deployment's secrets (PAPERCLIP_SECRETS_AWS_DEPLOYMENT_ID). Required."""
    prefix: AwsNamePart = "paperclip"
    """Secret name prefix (PAPERCLIP_SECRETS_AWS_PREFIX). Default: paperclip."""
    environment: Annotated[AwsNamePart | None, BeforeValidator(empty_is_unset)] = None
    """Environment label (PAPERCLIP_SECRETS_AWS_ENVIRONMENT). Default: unset."""
    endpoint: OptionalHttpURL = None
    """Secrets Manager endpoint override, e.g. a VPC endpoint
    (PAPERCLIP_SECRETS_AWS_ENDPOINT); a port other than 443 is opened in the server
    NetworkPolicy. Default: unset (the region's public endpoint)."""
    delete_recovery_days: Annotated[int, Field(strict=True, ge=7, le=30)] = 30
    """Recovery window of deleted secrets, 7 to 30 days as AWS allows
    (PAPERCLIP_SECRETS_AWS_DELETE_RECOVERY_DAYS). Default: 30."""
