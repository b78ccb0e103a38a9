"""The server environment, in the operator's order.

Literal values go into the instance ConfigMap (referenced by envFrom, hashed into a pod
annotation so a change rolls the pods); secrets stay ``secretKeyRef`` entries in the
container's env. :func:`server_env` keeps the one ordered list both are cut from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from constructs_lib.constructs.names import (
    DATA_PATH,
    LAUNCHER_TOKEN_KEY,
    MASTER_KEY_SECRET_KEY,
    AgentNames,
    launcher_url,
    master_key_secret_name,
    service_hostnames,
)
from constructs_lib.spec import DatabaseMode, Instance, SecretKeySelector


@dataclass(frozen=True)
class EnvEntry:
    """One server variable: a literal value or a reference to a Secret key."""

    name: str
    value: str | None = None
    secret_name: str | None = None
    secret_key: str | None = None
    optional: bool | None = None

    @property
    def is_secret(self) -> bool:
        return self.secret_name is not None

    def to_env_var(self) -> dict[str, Any]:
        if not self.is_secret:
            return {"name": self.name, "value": self.value}
        ref: dict[str, Any] = {"name": self.secret_name, "key": self.secret_key}
        if self.optional is not None:
            ref["optional"] = self.optional
        return {"name": self.name, "valueFrom": {"secretKeyRef": ref}}


def _secret(name: str, selector: SecretKeySelector) -> EnvEntry:
    return EnvEntry(
        name, secret_name=selector.name, secret_key=selector.key, optional=selector.optional
    )


def allowed_hostnames(instance: Instance) -> list[str]:
    """localhost, 127.0.0.1, the Service names, then the user's names; de-duplicated."""
    names = [
        "localhost",
        "127.0.0.1",
        *service_hostnames(instance),
        *instance.spec.deployment.allowed_hostnames,
    ]
    return list(dict.fromkeys(names))


def server_env(instance: Instance) -> list[EnvEntry]:
    """Every generated server variable, in the operator's order (the user's env comes after)."""
    spec = instance.spec
    port = spec.networking.service.port
    env = [
        EnvEntry("PORT", str(port)),
        EnvEntry("PAPERCLIP_BIND", "custom"),
        EnvEntry("PAPERCLIP_BIND_HOST", "0.0.0.0"),
        EnvEntry("PAPERCLIP_HOME", DATA_PATH),
        EnvEntry("SERVE_UI", "true"),
        EnvEntry("PAPERCLIP_DEPLOYMENT_MODE", spec.deployment.mode.value),
        EnvEntry("PAPERCLIP_DEPLOYMENT_EXPOSURE", spec.deployment.exposure.value),
    ]
    if spec.deployment.public_url is not None:
        env.append(EnvEntry("PAPERCLIP_PUBLIC_URL", str(spec.deployment.public_url)))
    env.append(EnvEntry("PAPERCLIP_ALLOWED_HOSTNAMES", ",".join(allowed_hostnames(instance))))
    db = spec.database
    if db.mode is DatabaseMode.EXTERNAL:
        if db.external_url_secret_ref is not None:
            env.append(_secret("DATABASE_URL", db.external_url_secret_ref))
        elif db.external_url:
            env.append(EnvEntry("DATABASE_URL", db.external_url))
    if spec.auth.secret_ref is not None:
        env.append(_secret("BETTER_AUTH_SECRET", spec.auth.secret_ref))
    if spec.auth.disable_sign_up:
        env.append(EnvEntry("PAPERCLIP_AUTH_DISABLE_SIGN_UP", "true"))
    master = spec.secrets.master_key_secret_ref
    if master is not None:
        env.append(_secret("PAPERCLIP_SECRETS_MASTER_KEY", master))
    else:
        # Optional: without the Secret the server keeps its own key file on the data volume.
        env.append(
            EnvEntry(
                "PAPERCLIP_SECRETS_MASTER_KEY",
                secret_name=master_key_secret_name(instance),
                secret_key=MASTER_KEY_SECRET_KEY,
                optional=True,
            )
        )
    if spec.secrets.strict_mode:
        env.append(EnvEntry("PAPERCLIP_SECRETS_STRICT_MODE", "true"))
    if not spec.heartbeat.enabled:
        env.append(EnvEntry("HEARTBEAT_SCHEDULER_ENABLED", "false"))
    if spec.heartbeat.interval_ms > 0:
        env.append(EnvEntry("HEARTBEAT_SCHEDULER_INTERVAL_MS", str(spec.heartbeat.interval_ms)))
    storage = spec.object_storage
    if storage is not None:
        env.append(EnvEntry("PAPERCLIP_STORAGE_PROVIDER", "s3"))
        env.append(EnvEntry("PAPERCLIP_STORAGE_S3_BUCKET", storage.bucket))
        if storage.region:
            env.append(EnvEntry("PAPERCLIP_STORAGE_S3_REGION", storage.region))
        if storage.endpoint:
            env.append(EnvEntry("PAPERCLIP_STORAGE_S3_ENDPOINT", storage.endpoint))
        if storage.path_style:
            env.append(EnvEntry("PAPERCLIP_STORAGE_S3_FORCE_PATH_STYLE", "true"))
        if storage.credentials_secret_ref is not None:
            name = storage.credentials_secret_ref.name
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                env.append(EnvEntry(key, secret_name=name, secret_key=key))
    env.append(EnvEntry("LOG_LEVEL", spec.observability.logging.level.value))
    if spec.agents.enabled:
        # Not PAPERCLIP_*: the process adapter strips those from the child's environment.
        env.append(EnvEntry("AGENT_LAUNCHER_URL", launcher_url(instance)))
        env.append(
            EnvEntry(
                "AGENT_LAUNCHER_TOKEN",
                secret_name=AgentNames.of(instance).token_secret,
                secret_key=LAUNCHER_TOKEN_KEY,
                optional=True,
            )
        )
    return env


def config_data(entries: list[EnvEntry]) -> dict[str, str]:
    """The literal variables, in order: the ConfigMap's data."""
    return {e.name: e.value or "" for e in entries if not e.is_secret}


def secret_env_vars(entries: list[EnvEntry]) -> list[dict[str, Any]]:
    """The Secret-backed variables, in order, as container env entries."""
    return [e.to_env_var() for e in entries if e.is_secret]


def config_hash(data: dict[str, str]) -> str:
    """SHA-256 of the ConfigMap data; changes when and only when the data changes."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
