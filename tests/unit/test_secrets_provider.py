"""secrets.provider: aws_secrets_manager with secrets.aws: the env at the operator's
position 10, the CEL rule as a synth error, the endpoint's egress, and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from constructs_lib.constructs.build import plan
from constructs_lib.errors import UserError
from tests.conftest import make_instance, synth_objects

AWS: dict[str, Any] = {
    "region": "eu-central-1",
    "kmsKeyID": "alias/paperclip",
    "deploymentID": "prod",
}


def secrets(**patch: Any) -> dict[str, Any]:
    return {"secrets": {"provider": "aws_secrets_manager", **patch}}


def test_provider_env_in_order_between_strict_mode_and_app_backups() -> None:
    patch = {
        **secrets(aws={**AWS, "environment": "production"}, strictMode=True),
        "backup": {"appNative": {"enabled": True}},
    }
    data = synth_objects(make_instance(patch))["ConfigMap/demo-config"]["data"]
    keys = list(data)
    start = keys.index("PAPERCLIP_SECRETS_STRICT_MODE")
    assert keys[start : start + 9] == [
        "PAPERCLIP_SECRETS_STRICT_MODE",
        "PAPERCLIP_SECRETS_PROVIDER",
        "PAPERCLIP_SECRETS_AWS_REGION",
        "PAPERCLIP_SECRETS_AWS_KMS_KEY_ID",
        "PAPERCLIP_SECRETS_AWS_DEPLOYMENT_ID",
        "PAPERCLIP_SECRETS_AWS_PREFIX",
        "PAPERCLIP_SECRETS_AWS_ENVIRONMENT",
        "PAPERCLIP_SECRETS_AWS_DELETE_RECOVERY_DAYS",
        "PAPERCLIP_DB_BACKUP_ENABLED",
    ]
    assert data["PAPERCLIP_SECRETS_PROVIDER"] == "aws_secrets_manager"
    assert data["PAPERCLIP_SECRETS_AWS_PREFIX"] == "paperclip"
    assert data["PAPERCLIP_SECRETS_AWS_DELETE_RECOVERY_DAYS"] == "30"
    assert "PAPERCLIP_SECRETS_AWS_ENDPOINT" not in data


def test_local_encrypted_sets_no_provider_env() -> None:
    data = synth_objects(make_instance())["ConfigMap/demo-config"]["data"]
    assert not [k for k in data if k.startswith("PAPERCLIP_SECRETS_AWS") or k.endswith("PROVIDER")]
    explicit = make_instance({"secrets": {"provider": "local_encrypted"}})
    assert synth_objects(explicit)["ConfigMap/demo-config"]["data"] == data


def test_the_cel_rule_aws_required_is_a_synth_error_at_its_path() -> None:
    errors = plan(make_instance(secrets())).contribution.errors
    assert [(e.path, e.message) for e in errors] == [
        ("spec.secrets.aws", "spec.secrets.aws is required when provider is aws_secrets_manager.")
    ]


def test_aws_settings_without_the_provider_warn_that_they_are_ignored() -> None:
    instance = make_instance({"secrets": {"aws": AWS}})
    assert [w.path for w in plan(instance).contribution.warnings] == ["spec.secrets.aws"]
    assert (
        "PAPERCLIP_SECRETS_PROVIDER" not in synth_objects(instance)["ConfigMap/demo-config"]["data"]
    )


def test_an_endpoint_on_another_port_is_opened_in_the_server_policy() -> None:
    patch = secrets(aws={**AWS, "endpoint": "http://localstack.aws.svc:4566"})
    objects = synth_objects(make_instance(patch))
    assert (
        objects["ConfigMap/demo-config"]["data"]["PAPERCLIP_SECRETS_AWS_ENDPOINT"]
        == "http://localstack.aws.svc:4566"
    )
    egress = objects["NetworkPolicy/demo"]["spec"]["egress"]
    assert {"ports": [{"port": 4566, "protocol": "TCP"}]} in egress
    # an HTTPS endpoint on 443 is covered by the HTTPS rule already
    vpc = secrets(
        aws={**AWS, "endpoint": "https://vpce-1.secretsmanager.eu-central-1.vpce.amazonaws.com"}
    )
    plain = synth_objects(make_instance())["NetworkPolicy/demo"]["spec"]["egress"]
    assert synth_objects(make_instance(vpc))["NetworkPolicy/demo"]["spec"]["egress"] == plain


def test_empty_optional_strings_are_unset_as_in_the_operator_readme() -> None:
    instance = make_instance(secrets(aws={**AWS, "endpoint": "", "environment": ""}))
    aws = instance.spec.secrets.aws
    assert aws is not None and aws.endpoint is None and aws.environment is None


@pytest.mark.parametrize(
    ("aws", "path"),
    [
        ({"kmsKeyID": "k", "deploymentID": "d"}, "spec.secrets.aws.region"),
        ({**AWS, "region": "Frankfurt"}, "spec.secrets.aws.region"),
        ({**AWS, "kmsKeyID": ""}, "spec.secrets.aws.kmsKeyID"),
        ({**AWS, "deploymentID": "has space"}, "spec.secrets.aws.deploymentID"),
        ({**AWS, "deleteRecoveryDays": 3}, "spec.secrets.aws.deleteRecoveryDays"),
        ({**AWS, "deleteRecoveryDays": "30"}, "spec.secrets.aws.deleteRecoveryDays"),
        ({**AWS, "endpoint": "https://user:pw@sm.example.com"}, "spec.secrets.aws.endpoint"),
        ({**AWS, "kmsKeyId": "x"}, "spec.secrets.aws.kmsKeyId"),
    ],
)
def test_bad_aws_settings_name_the_field(aws: dict[str, Any], path: str) -> None:
    with pytest.raises(UserError) as caught:
        make_instance(secrets(aws=aws))
    assert path in [p.path for p in caught.value.problems]
