"""The AWS Secrets Manager provider (``secrets.provider: aws_secrets_manager``).

Server env at the operator's position 10 (``EnvSlot.SECRETS_PROVIDER``):
PAPERCLIP_SECRETS_PROVIDER, then PAPERCLIP_SECRETS_AWS_REGION, _KMS_KEY_ID, _DEPLOYMENT_ID,
_PREFIX, _ENVIRONMENT, _ENDPOINT and _DELETE_RECOVERY_DAYS. The CRD's CEL rule (``aws`` is
required for this provider) is a synth error. Credentials come from the AWS SDK's default chain
in the server pod: IRSA (``eks.amazonaws.com/role-arn`` in
``security.rbac.serviceAccountAnnotations``; the EKS webhook projects its own token, so the
server pod keeps ``automountServiceAccountToken: false``) or EKS Pod Identity. The server
NetworkPolicy already allows HTTPS; an ``endpoint`` on another port gets its own egress rule.
"""

from __future__ import annotations

from constructs_lib.constructs.env import literal_entries
from constructs_lib.constructs.feature import Contribution, EnvEntry, EnvSlot, Feature
from constructs_lib.constructs.primitives import egress_port, ports_rule
from constructs_lib.errors import Problem
from constructs_lib.spec import Instance
from constructs_lib.spec.identity import AwsSecretsSpec
from constructs_lib.spec.server import SecretsProvider


def provider_env(aws: AwsSecretsSpec) -> list[EnvEntry]:
    return literal_entries(
        EnvSlot.SECRETS_PROVIDER,
        ("PAPERCLIP_SECRETS_PROVIDER", SecretsProvider.AWS_SECRETS_MANAGER.value),
        ("PAPERCLIP_SECRETS_AWS_REGION", aws.region),
        ("PAPERCLIP_SECRETS_AWS_KMS_KEY_ID", aws.kms_key_id),
        ("PAPERCLIP_SECRETS_AWS_DEPLOYMENT_ID", aws.deployment_id),
        ("PAPERCLIP_SECRETS_AWS_PREFIX", aws.prefix),
        ("PAPERCLIP_SECRETS_AWS_ENVIRONMENT", aws.environment),
        ("PAPERCLIP_SECRETS_AWS_ENDPOINT", aws.endpoint),
        ("PAPERCLIP_SECRETS_AWS_DELETE_RECOVERY_DAYS", str(aws.delete_recovery_days)),
    )


class SecretsProviderFeature(Feature):
    """``secrets.provider: aws_secrets_manager`` with ``secrets.aws``: server env only."""

    id = "secrets-provider"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        secrets = instance.spec.secrets
        return secrets.provider is SecretsProvider.AWS_SECRETS_MANAGER or secrets.aws is not None

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        aws = instance.spec.secrets.aws
        if instance.spec.secrets.provider is not SecretsProvider.AWS_SECRETS_MANAGER:
            warning = Problem(
                "spec.secrets.aws is ignored: the provider is local_encrypted.",
                path="spec.secrets.aws",
                fix="set spec.secrets.provider: aws_secrets_manager, or remove spec.secrets.aws.",
            )
            return Contribution(warnings=[warning])
        if aws is None:
            error = Problem(
                "spec.secrets.aws is required when provider is aws_secrets_manager.",
                path="spec.secrets.aws",
                fix="add spec.secrets.aws with region, kmsKeyID and deploymentID, or set "
                "spec.secrets.provider: local_encrypted.",
            )
            return Contribution(errors=[error])
        number = egress_port(aws.endpoint)
        egress = [] if number is None else [ports_rule(number)]
        return Contribution(env=provider_env(aws), egress=egress)
