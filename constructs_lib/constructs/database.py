"""The managed database (``database.mode: managed``, the CRD default): a PostgreSQL
StatefulSet ``<name>-db`` on its own data volume, reached through Service ``<name>-db``.

Object names are the operator's (``<name>-db``, ``<name>-db-data``, ``<name>-db-credentials``),
so an instance the operator ran is adopted in place: its PVC is reused as it is, and its
credentials Secret is never replaced (the secrets bootstrap only creates missing Secrets).

Done where the operator is not: a headless governing Service, the image's own uid/gid, a
restricted security context with a read-only root, PGDATA in a subdirectory, a memory-backed
/dev/shm, a startup probe with a 15-minute budget for crash recovery before pg_isready
liveness/readiness on 127.0.0.1, the password read from a file, no ServiceAccount token, and a
data volume that Argo CD, Flux and Helm never prune or delete.

The password never enters git: the secrets bootstrap creates it (random, URL-safe) in
``<name>-db-credentials`` with the non-secret keys username, database, host and port. The
server gets ``DB_PASSWORD`` from it and then ``DATABASE_URL`` composed with ``$(DB_PASSWORD)``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from constructs_lib.constructs.copying import json_copy
from constructs_lib.constructs.feature import (
    BootstrapSecret,
    Contribution,
    EnvEntry,
    EnvSlot,
    Feature,
    SecretForm,
)
from constructs_lib.constructs.kube import NETWORK_POLICY
from constructs_lib.constructs.names import (
    SuffixedNames,
    component_labels,
    component_selector,
    components_selector,
    server_selector,
)
from constructs_lib.constructs.pod import placement
from constructs_lib.constructs.primitives import (
    claim_body,
    never_pruned,
    pods_rule,
    policy_body,
    ports_rule,
    restricted_container_security,
    restricted_pod_security,
)
from constructs_lib.spec import Instance
from constructs_lib.spec.data import DatabaseMode, ManagedDatabaseSpec

DATABASE_COMPONENT = "database"
BACKUP_COMPONENT = "backup"
RESTORE_COMPONENT = "restore"
POSTGRES_PORT = 5432
DB_USER = "paperclip"
DB_NAME = "paperclip"
PASSWORD_KEY = "password"
DATA_MOUNT = "/var/lib/postgresql/data"
PGDATA = f"{DATA_MOUNT}/pgdata"
CREDENTIALS_MOUNT = "/etc/paperclip-db-credentials"
SHM_SIZE = "256Mi"
DEFAULT_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}
# Crash recovery replays WAL before pg_isready answers: 90 x 10 s = 15 minutes.
STARTUP_PERIOD_SECONDS = 10
STARTUP_FAILURE_THRESHOLD = 90


@dataclass(frozen=True)
class DatabaseNames(SuffixedNames):
    """Names of the managed database's objects (the operator's)."""

    suffixes = ("db", "db-hl", "db-data", "db-credentials")
    workload: str
    headless: str
    claim: str
    credentials: str


def is_managed(instance: Instance) -> bool:
    return instance.spec.database.mode is DatabaseMode.MANAGED


def external_database_ports(instance: Instance) -> list[int]:
    """The TCP ports an external database is reached on: those of a literal ``externalURL``
    (every host of a multi-host URL; 5432 where it names none, as libpq does), else 5432 (a
    URL in a Secret is never read at synth time)."""
    db = instance.spec.database
    if db.external_url_secret_ref is not None or not db.external_url:
        return [POSTGRES_PORT]
    hosts = urlsplit(db.external_url).netloc.rpartition("@")[2]
    ports: list[int] = []
    for host in hosts.split(","):
        try:
            number = urlsplit(f"//{host}").port
        except ValueError:  # not a port: libpq refuses the URL anyway
            number = None
        ports.append(number or POSTGRES_PORT)
    return list(dict.fromkeys(ports))


def database_selector(instance: Instance) -> dict[str, str]:
    return component_selector(instance, DATABASE_COMPONENT)


def database_host(instance: Instance) -> str:
    """The managed database's in-cluster DNS name (the Service ``<name>-db``)."""
    return f"{DatabaseNames.of(instance).workload}.{instance.namespace}.svc.cluster.local"


def postgres_pod_security(image: str) -> dict[str, Any]:
    """Runs as the postgres user of the official image: uid 70 on Alpine, 999 on Debian."""
    uid = 70 if "alpine" in image.rsplit("/", 1)[-1].split("@", 1)[0] else 999
    return restricted_pod_security(uid, fsGroup=uid, fsGroupChangePolicy="OnRootMismatch")


def credential_secrets(instance: Instance) -> list[BootstrapSecret]:
    """``<name>-db-credentials``: a random URL-safe password, and the connection's non-secret
    parts (optional: the operator's Secret has only the password, and only it is consumed)."""
    name = DatabaseNames.of(instance).credentials
    literal = SecretForm.LITERAL
    return [
        BootstrapSecret(name, PASSWORD_KEY, SecretForm.TOKEN),
        BootstrapSecret(name, "username", literal, optional=True, value=DB_USER),
        BootstrapSecret(name, "database", literal, optional=True, value=DB_NAME),
        BootstrapSecret(name, "host", literal, optional=True, value=database_host(instance)),
        BootstrapSecret(name, "port", literal, optional=True, value=str(POSTGRES_PORT)),
    ]


def server_database_env(instance: Instance) -> list[EnvEntry]:
    """DB_PASSWORD, then DATABASE_URL that expands it (the operator's order and URL)."""
    secret, slot = DatabaseNames.of(instance).credentials, EnvSlot.DATABASE
    url = (
        f"postgresql://{DB_USER}:$(DB_PASSWORD)@{database_host(instance)}:{POSTGRES_PORT}/{DB_NAME}"
    )
    return [
        EnvEntry("DB_PASSWORD", secret_name=secret, secret_key=PASSWORD_KEY, slot=slot),
        EnvEntry("DATABASE_URL", url, slot=slot, expand=True),
    ]


def resources(managed: ManagedDatabaseSpec) -> dict[str, Any]:
    if managed.resources and (managed.resources.get("requests") or managed.resources.get("limits")):
        return json_copy(managed.resources)  # the spec's own dict is never handed out
    return json_copy(DEFAULT_RESOURCES)


PG_ISREADY = f"pg_isready -h 127.0.0.1 -p {POSTGRES_PORT} -U {DB_USER} -d {DB_NAME}"


def _pg_isready(period: int, failures: int) -> dict[str, Any]:
    """A probe that runs pg_isready on 127.0.0.1 every ``period`` seconds."""
    return {
        "exec": {"command": PG_ISREADY.split()},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def postgres_container(instance: Instance) -> dict[str, Any]:
    managed = instance.spec.database.managed
    return {
        "name": "postgres",
        "image": managed.image,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "POSTGRES_USER", "value": DB_USER},
            {"name": "POSTGRES_DB", "value": DB_NAME},
            {"name": "POSTGRES_PASSWORD_FILE", "value": f"{CREDENTIALS_MOUNT}/{PASSWORD_KEY}"},
            {"name": "PGDATA", "value": PGDATA},
            {"name": "POSTGRES_INITDB_ARGS", "value": "--data-checksums"},
        ],
        "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT, "protocol": "TCP"}],
        "startupProbe": _pg_isready(STARTUP_PERIOD_SECONDS, STARTUP_FAILURE_THRESHOLD),
        "livenessProbe": _pg_isready(20, 6),
        "readinessProbe": _pg_isready(10, 3),
        "lifecycle": {
            "preStop": {"exec": {"command": ["pg_ctl", "stop", "-D", PGDATA, "-m", "fast"]}}
        },
        "resources": resources(managed),
        "securityContext": restricted_container_security(),
        "volumeMounts": [
            {"name": "pgdata", "mountPath": DATA_MOUNT},
            {"name": "credentials", "mountPath": CREDENTIALS_MOUNT, "readOnly": True},
            {"name": "run", "mountPath": "/var/run/postgresql"},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
    }


def statefulset_body(instance: Instance) -> dict[str, Any]:
    names = DatabaseNames.of(instance)
    pod = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 60,
        "securityContext": postgres_pod_security(instance.spec.database.managed.image),
        "containers": [postgres_container(instance)],
        "volumes": [
            {"name": "pgdata", "persistentVolumeClaim": {"claimName": names.claim}},
            {
                "name": "credentials",
                "secret": {
                    "secretName": names.credentials,
                    "items": [{"key": PASSWORD_KEY, "path": PASSWORD_KEY}],
                    "defaultMode": 0o440,
                },
            },
            {"name": "run", "emptyDir": {"sizeLimit": "16Mi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}},
        ],
        **placement(instance),
    }
    return {
        "spec": {
            "replicas": 1,
            "serviceName": names.headless,
            "revisionHistoryLimit": 10,
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": database_selector(instance)},
            "template": {
                "metadata": {"labels": component_labels(instance, DATABASE_COMPONENT)},
                "spec": pod,
            },
        }
    }


def service_body(instance: Instance, *, headless: bool) -> dict[str, Any]:
    port = {"name": "postgres", "port": POSTGRES_PORT, "targetPort": "postgres", "protocol": "TCP"}
    spec = {"type": "ClusterIP", "selector": database_selector(instance), "ports": [port]}
    if headless:
        return {"spec": {**spec, "clusterIP": "None", "publishNotReadyAddresses": True}}
    return {"spec": {**spec, "sessionAffinity": "None"}}


# The admin bootstrap Job (constructs/admin_bootstrap.py) runs the server's CLI against the
# database, so its pods are admitted too.
ADMIN_BOOTSTRAP_COMPONENT = "bootstrap"
DATABASE_CLIENTS = (BACKUP_COMPONENT, RESTORE_COMPONENT, ADMIN_BOOTSTRAP_COMPONENT)
"""The components besides the server whose pods the database admits."""


def network_policy_body(instance: Instance) -> dict[str, Any]:
    """Ingress on 5432 only from the server pods and the backup/restore pods; no egress."""
    peers = [
        {"podSelector": {"matchLabels": server_selector(instance)}},
        {"podSelector": components_selector(instance, *DATABASE_CLIENTS)},
    ]
    ingress = [{"from": peers, **ports_rule(POSTGRES_PORT)}]
    return policy_body({"matchLabels": database_selector(instance)}, ingress, [])


class ManagedDatabase(Feature):
    """PostgreSQL next to the server (``database.mode: managed``, the default)."""

    id = "database"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        return is_managed(instance)

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        return Contribution(
            env=server_database_env(instance),
            egress=[pods_rule(database_selector(instance), POSTGRES_PORT)],
            secrets=credential_secrets(instance),
        )

    def add_objects(self) -> None:
        instance = self.context.instance
        add = functools.partial(self.add, labels=component_labels(instance, DATABASE_COMPONENT))
        managed = instance.spec.database.managed
        names = DatabaseNames.of(instance)
        claim = claim_body(str(managed.storage_size), ["ReadWriteOnce"], managed.storage_class)
        add("PersistentVolumeClaim", names.claim, claim, annotations=never_pruned())
        add("Service", names.headless, service_body(instance, headless=True))
        add("Service", names.workload, service_body(instance, headless=False))
        add("NetworkPolicy", names.workload, network_policy_body(instance), only_if=NETWORK_POLICY)
        add("StatefulSet", names.workload, statefulset_body(instance))
