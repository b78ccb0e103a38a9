"""The extension interface: how a feature plugs into an instance.

A feature (agents, the managed database, backups, ingress, observability, ...) is one plain
Python class that adds its own objects (:meth:`InstancePart.add_objects`, data only: no cdk8s,
no jsii), plus a pure :meth:`Feature.contribute`
that says what it needs from the server pod — environment entries at a defined position of
the operator's env order, volumes and mounts, init containers, NetworkPolicy rules, Secrets to
create in-cluster, and errors/warnings. The server stack folds every contribution in and never
tests a feature's spec itself.

Adding a feature: subclass :class:`Feature`, implement ``applies`` and ``contribute`` (pure:
spec in, :class:`Contribution` out) and ``add_objects`` (add objects with ``self.add``; the
instance is ``self.context.instance``), and list the class in
:data:`constructs_lib.constructs.registry.FEATURES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import Any, ClassVar

from constructs_lib.constructs.kube import ObjectAdder, ObjectSink
from constructs_lib.errors import Problem
from constructs_lib.spec import Instance


class EnvSlot(IntEnum):
    """Positions in the operator's server env order (its ``buildEnvVars``); entries of one
    slot keep the order they were contributed in. The user's ``spec.env`` always comes last."""

    CORE = 1
    OBSERVABILITY = 2
    PUBLIC_URL = 3
    ALLOWED_HOSTNAMES = 4
    DATABASE = 5
    AUTH_SECRET = 6
    SIGN_UP = 7
    MASTER_KEY = 8
    SECRETS_STRICT = 9
    SECRETS_PROVIDER = 10
    APP_BACKUP = 11
    IDENTITY = 12
    HEARTBEAT = 13
    OBJECT_STORAGE = 14
    BRANDING = 15
    LLM_KEYS = 16
    E2B = 17
    CLOUD_SANDBOX = 18
    EXECUTION = 19
    ADAPTERS = 20
    CONNECTIONS = 21
    LOG_LEVEL = 22
    EXTENSIONS = 23
    """paperclip-gitops additions (the launcher's URL and token)."""


@dataclass(frozen=True)
class EnvEntry:
    """One server variable: a literal value, or a reference to a Secret key."""

    name: str
    value: str | None = None
    secret_name: str | None = None
    secret_key: str | None = None
    optional: bool | None = None
    slot: EnvSlot = EnvSlot.CORE
    expand: bool = False
    """A literal that refers to earlier variables as $(NAME) (e.g. DATABASE_URL with
    $(DB_PASSWORD)): kept in the container's env, where Kubernetes expands it, not in the
    instance ConfigMap (envFrom values are never expanded)."""
    config_map: bool = False
    """The reference (secret_name, secret_key) names a ConfigMap key: a configMapKeyRef."""

    @property
    def is_secret(self) -> bool:
        return self.secret_name is not None

    @property
    def in_container_env(self) -> bool:
        """Whether the entry goes into the container's env list (else into the ConfigMap)."""
        return self.secret_name is not None or self.expand  # is_secret, inlined: a hot path

    def to_env_var(self) -> dict[str, Any]:
        if not self.is_secret:
            return {"name": self.name, "value": self.value}
        ref: dict[str, Any] = {"name": self.secret_name, "key": self.secret_key}
        if self.optional is not None:
            ref["optional"] = self.optional
        source = "configMapKeyRef" if self.config_map else "secretKeyRef"
        return {"name": self.name, "valueFrom": {source: ref}}


class SecretForm(IntEnum):
    """How the secrets bootstrap makes a value (the launcher's ``ensure-secrets`` forms)."""

    HEX32 = 1
    HEX16 = 2
    BASE64_32 = 3
    TOKEN = 4
    LITERAL = 5
    """A fixed, non-secret value given in the spec (a user name, a host, a port)."""


@dataclass(frozen=True)
class BootstrapSecret:
    """A Secret key the secrets bootstrap creates in-cluster when it is missing.

    ``optional``: a key no consumer needs (e.g. the managed database's username, which the
    operator's Secret lacks); when an existing Secret lacks it, that is reported, not fatal.
    ``value``: the text of a :attr:`SecretForm.LITERAL` key (never a secret: it is written
    into the Job's arguments).
    """

    name: str
    key: str
    form: SecretForm
    optional: bool = False
    value: str = ""

    def __post_init__(self) -> None:
        if (self.form is SecretForm.LITERAL) != bool(self.value):
            raise ValueError(
                f"{self.name}/{self.key}: a value is given exactly for the literal form"
            )

    @property
    def argument(self) -> str:
        """Its ensure-secrets.mjs argument, whose FORM is hex32, hex16, base64-32, token or
        literal."""
        literal = self.form is SecretForm.LITERAL
        form = f"literal:{self.value}" if literal else self.form.name.lower().replace("_", "-")
        return f"{self.name}/{self.key}{'?' if self.optional else ''}={form}"


@dataclass
class Contribution:
    """What a feature adds to the server pod and around it."""

    env: list[EnvEntry] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    """Mounted into every container that runs the server image (server, onboard)."""
    init_containers: list[dict[str, Any]] = field(default_factory=list)
    """Run after onboard and before the user's init containers."""
    egress: list[dict[str, Any]] = field(default_factory=list)
    """Server NetworkPolicy egress rules (after DNS/HTTPS/OTLP, before allowEgressCIDRs)."""
    ingress: list[dict[str, Any]] = field(default_factory=list)
    """Server NetworkPolicy ingress rules (after the namespace and allowIngressCIDRs rules)."""
    secrets: list[BootstrapSecret] = field(default_factory=list)
    pod_annotations: dict[str, str] = field(default_factory=dict)
    allowed_hostnames: list[str] = field(default_factory=list)
    """Host names the server must accept (e.g. an Ingress's hosts), added to
    PAPERCLIP_ALLOWED_HOSTNAMES after the user's."""
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    stamps: list[tuple[str, Callable[[], dict[str, Any]]]] = field(default_factory=list)
    """Makers of the objects made later from reviewed templates (e.g. agent Jobs), paired with
    the spec path that declares them: synth validates what they make like generated objects."""
    service_account_token: bool = False
    """The server pod needs its ServiceAccount token (it calls the Kubernetes API: cloud
    sandbox, execution mode kubernetes); otherwise automountServiceAccountToken is false."""

    @staticmethod
    def combine(parts: list[Contribution]) -> Contribution:
        """The parts in order: their lists joined (an egress rule that two parts need, e.g.
        the API server's port, once), their annotations merged (later parts win), the
        ServiceAccount token when any part needs it."""
        total = Contribution()
        for part in parts:
            for item in fields(Contribution):
                value = getattr(part, item.name)
                if isinstance(value, list):
                    getattr(total, item.name).extend(value)
                elif isinstance(value, dict):
                    getattr(total, item.name).update(value)
        total.egress = [r for i, r in enumerate(total.egress) if r not in total.egress[:i]]
        total.service_account_token = any(p.service_account_token for p in parts)
        return total


@dataclass(frozen=True)
class BuildContext:
    """What a feature's construct may use besides its own spec."""

    instance: Instance
    sink: ObjectSink
    """Where the instance's objects are collected."""
    contribution: Contribution
    """Every feature's contributions folded together (e.g. all Secrets to bootstrap)."""
    server_env: tuple[EnvEntry, ...]
    """The server env of ``instance`` and ``contribution``, made once by the plan."""
    adapter_files: Mapping[str, str] = field(default_factory=dict)
    """The k8s_launcher Paperclip adapter (launcher/adapter/*), by file name: mounted into
    Paperclip pods when agents are on."""
    db_script: str = ""
    """paperclip-db.sh, the backup and restore script (shipped in a ConfigMap when backups
    are scheduled)."""
    scripts: Mapping[str, str] = field(default_factory=dict)
    """The package's shell scripts (``constructs_lib/scripts/*.sh``) by file name, e.g.
    ``admin-bootstrap.sh``; read by the render layer, so constructs read no files."""


class InstancePart:
    """A part of an instance that adds Kubernetes objects: the server stack, each feature,
    the secrets bootstrap. :meth:`add_objects` uses only ``self.context`` and ``self.add``."""

    def __init__(self, context: BuildContext) -> None:
        self.context = context
        self.add = ObjectAdder(type(self).__name__, context.sink, context.instance)

    def add_objects(self) -> None:
        """Add this part's objects with ``self.add``; ``self.context`` has the instance."""

    @classmethod
    def adds_objects(cls) -> bool:
        """Whether the class adds objects at all (overrides :meth:`add_objects`); a feature
        that only contributes to the server pod (branding, identity, ...) has none."""
        return cls.add_objects is not InstancePart.add_objects


class Feature(InstancePart):
    """Base of every feature."""

    id: ClassVar[str]
    """The feature's stable id (not part of any object name)."""

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        raise NotImplementedError

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        """What the feature needs from the server pod; pure (no files, env or clock)."""
        return Contribution()
