"""auth.email (Resend), auth.google, auth.apple and deployment.platformAdmin: the server env
at the operator's position 12, the seed-instance-admin init container, and the rules."""

from __future__ import annotations

from typing import Any

import pytest

from constructs_lib.constructs.build import plan
from constructs_lib.errors import UserError
from tests.conftest import make_instance, synth_objects

AUTHENTICATED: dict[str, Any] = {
    "deployment": {"mode": "authenticated"},
    "auth": {"secretRef": {"name": "auth", "key": "BETTER_AUTH_SECRET"}},
    "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}},
}
IDENTITY: dict[str, Any] = {
    "email": {
        "resendAPIKeySecretRef": {"name": "resend", "key": "api-key"},
        "from": "Paperclip <noreply@example.com>",
        "verificationRequired": True,
    },
    "google": {"credentialsSecretRef": {"name": "google-oauth"}},
    "apple": {"credentialsSecretRef": {"name": "apple-oauth"}},
}


def spec(auth: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {**AUTHENTICATED, "auth": {**AUTHENTICATED["auth"], **(auth or {})}, **extra}


def server(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    pod = objects["StatefulSet/demo"]["spec"]["template"]["spec"]
    container: dict[str, Any] = pod["containers"][0]
    assert container["name"] == "paperclip"
    return container


def test_identity_env_is_in_the_operator_order_with_secrets_as_references() -> None:
    objects = synth_objects(make_instance(spec(IDENTITY, heartbeat={"intervalMS": 30000})))
    env = server(objects)["env"]
    names = [e["name"] for e in env]
    # after the master key (8), before nothing else secret-backed in this spec
    assert names == [
        "DATABASE_URL",
        "BETTER_AUTH_SECRET",
        "PAPERCLIP_SECRETS_MASTER_KEY",
        "RESEND_API_KEY",
        "GOOGLE_CLIENT_ID",
        "GOOGLE_CLIENT_SECRET",
        "APPLE_CLIENT_ID",
        "APPLE_CLIENT_SECRET",
    ]
    by_name = {e["name"]: e for e in env}
    assert by_name["RESEND_API_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "resend", "key": "api-key"}
    }
    for provider in ("GOOGLE", "APPLE"):
        for suffix in ("CLIENT_ID", "CLIENT_SECRET"):
            key = f"{provider}_{suffix}"
            assert by_name[key]["valueFrom"] == {
                "secretKeyRef": {"name": f"{provider.lower()}-oauth", "key": key}
            }
    data = list(objects["ConfigMap/demo-config"]["data"].items())
    keys = [k for k, _ in data]
    # literals: after the secrets provider slot (10), before the heartbeat (13)
    at = keys.index("PAPERCLIP_EMAIL_FROM")
    assert keys[at : at + 3] == [
        "PAPERCLIP_EMAIL_FROM",
        "PAPERCLIP_EMAIL_VERIFICATION_REQUIRED",
        "HEARTBEAT_SCHEDULER_INTERVAL_MS",
    ]
    assert dict(data)["PAPERCLIP_EMAIL_FROM"] == "Paperclip <noreply@example.com>"
    assert dict(data)["PAPERCLIP_EMAIL_VERIFICATION_REQUIRED"] == "true"


def test_each_block_alone_adds_only_its_own_variables() -> None:
    objects = synth_objects(make_instance(spec({"google": IDENTITY["google"]})))
    names = [e["name"] for e in server(objects)["env"]]
    assert [n for n in names if "CLIENT" in n or "RESEND" in n] == [
        "GOOGLE_CLIENT_ID",
        "GOOGLE_CLIENT_SECRET",
    ]
    data = objects["ConfigMap/demo-config"]["data"]
    assert "PAPERCLIP_EMAIL_FROM" not in data
    # an empty e-mail block asks for nothing
    plain = synth_objects(make_instance(spec()))
    empty = synth_objects(make_instance(spec({"email": {"from": ""}})))
    assert server(empty)["env"] == server(plain)["env"]
    assert empty["ConfigMap/demo-config"] == plain["ConfigMap/demo-config"]


def test_verification_without_a_mail_key_warns() -> None:
    instance = make_instance(spec({"email": {"verificationRequired": True}}))
    warnings = plan(instance).contribution.warnings
    assert [w.path for w in warnings if "Resend" in w.message] == [
        "spec.auth.email.verificationRequired"
    ]
    # upstream Paperclip reads none of the mail settings (another warning says so): this one
    # must not claim as a fact that sign-in breaks there
    (resend,) = [w for w in warnings if "Resend" in w.message]
    assert "on a Paperclip build that reads these settings" in resend.message


def test_platform_admin_is_seeded_after_onboard_with_the_database_env() -> None:
    patch = spec(
        deployment={
            "mode": "authenticated",
            "platformAdmin": {"email": "ops@example.com", "name": "Ops", "userID": "ops-1"},
        },
        resources={"requests": {"cpu": "100m", "memory": "512Mi"}},
        security={"containerSecurityContext": {"runAsUser": 1001}},
        initContainers=[{"name": "mine", "image": "busybox:1.36"}],
    )
    objects = synth_objects(make_instance(patch))
    pod = objects["StatefulSet/demo"]["spec"]["template"]["spec"]
    names = [c["name"] for c in pod["initContainers"]]
    assert names == ["onboard", "seed-instance-admin", "mine"]
    seed = pod["initContainers"][1]
    main = server(objects)
    assert seed["image"] == main["image"]
    assert seed["args"] == ["exec pnpm paperclipai auth seed-instance-admin"]
    assert seed["env"] == [
        {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}},
        {"name": "PAPERCLIP_HOME", "value": "/paperclip"},
        {"name": "PAPERCLIP_SEED_ADMIN_EMAIL", "value": "ops@example.com"},
        {"name": "PAPERCLIP_SEED_ADMIN_NAME", "value": "Ops"},
        {"name": "PAPERCLIP_SEED_ADMIN_USER_ID", "value": "ops-1"},
    ]
    assert seed["securityContext"] == main["securityContext"]
    assert seed["securityContext"]["runAsUser"] == 1001
    assert seed["resources"] == main["resources"]
    assert seed["volumeMounts"] == [{"name": "paperclip-data", "mountPath": "/paperclip"}]


def test_platform_admin_with_the_managed_database_gets_its_password_reference() -> None:
    patch = spec(
        database={"mode": "managed"},
        deployment={"mode": "authenticated", "platformAdmin": {"email": "ops@example.com"}},
    )
    pod = synth_objects(make_instance(patch))["StatefulSet/demo"]["spec"]["template"]["spec"]
    [seed] = [c for c in pod["initContainers"] if c["name"] == "seed-instance-admin"]
    names = [e["name"] for e in seed["env"]]
    assert names == ["DB_PASSWORD", "DATABASE_URL", "PAPERCLIP_HOME", "PAPERCLIP_SEED_ADMIN_EMAIL"]
    assert "$(DB_PASSWORD)" in seed["env"][1]["value"]


def test_platform_admin_with_the_embedded_database_is_an_error() -> None:
    patch = spec(
        database={"mode": "embedded"},
        deployment={"mode": "authenticated", "platformAdmin": {"email": "ops@example.com"}},
    )
    errors = plan(make_instance(patch)).contribution.errors
    assert [e.path for e in errors] == ["spec.deployment.platformAdmin"]
    assert "database.mode: managed or external" in errors[0].fix


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"auth": {"google": {}}}, "spec.auth.google.credentialsSecretRef"),
        ({"auth": {"apple": {"credentialsSecretRef": {"name": "Bad_Name"}}}}, "spec.auth.apple"),
        ({"auth": {"email": {"resendAPIKeySecretRef": {"name": "r"}}}}, "spec.auth.email"),
        ({"auth": {"email": {"verificationRequired": "yes"}}}, "spec.auth.email"),
        ({"deployment": {"platformAdmin": {"name": "x"}}}, "spec.deployment.platformAdmin.email"),
        ({"deployment": {"platformAdmin": {"email": "not-an-address"}}}, "platformAdmin.email"),
        ({"deployment": {"platformAdmin": {"email": "a@b.io", "name": "a\nb"}}}, "name"),
    ],
)
def test_bad_identity_input_names_the_field(patch: dict[str, Any], path: str) -> None:
    with pytest.raises(UserError) as caught:
        make_instance(patch)
    assert any(path in p.path for p in caught.value.problems), caught.value.problems


def test_settings_upstream_paperclip_does_not_read_are_warnings_at_their_block() -> None:
    patch = spec(
        IDENTITY,
        deployment={"mode": "authenticated", "platformAdmin": {"email": "ops@example.com"}},
    )
    warnings = plan(make_instance(patch)).contribution.warnings
    upstream = [w for w in warnings if "upstream Paperclip" in w.message]
    assert [w.path for w in upstream] == [
        "spec.deployment.platformAdmin",
        "spec.auth.email",
        "spec.auth.google",
        "spec.auth.apple",
    ]
    assert "seed-instance-admin" in upstream[0].message and upstream[0].fix
    # a Resend key alone is not flagged
    only_key = spec({"email": {"resendAPIKeySecretRef": {"name": "r", "key": "k"}}})
    assert not plan(make_instance(only_key)).contribution.warnings
