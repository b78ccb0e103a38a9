"""The chart's parameters: one registry, read by every part of the chart.

A :class:`Param` is one key of ``values.yaml``: its dotted path, the Instance spec field it
sets, its documentation and its JSON Schema. The chart never hand-writes where a value goes:
:mod:`constructs_lib.render.helm.probe` renders the instance once with the field set to an
unusual valid value (a *probe*) and once as it is, and the leaves that changed are where the
value lands (see that module). The default of every key is the instance's own value, so the
chart's default render is the Kustomize tree by construction.

Adding a parameter (e.g. for the managed database, backups or ingress) is one entry in
:data:`PARAMS`: its key, the spec path, the shape and probe values, a description and a
schema. A feature whose objects only exist when a spec boolean is on adds them with
``only_if=`` its :class:`~constructs_lib.constructs.kube.Switch`, and the switch gets a
``toggle`` entry (the objects' documents get an ``{{- if }}``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from constructs_lib.constructs.kube import NETWORK_POLICY
from constructs_lib.constructs.networking import enabled_ingress
from constructs_lib.spec import Instance
from constructs_lib.spec.data import AccessMode, DatabaseMode
from constructs_lib.spec.patterns import (
    DNS1123_SUBDOMAIN_PATTERN,
    IMAGE_DIGEST_PATTERN,
    IMAGE_REPOSITORY_PATTERN,
    IMAGE_TAG_PATTERN,
    INT32,
    QUANTITY_PATTERN,
)
from constructs_lib.spec.platform import SEVERAL_REPLICAS, ServiceType
from constructs_lib.spec.rules import builds_for_several
from constructs_lib.spec.server import LogLevel, PullPolicy

_HOST_LABEL = r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?"
HOSTNAME_PATTERN = rf"^{_HOST_LABEL}(\.{_HOST_LABEL})*$"
IMAGE_PATTERN = r"^[a-z0-9][a-z0-9._:/@-]*$"
"""An image reference (no quotes, spaces or backslashes: it lands inside JSON text)."""
TAG_PATTERN = f"^$|{IMAGE_TAG_PATTERN}"
DIGEST_PATTERN = f"^$|{IMAGE_DIGEST_PATTERN}"
URL_PATTERN = r"^$|^https?://[^\s\"\\]+$"
CRON_PATTERN = (
    r"^(@(annually|yearly|monthly|weekly|daily|midnight|hourly)"
    r"|[0-9*/,?LW#-]+( +[0-9A-Za-z*/,?LW#-]+){4})$"
)
"""Five cron fields or a macro (no time zone: backups run in UTC)."""
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
PREFIX_PATTERN = r"^[A-Za-z0-9!_.*()-]+(/[A-Za-z0-9!_.*()-]+)*$"
"""An S3 key prefix (the spec also allows ', which cannot be spliced into the scripts)."""

_SIZE: dict[str, Any] = {"type": "string", "pattern": QUANTITY_PATTERN}
_QUANTITY: dict[str, Any] = {**_SIZE, "type": ["string", "integer"]}
_POSITIVE_INT32: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": INT32[1]}
_STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_RESOURCES: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requests": {"type": "object", "additionalProperties": _QUANTITY},
        "limits": {"type": "object", "additionalProperties": _QUANTITY},
        "claims": {"type": "array", "items": {"type": "object"}},
    },
}
_NAME: dict[str, Any] = {"type": "string", "maxLength": 253, "pattern": DNS1123_SUBDOMAIN_PATTERN}
_OPTIONAL_NAME: dict[str, Any] = {**_NAME, "pattern": f"^$|{DNS1123_SUBDOMAIN_PATTERN}"}
_HOSTNAME: dict[str, Any] = {**_NAME, "pattern": HOSTNAME_PATTERN}


class Shape(StrEnum):
    """How a value reaches the objects (and so how it is templated)."""

    SCALAR = "scalar"
    """A string, number or enum: whole leaves, or embedded in strings when ``embeddable``."""
    BLOCK = "block"
    """A mapping or list written as a whole (nodeSelector, tolerations, resources)."""
    MERGE = "merge"
    """A mapping merged into a generated one (pod annotations): generated keys win."""
    HOSTLIST = "hostlist"
    """A list of names appended to a comma-separated string."""
    LABELS = "labels"
    """The Instance's own labels: every object carries them under the labels the generator
    sets (placed from the build, not probed: ``KubeObject.own_labels``)."""
    TOGGLE = "toggle"
    """A :class:`~constructs_lib.constructs.kube.Switch`: a boolean that adds or removes
    whole objects (and changes nothing else)."""


def _always(instance: Instance) -> bool:
    return True


@dataclass(frozen=True)
class Param:
    """One key of values.yaml."""

    key: str
    """Dotted values path, e.g. ``image.tag`` (camelCase like the spec)."""
    spec: tuple[str, ...]
    """Path of the field in the Instance document (camelCase, under ``spec``)."""
    help: str
    """What it does (the values.yaml comment continues "<key>: ")."""
    schema: dict[str, Any]
    shape: Shape = Shape.SCALAR
    probes: tuple[Any, ...] = ()
    """Unusual valid values tried in turn; the first whose render differs only where this
    value lands decides the landing sites."""
    optional: bool = False
    """Unset in the spec is "" (strings) or {} / [] (blocks) in values.yaml."""
    embeddable: bool = False
    """The value may be spliced into a longer string (its schema forbids quotes,
    backslashes and newlines)."""
    applies: Callable[[Instance], bool] = _always
    """Whether this key exists for an instance (e.g. only when the spec sets a reference)."""
    floor: Callable[[Instance], int] | None = None
    """For an integer the builders read as a threshold: the lowest value from which they
    build this instance alike (two replicas where one would drop the shared master key or
    the ordinal heartbeat gating). An instance at or above it gets it as the chart's minimum
    (a test renders every feature scenario's chart at its minimums and compares with
    synth)."""

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))


IMAGE_KEYS = ("image.repository", "image.tag", "image.digest")
"""The keys of the server image reference, offered together as one value: the template writes
``include "paperclip.image"`` of them where the reference lands."""
IMAGE_PROBE: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("image", "repository"), "zqhelm.example/zqrepo"),
    (("image", "tag"), "zqhelmtag"),
    (("image", "digest"), None),
)
"""Spec paths set together to find where the reference lands."""
IMAGE_SENTINEL = f"{IMAGE_PROBE[0][1]}:{IMAGE_PROBE[1][1]}"
"""The reference those values make (repository:tag): what the objects then hold."""


def _has(*path: str) -> Callable[[Instance], bool]:
    """Whether the spec sets the field at ``path`` (attribute names; an unset part: no)."""

    def applies(instance: Instance) -> bool:
        node: Any = instance.spec
        for part in path:
            node = getattr(node, part, None)
        return node is not None

    return applies


_autoscaled = _has("availability", "autoscaler")


def _replica_floor(instance: Instance) -> int:
    """Two server replicas where one would build other objects, else one."""
    return SEVERAL_REPLICAS if builds_for_several(instance.spec) else 1


def _agents(instance: Instance) -> bool:
    return instance.spec.agents.enabled


def _persistent(instance: Instance) -> bool:
    return instance.spec.storage.persistence.enabled


def _agent_workspace(instance: Instance) -> bool:
    return _agents(instance) and instance.spec.agents.uses_workspace


def _managed_database(instance: Instance) -> bool:
    return instance.spec.database.mode is DatabaseMode.MANAGED


def _ingress_tls_secret(instance: Instance) -> bool:
    ingress = enabled_ingress(instance)
    return ingress is not None and bool(ingress.tls) and ingress.tls[0].secret_name is not None


def _fixed_replicas(instance: Instance) -> bool:
    """replicas does something only when no autoscaler owns the count."""
    return not _autoscaled(instance)


def _ingress_host_follows(instance: Instance) -> bool:
    """An Ingress of one host: ingress.host sets the rule's host and the TLS hosts only when
    each TLS entry takes the Ingress's hosts (lists none of its own): otherwise it would not
    do what it says."""
    ingress = enabled_ingress(instance)
    return ingress is not None and len(ingress.hosts) == 1 and not any(t.hosts for t in ingress.tls)


PARAMS: tuple[Param, ...] = (
    Param(
        "image.repository",
        ("image", "repository"),
        "the Paperclip server image repository.",
        {"type": "string", "minLength": 1, "pattern": IMAGE_REPOSITORY_PATTERN},
    ),
    Param(
        "image.tag",
        ("image", "tag"),
        'the server image tag ("" when a digest is set; the digest wins).',
        {"type": "string", "pattern": TAG_PATTERN},
        optional=True,
    ),
    Param(
        "image.digest",
        ("image", "digest"),
        'the server image digest, sha256:<64 hex> ("" for none); wins over the tag.',
        {"type": "string", "pattern": DIGEST_PATTERN},
        optional=True,
    ),
    Param(
        "image.pullPolicy",
        ("image", "pullPolicy"),
        "the server image pull policy.",
        {"type": "string", "enum": [p.value for p in PullPolicy]},
        probes=("Never", "Always"),
    ),
    Param(
        "image.pullSecrets",
        ("image", "pullSecrets"),
        "Secrets used to pull the server image, as [{name: ...}].",
        {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {"name": _NAME},
            },
        },
        shape=Shape.BLOCK,
        optional=True,
        probes=([{"name": "zqhelm-pull"}],),
    ),
    Param(
        "replicas",
        ("availability", "replicas"),
        "server replicas.",
        _POSITIVE_INT32,
        probes=(3, 2),
        applies=_fixed_replicas,
        floor=_replica_floor,
    ),
    Param(
        "autoScaling.minReplicas",
        ("availability", "autoScaling", "minReplicas"),
        "the fewest server replicas the autoscaler keeps.",
        _POSITIVE_INT32,
        probes=(3, 2),
        applies=_autoscaled,
    ),
    Param(
        "autoScaling.maxReplicas",
        ("availability", "autoScaling", "maxReplicas"),
        "the most server replicas the autoscaler runs (at least minReplicas).",
        _POSITIVE_INT32,
        probes=(9, 8),
        applies=_autoscaled,
        floor=_replica_floor,
    ),
    Param(
        "resources",
        ("resources",),
        "server container resources (also the onboard init container's), as a "
        "Kubernetes ResourceRequirements block ({} for none).",
        _RESOURCES,
        shape=Shape.BLOCK,
        optional=True,
        probes=({"requests": {"cpu": "987m", "memory": "987Mi"}},),
    ),
    Param(
        "nodeSelector",
        ("availability", "nodeSelector"),
        "server pod nodeSelector (a whole block).",
        _STRING_MAP,
        shape=Shape.BLOCK,
        optional=True,
        probes=({"zqhelm.example/pool": "zqpool"},),
    ),
    Param(
        "tolerations",
        ("availability", "tolerations"),
        "server pod tolerations (a whole block).",
        {"type": "array", "items": {"type": "object"}},
        shape=Shape.BLOCK,
        optional=True,
        probes=([{"key": "zqtaint", "operator": "Exists", "effect": "NoSchedule"}],),
    ),
    Param(
        "affinity",
        ("availability", "affinity"),
        "server pod affinity (a whole block, {} for none).",
        {"type": "object"},
        shape=Shape.BLOCK,
        optional=True,
        probes=(
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "zqaffinity", "operator": "DoesNotExist"},
                                ]
                            }
                        ]
                    }
                }
            },
        ),
    ),
    Param(
        "podAnnotations",
        ("podAnnotations",),
        "annotations added to the server pods (generated ones win).",
        _STRING_MAP,
        shape=Shape.MERGE,
        optional=True,
        probes=({"zqhelm.example/pod": "zqpodnote"},),
    ),
    Param(
        "commonLabels",
        ("@metadata", "labels"),
        "labels added to every object (generated labels win).",
        _STRING_MAP,
        shape=Shape.LABELS,
        optional=True,
    ),
    Param(
        "service.type",
        ("networking", "service", "type"),
        "the server Service type.",
        {"type": "string", "enum": [t.value for t in ServiceType]},
        probes=("NodePort", "LoadBalancer", "ClusterIP"),
    ),
    Param(
        "service.port",
        ("networking", "service", "port"),
        "the server Service port, also the container port.",
        {"type": "integer", "minimum": 1, "maximum": 65535},
        probes=(31337,),
        embeddable=True,
    ),
    Param(
        "service.annotations",
        ("networking", "service", "annotations"),
        "annotations on the server Service.",
        _STRING_MAP,
        shape=Shape.MERGE,
        optional=True,
        probes=({"zqhelm.example/svc": "zqsvcnote"},),
    ),
    Param(
        "publicURL",
        ("deployment", "publicURL"),
        'the URL users reach the server at (PAPERCLIP_PUBLIC_URL; "" for none).',
        {"type": "string", "pattern": URL_PATTERN},
        optional=True,
        probes=("https://zqhelm-public.example",),
    ),
    Param(
        "allowedHostnames",
        ("deployment", "allowedHostnames"),
        "extra host names the server accepts (the in-cluster Service names always are).",
        {
            "type": "array",
            "uniqueItems": True,
            "items": _HOSTNAME,
        },
        shape=Shape.HOSTLIST,
        optional=True,
        probes=(["zqhelm-a.example", "zqhelm-b.example"],),
    ),
    Param(
        "logLevel",
        ("observability", "logging", "level"),
        "the server log level (PAPERCLIP_LOG_LEVEL).",
        {"type": "string", "enum": [lvl.value for lvl in LogLevel]},
        probes=("debug", "error"),
    ),
    Param(
        "persistence.size",
        ("storage", "persistence", "size"),
        "size of the server data volume (a Kubernetes quantity).",
        _SIZE,
        probes=("987Gi",),
        applies=_persistent,
    ),
    Param(
        "persistence.storageClass",
        ("storage", "persistence", "storageClass"),
        'StorageClass of the server data volume ("" for the cluster default).',
        _OPTIONAL_NAME,
        optional=True,
        probes=("zqhelm-class",),
        applies=_persistent,
    ),
    Param(
        "persistence.accessModes",
        ("storage", "persistence", "accessModes"),
        "access modes of the server data volume.",
        {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "enum": [m.value for m in AccessMode]},
        },
        shape=Shape.BLOCK,
        probes=(["ReadWriteOncePod"], ["ReadWriteMany"]),
        applies=_persistent,
    ),
    Param(
        "ingress.className",
        ("networking", "ingress", "ingressClassName"),
        "the IngressClass of the server Ingress.",
        _NAME,
        probes=("zqhelm-class",),
        applies=lambda i: bool((ingress := enabled_ingress(i)) and ingress.ingress_class_name),
    ),
    Param(
        "ingress.host",
        ("networking", "ingress", "hosts", "0"),
        "the host name the server Ingress routes and its TLS entries cover (also accepted "
        "by the server).",
        _HOSTNAME,
        probes=("zqhelm-host.example",),
        embeddable=True,
        applies=_ingress_host_follows,
    ),
    Param(
        "ingress.tlsSecret",
        ("networking", "ingress", "tls", "0", "secretName"),
        "the Secret with the Ingress's TLS certificate.",
        _NAME,
        probes=("zqhelm-tls",),
        applies=_ingress_tls_secret,
    ),
    Param(
        "networkPolicy.enabled",
        NETWORK_POLICY.path,
        "create these NetworkPolicies.",
        {"type": "boolean"},
        shape=Shape.TOGGLE,
    ),
    Param(
        "secretRefs.auth",
        ("auth", "secretRef", "name"),
        "name of the Secret holding BETTER_AUTH_SECRET.",
        _NAME,
        probes=("zqhelm-auth",),
        applies=_has("auth", "secret_ref"),
    ),
    Param(
        "secretRefs.masterKey",
        ("secrets", "masterKeySecretRef", "name"),
        "name of the Secret holding the secrets master key.",
        _NAME,
        probes=("zqhelm-master",),
        applies=_has("secrets", "master_key_secret_ref"),
    ),
    Param(
        "secretRefs.database",
        ("database", "externalURLSecretRef", "name"),
        "name of the Secret holding DATABASE_URL.",
        _NAME,
        probes=("zqhelm-db",),
        applies=_has("database", "external_url_secret_ref"),
    ),
    Param(
        "secretRefs.objectStorage",
        ("objectStorage", "credentialsSecretRef", "name"),
        "name of the Secret with the object storage credentials.",
        _NAME,
        probes=("zqhelm-s3",),
        applies=_has("object_storage", "credentials_secret_ref"),
    ),
    Param(
        "database.storageSize",
        ("database", "managed", "storageSize"),
        "size of the managed PostgreSQL data volume (a Kubernetes quantity).",
        _SIZE,
        probes=("876Gi",),
        applies=_managed_database,
    ),
    Param(
        "database.storageClass",
        ("database", "managed", "storageClass"),
        'StorageClass of the managed PostgreSQL volume ("" for the cluster default).',
        _OPTIONAL_NAME,
        optional=True,
        probes=("zqhelm-dbclass",),
        applies=_managed_database,
    ),
    Param(
        "database.resources",
        ("database", "managed", "resources"),
        "managed PostgreSQL container resources ({} for none).",
        _RESOURCES,
        shape=Shape.BLOCK,
        optional=True,
        probes=({"requests": {"cpu": "876m", "memory": "876Mi"}},),
        applies=_managed_database,
    ),
    Param(
        "backup.schedule",
        ("backup", "schedule"),
        "cron schedule (UTC) of the verified pg_dump backup CronJob.",
        {"type": "string", "pattern": CRON_PATTERN},
        probes=("7 5 * * 3",),
        applies=_has("backup", "schedule"),
    ),
    Param(
        "backup.retentionDays",
        ("backup", "retentionDays"),
        "backups older than this many days are deleted (the newest keepLast are kept).",
        _POSITIVE_INT32,
        probes=(98765,),
        embeddable=True,
        applies=_has("backup", "schedule"),
    ),
    Param(
        "backup.keepLast",
        ("backup", "keepLast"),
        "the newest backups retention never deletes.",
        _POSITIVE_INT32,
        probes=(4321,),
        embeddable=True,
        applies=_has("backup", "schedule"),
    ),
    Param(
        "backup.bucket",
        ("backup", "s3", "bucket"),
        "S3 bucket the backups are written to.",
        {"type": "string", "pattern": BUCKET_PATTERN},
        probes=("zqhelm-bucket",),
        embeddable=True,
        applies=_has("backup", "s3"),
    ),
    Param(
        "backup.prefix",
        ("backup", "s3", "path"),
        "key prefix of the backups (<prefix>/<instance>/<timestamp>.dump).",
        {"type": "string", "pattern": PREFIX_PATTERN},
        probes=("zqhelm/prefix",),
        embeddable=True,
        applies=_has("backup", "s3"),
    ),
    Param(
        "secretRefs.backup",
        ("backup", "s3", "credentialsSecretRef", "name"),
        "name of the Secret with the backup store credentials.",
        _NAME,
        probes=("zqhelm-backup-s3",),
        applies=_has("backup", "s3", "credentials_secret_ref"),
    ),
    Param(
        "launcher.image",
        ("agents", "launcher", "image"),
        "the launcher image (also runs the secrets bootstrap Job).",
        {"type": "string", "minLength": 1, "pattern": IMAGE_PATTERN},
        probes=("zqhelm.example/zqlauncher:zq1",),
        embeddable=True,
        applies=_agents,
    ),
    Param(
        "launcher.replicas",
        ("agents", "launcher", "replicas"),
        "launcher replicas.",
        _POSITIVE_INT32,
        probes=(5, 7),
        applies=_agents,
    ),
    Param(
        "agents.workspace.size",
        ("agents", "workspace", "size"),
        "size of the shared agent workspace volume.",
        _SIZE,
        probes=("765Gi",),
        applies=_agent_workspace,
    ),
    Param(
        "agents.workspace.storageClass",
        ("agents", "workspace", "storageClass"),
        'StorageClass of the agent workspace (ReadWriteMany; "" for the cluster default).',
        _OPTIONAL_NAME,
        optional=True,
        probes=("zqhelm-rwx",),
        applies=_agent_workspace,
    ),
)
"""Every parameter, in values.yaml order."""


def template_image_params(instance: Instance) -> list[Param]:
    """``agents.templates.<name>.image`` for each agent template ("" = the server image)."""
    return [
        Param(
            f"agents.templates.{name}.image",
            ("agents", "templates", name, "image"),
            f'image of the {name} agent template ("" for the server image).',
            {"type": "string", "pattern": f"^$|{IMAGE_PATTERN}"},
            optional=True,
            embeddable=True,
            probes=(f"zqhelm.example/zqagent-{name}:zq1",),
            applies=_agents,
        )
        for name in sorted(instance.spec.agents.templates)
    ]


def params_for(instance: Instance) -> list[Param]:
    """The parameters that exist for an instance (before probing)."""
    return [p for p in (*PARAMS, *template_image_params(instance)) if p.applies(instance)]


@dataclass(frozen=True)
class Unoffered:
    """A registered parameter the chart of this instance does not offer, and why."""

    key: str
    reason: str
