"""The admin bootstrap Job and its script ConfigMap, the server StatefulSet with the
seed-instance-admin init container and the identity / AWS Secrets Manager env, and its
ConfigMap pass server-side dry-run on the real API server."""

from __future__ import annotations

import pytest

from tests.conftest import make_instance, synth_objects
from tests.controlplane.cluster import ControlPlane
from tests.k8s.test_controlplane import apply, ensure_namespace

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(180)]

NAMESPACE = "identity-test"
SPEC = {
    "deployment": {
        "mode": "authenticated",
        "publicURL": "https://pc.example.com",
        "platformAdmin": {"email": "ops@example.com", "name": "Ops", "userID": "ops-1"},
    },
    "auth": {
        "secretRef": {"name": "auth", "key": "BETTER_AUTH_SECRET"},
        "adminUser": {
            "email": "admin@example.com",
            "passwordSecretRef": {"name": "admin", "key": "password"},
        },
        "email": {
            "resendAPIKeySecretRef": {"name": "resend", "key": "RESEND_API_KEY"},
            "from": "Paperclip <noreply@example.com>",
            "verificationRequired": True,
        },
        "google": {"credentialsSecretRef": {"name": "google-oauth"}},
        "apple": {"credentialsSecretRef": {"name": "apple-oauth"}},
    },
    "database": {"mode": "managed"},
    "secrets": {
        "provider": "aws_secrets_manager",
        "aws": {"region": "eu-central-1", "kmsKeyID": "alias/pc", "deploymentID": "prod"},
    },
    "security": {
        "rbac": {
            "serviceAccountAnnotations": {
                "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/paperclip"
            }
        }
    },
}


def test_identity_objects_pass_server_side_dry_run(control_plane: ControlPlane) -> None:
    objects = synth_objects(make_instance(SPEC, name="idp", namespace=NAMESPACE))
    keys = [
        "ConfigMap/idp-bootstrap",
        "Job/idp-bootstrap",
        "ConfigMap/idp-config",
        "ServiceAccount/idp",
        "StatefulSet/idp",
        "NetworkPolicy/idp",
    ]
    ensure_namespace(control_plane, NAMESPACE)
    for key in keys:
        answer = apply(control_plane, objects[key], dry_run=True)
        assert f"{answer.kind}/{answer.metadata.name}" == key
    job = apply(control_plane, objects["Job/idp-bootstrap"], dry_run=True)
    # the API server keeps the generated, unique selector (no manual selector)
    spec = job.to_dict()["spec"]
    assert not spec["manualSelector"]
    assert "batch.kubernetes.io/controller-uid" in spec["selector"]["matchLabels"]
