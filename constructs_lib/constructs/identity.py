"""Identity: e-mail through Resend (``auth.email``), sign-in with Google and Apple
(``auth.google``, ``auth.apple``), and the platform admin seed (``deployment.platformAdmin``).

E-mail and OAuth add server env at the operator's position 12 (``EnvSlot.IDENTITY``): the
Resend key and the OAuth client ids/secrets as secretKeyRefs, the sender and the verification
switch as literals. The platform admin is seeded by the init container
``seed-instance-admin`` (after onboard, before the user's init containers): the server image,
the server's database env, PAPERCLIP_SEED_ADMIN_EMAIL/_NAME/_USER_ID, and the server's
container security context and resources.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from constructs_lib.constructs.copying import json_copy
from constructs_lib.constructs.database import is_managed, server_database_env
from constructs_lib.constructs.env import core_env, literal_entries, secret_entry
from constructs_lib.constructs.feature import Contribution, EnvEntry, EnvSlot, Feature
from constructs_lib.constructs.names import DATA_PATH
from constructs_lib.constructs.pod import (
    container_security_context,
    data_mount,
    server_image_container,
)
from constructs_lib.errors import Problem
from constructs_lib.spec import DatabaseMode, Instance
from constructs_lib.spec.versions import CHECKED_PAPERCLIP_RELEASE as CHECKED_RELEASE

SEED_CONTAINER = "seed-instance-admin"
SEED_COMMAND = "exec pnpm paperclipai auth seed-instance-admin"
OAUTH_PROVIDERS = (("google", "GOOGLE"), ("apple", "APPLE"))


def identity_env(instance: Instance) -> list[EnvEntry]:
    """RESEND_API_KEY, PAPERCLIP_EMAIL_FROM, PAPERCLIP_EMAIL_VERIFICATION_REQUIRED, then the
    Google and Apple client ids and secrets (the operator's order)."""
    auth = instance.spec.auth
    slot = EnvSlot.IDENTITY
    env: list[EnvEntry] = []
    email = auth.email
    if email is not None:
        if email.resend_api_key_secret_ref is not None:
            env.append(secret_entry("RESEND_API_KEY", email.resend_api_key_secret_ref, slot))
        if email.from_:
            env.append(EnvEntry("PAPERCLIP_EMAIL_FROM", email.from_, slot=slot))
        if email.verification_required:
            env.append(EnvEntry("PAPERCLIP_EMAIL_VERIFICATION_REQUIRED", "true", slot=slot))
    for field, prefix in OAUTH_PROVIDERS:
        provider = getattr(auth, field)
        if provider is not None:
            secret = provider.credentials_secret_ref.name
            keys = (f"{prefix}_CLIENT_ID", f"{prefix}_CLIENT_SECRET")
            env += [EnvEntry(key, secret_name=secret, secret_key=key, slot=slot) for key in keys]
    return env


def database_env(instance: Instance) -> list[EnvEntry]:
    """The server's database variables (managed: DB_PASSWORD and DATABASE_URL; otherwise
    those of :func:`core_env`: DATABASE_URL for external, none for embedded)."""
    if is_managed(instance):
        return server_database_env(instance)
    return [e for e in core_env(instance) if e.slot is EnvSlot.DATABASE]


def seed_container(instance: Instance) -> dict[str, Any]:
    spec = instance.spec
    admin = spec.deployment.platform_admin
    assert admin is not None
    seed = literal_entries(
        EnvSlot.IDENTITY,
        ("PAPERCLIP_HOME", DATA_PATH),
        ("PAPERCLIP_SEED_ADMIN_EMAIL", admin.email),  # never empty (an e-mail address)
        ("PAPERCLIP_SEED_ADMIN_NAME", admin.name),
        ("PAPERCLIP_SEED_ADMIN_USER_ID", admin.user_id),
    )
    container = server_image_container(instance, SEED_CONTAINER, ["/bin/sh", "-c"], SEED_COMMAND)
    container["env"] = [e.to_env_var() for e in [*database_env(instance), *seed]]
    if spec.env_from:
        container["envFrom"] = json_copy(spec.env_from)
    container["volumeMounts"] = [data_mount()]
    container["securityContext"] = container_security_context(instance)
    if spec.resources is not None:
        container["resources"] = json_copy(spec.resources)
    return container


def identity_errors(instance: Instance) -> Iterator[Problem]:
    spec = instance.spec
    if spec.deployment.platform_admin is not None and spec.database.mode is DatabaseMode.EMBEDDED:
        yield Problem(
            "the seed-instance-admin init container writes to the database before the "
            "server starts, but the embedded database only runs inside the started server, "
            "so the pod would never start.",
            path="spec.deployment.platformAdmin",
            fix="use spec.database.mode: managed or external, or remove "
            "spec.deployment.platformAdmin.",
        )


def identity_warnings(instance: Instance) -> Iterator[Problem]:
    spec = instance.spec
    if spec.deployment.platform_admin is not None:
        yield Problem(
            "the seed-instance-admin init container runs `pnpm paperclipai auth "
            "seed-instance-admin`, which upstream Paperclip does not ship (the CLI of "
            f"release {CHECKED_RELEASE} has no such command); with an image without it the "
            "init container fails and the server pod never starts.",
            path="spec.deployment.platformAdmin",
            fix="use it only with a Paperclip image that has the command (pnpm paperclipai "
            "auth --help lists it); otherwise create the first admin with spec.auth.adminUser.",
        )
    email = spec.auth.email
    mail_settings = email is not None and (email.from_ or email.verification_required)
    for field, names, used in (
        ("email", "PAPERCLIP_EMAIL_FROM, PAPERCLIP_EMAIL_VERIFICATION_REQUIRED", mail_settings),
        ("google", "GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET", spec.auth.google is not None),
        ("apple", "APPLE_CLIENT_ID, APPLE_CLIENT_SECRET", spec.auth.apple is not None),
    ):
        if used:
            yield Problem(
                f"{names} are set as the operator sets them, but upstream Paperclip "
                f"(release {CHECKED_RELEASE}) reads none of them, so this has no effect "
                "there.",
                path=f"spec.auth.{field}",
                fix="use it with a Paperclip build that supports it, or remove the block.",
            )
    if email is not None and email.resend_api_key_secret_ref is None:
        if email.verification_required:
            yield Problem(
                "e-mail verification is required but no Resend API key is set: on a "
                "Paperclip build that reads these settings no verification mail can be sent, "
                "and new users cannot sign in.",
                path="spec.auth.email.verificationRequired",
                fix="set spec.auth.email.resendAPIKeySecretRef, or drop verificationRequired.",
            )
        elif email.from_:
            yield Problem(
                "a sender is set but no Resend API key: on a Paperclip build that reads "
                "these settings no mail is sent.",
                path="spec.auth.email.from",
                fix="set spec.auth.email.resendAPIKeySecretRef.",
            )


class IdentityFeature(Feature):
    """``auth.email``, ``auth.google``, ``auth.apple`` and ``deployment.platformAdmin``: server
    env and the seed init container; no objects of its own."""

    id = "identity"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        auth = instance.spec.auth
        blocks = (auth.email, auth.google, auth.apple, instance.spec.deployment.platform_admin)
        return any(block is not None for block in blocks)

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        errors = list(identity_errors(instance))
        seeded = instance.spec.deployment.platform_admin is not None and not errors
        return Contribution(
            env=identity_env(instance),
            init_containers=[seed_container(instance)] if seeded else [],
            errors=errors,
            warnings=list(identity_warnings(instance)),
        )
