"""The server environment, in the operator's order.

The server's own entries (:func:`core_env`) and every feature's contributed entries are
sorted by :class:`EnvSlot` (stable within a slot) into one list. Literal values go into the
instance ConfigMap (referenced by envFrom, hashed into a pod annotation so a change rolls the
pods); secrets stay ``secretKeyRef`` entries in the container's env.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from constructs_lib.constructs.feature import EnvEntry, EnvSlot
from constructs_lib.constructs.names import (
    DATA_PATH,
    MASTER_KEY_SECRET_KEY,
    master_key_secret_name,
    service_hostnames,
)
from constructs_lib.spec import DatabaseMode, DeploymentMode, Instance, SecretKeySelector
from constructs_lib.spec.rules import shared_master_key

AWS_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
"""The keys of an S3 credentials Secret, each read as the variable of the same name."""


def secret_entry(name: str, selector: SecretKeySelector, slot: EnvSlot) -> EnvEntry:
    return EnvEntry(
        name,
        secret_name=selector.name,
        secret_key=selector.key,
        optional=selector.optional,
        slot=slot,
    )


def literal_entries(slot: EnvSlot, *pairs: tuple[str, str | None]) -> list[EnvEntry]:
    """Literal entries in ``slot`` for the (name, value) pairs, in order; a pair whose value
    is None or empty leaves its variable unset."""
    return [EnvEntry(name, value, slot=slot) for name, value in pairs if value]


def secret_var(name: str, secret: str, key: str) -> dict[str, Any]:
    """A container env entry read from key ``key`` of Secret ``secret``."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def core_env(instance: Instance, extra_hostnames: Sequence[str] = ()) -> list[EnvEntry]:
    """The server's own variables (features contribute the rest)."""
    spec = instance.spec
    port = spec.networking.service.port
    if spec.deployment.mode is DeploymentMode.LOCAL_TRUSTED:
        # the server refuses any other bind in local_trusted mode (it has no login)
        bind = [EnvEntry("PAPERCLIP_BIND", "loopback")]
    else:
        bind = [EnvEntry("PAPERCLIP_BIND", "custom"), EnvEntry("PAPERCLIP_BIND_HOST", "0.0.0.0")]
    env = [
        EnvEntry("PORT", str(port)),
        *bind,
        EnvEntry("PAPERCLIP_HOME", DATA_PATH),
        EnvEntry("SERVE_UI", "true"),
        EnvEntry("PAPERCLIP_DEPLOYMENT_MODE", spec.deployment.mode.value),
        EnvEntry("PAPERCLIP_DEPLOYMENT_EXPOSURE", spec.deployment.exposure.value),
    ]
    env += literal_entries(EnvSlot.PUBLIC_URL, ("PAPERCLIP_PUBLIC_URL", spec.deployment.public_url))
    # localhost, 127.0.0.1, the Service names, the user's names, then the names features
    # route to the server (an Ingress's hosts); de-duplicated
    hostnames = [
        "localhost",
        "127.0.0.1",
        *service_hostnames(instance),
        *spec.deployment.allowed_hostnames,
        *extra_hostnames,
    ]
    allowed = ",".join(dict.fromkeys(hostnames))
    env.append(EnvEntry("PAPERCLIP_ALLOWED_HOSTNAMES", allowed, slot=EnvSlot.ALLOWED_HOSTNAMES))
    db = spec.database
    if db.mode is DatabaseMode.EXTERNAL:
        if db.external_url_secret_ref is not None:
            env.append(secret_entry("DATABASE_URL", db.external_url_secret_ref, EnvSlot.DATABASE))
        elif db.external_url:
            env.append(EnvEntry("DATABASE_URL", db.external_url, slot=EnvSlot.DATABASE))
    if spec.auth.secret_ref is not None:
        env.append(secret_entry("BETTER_AUTH_SECRET", spec.auth.secret_ref, EnvSlot.AUTH_SECRET))
    if spec.auth.disable_sign_up:
        env.append(EnvEntry("PAPERCLIP_AUTH_DISABLE_SIGN_UP", "true", slot=EnvSlot.SIGN_UP))
    master = spec.secrets.master_key_secret_ref
    if master is None:
        # With several replicas the secrets bootstrap creates it, so it is required; with one,
        # the server keeps its own key file on the data volume when the Secret is absent.
        master = SecretKeySelector(
            name=master_key_secret_name(instance),
            key=MASTER_KEY_SECRET_KEY,
            optional=None if shared_master_key(spec) else True,
        )
    env.append(secret_entry("PAPERCLIP_SECRETS_MASTER_KEY", master, EnvSlot.MASTER_KEY))
    if spec.secrets.strict_mode:
        env.append(EnvEntry("PAPERCLIP_SECRETS_STRICT_MODE", "true", slot=EnvSlot.SECRETS_STRICT))
    interval = spec.heartbeat.interval_ms
    env += literal_entries(
        EnvSlot.HEARTBEAT,
        ("HEARTBEAT_SCHEDULER_ENABLED", None if spec.heartbeat.enabled else "false"),
        ("HEARTBEAT_SCHEDULER_INTERVAL_MS", str(interval) if interval > 0 else None),
    )
    storage = spec.object_storage
    if storage is not None:
        slot = EnvSlot.OBJECT_STORAGE
        env += literal_entries(
            slot,
            ("PAPERCLIP_STORAGE_PROVIDER", "s3"),
            ("PAPERCLIP_STORAGE_S3_BUCKET", storage.bucket),  # never empty (3-63 characters)
            ("PAPERCLIP_STORAGE_S3_REGION", storage.region),
            ("PAPERCLIP_STORAGE_S3_ENDPOINT", storage.endpoint),
            ("PAPERCLIP_STORAGE_S3_FORCE_PATH_STYLE", "true" if storage.path_style else None),
        )
        if storage.credentials_secret_ref is not None:
            name = storage.credentials_secret_ref.name
            env += [EnvEntry(key, secret_name=name, secret_key=key, slot=slot) for key in AWS_KEYS]
    # the server reads PAPERCLIP_LOG_LEVEL (the operator's LOG_LEVEL is ignored by it)
    level = spec.observability.logging.level.value
    env.append(EnvEntry("PAPERCLIP_LOG_LEVEL", level, slot=EnvSlot.LOG_LEVEL))
    return env


def ordered(entries: list[EnvEntry]) -> list[EnvEntry]:
    """Sorted by slot; entries of one slot keep their order. A name given twice is a bug."""
    result = sorted(entries, key=lambda e: e.slot)
    names = [e.name for e in result]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ValueError(f"server env variables generated twice: {', '.join(doubled)}")
    return result


def config_data(entries: list[EnvEntry]) -> dict[str, str]:
    """The literal variables, in order: the ConfigMap's data."""
    return {e.name: e.value or "" for e in entries if not e.in_container_env}


def secret_env_vars(entries: list[EnvEntry]) -> list[dict[str, Any]]:
    """The Secret-backed variables and the literals that expand them, in order, as container
    env entries."""
    return [e.to_env_var() for e in entries if e.in_container_env]
