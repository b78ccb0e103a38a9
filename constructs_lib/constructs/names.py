"""Names, labels, selectors and fixed values shared by the constructs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:  # names import without the spec models
    from constructs_lib.spec import Instance

APP_NAME = "paperclip"
MANAGED_BY = "paperclip-gitops"
SERVER_COMPONENT = "server"

CONTAINER_NAME = "paperclip"
PORT_NAME = "http"
DATA_VOLUME = "paperclip-data"
DATA_PATH = "/paperclip"
HEALTH_PATH = "/api/health"
START_COMMAND = "node --import ./server/node_modules/tsx/dist/loader.mjs server/dist/index.js"
CONFIG_HASH_ANNOTATION = "paperclip.inc/config-hash"
MASTER_KEY_SECRET_KEY = "master-key"
API_SERVER_PORT = 6443
"""The port the API server's endpoints often listen on (besides 443)."""


def canonical_json(data: object) -> str:
    """JSON with sorted keys and no spaces: the text a config hash is taken of."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def config_hash(data: dict[str, str]) -> str:
    """The ``paperclip.inc/config-hash`` of ConfigMap data: SHA-256 of its canonical JSON;
    changes when and only when the data changes (the Helm chart recomputes it the same way).
    Remembered for string data (the same scripts and configs are hashed in every build)."""
    items = tuple(data.items())
    if all(type(k) is str and type(v) is str for k, v in items):
        return _string_data_hash(items)
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


@lru_cache(maxsize=256)
def _string_data_hash(items: tuple[tuple[str, str], ...]) -> str:
    return hashlib.sha256(canonical_json(dict(items)).encode()).hexdigest()


def base_labels(instance: Instance) -> dict[str, str]:
    """Labels on every generated object."""
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": instance.name,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def component_labels(instance: Instance, component: str) -> dict[str, str]:
    return {**base_labels(instance), "app.kubernetes.io/component": component}


def components_selector(instance: Instance, *components: str) -> dict[str, Any]:
    """A label selector of the pods of several components of the instance (one NetworkPolicy
    peer or target)."""
    return {
        "matchLabels": {"app.kubernetes.io/instance": instance.name},
        "matchExpressions": [
            {"key": "app.kubernetes.io/component", "operator": "In", "values": list(components)}
        ],
    }


def component_selector(instance: Instance, component: str) -> dict[str, str]:
    """Selects the pods of one component of the instance (never changes for a given instance
    name)."""
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": instance.name,
        "app.kubernetes.io/component": component,
    }


def server_selector(instance: Instance) -> dict[str, str]:
    """Selects the server pods."""
    return component_selector(instance, SERVER_COMPONENT)


def server_name(instance: Instance) -> str:
    """The workload, Service, ServiceAccount and NetworkPolicy name."""
    return instance.name


def config_map_name(instance: Instance) -> str:
    return f"{instance.name}-config"


def data_claim_name(instance: Instance) -> str:
    return f"{instance.name}-data"


def master_key_secret_name(instance: Instance) -> str:
    """The Secret the operator would create; referenced optionally when no ref is given."""
    return f"{instance.name}-secrets-master-key"


def secrets_bootstrap_name(instance: Instance) -> str:
    """The secrets bootstrap Job, its ServiceAccount, Role and RoleBinding."""
    return f"{instance.name}-secrets-bootstrap"


def server_service_url(instance: Instance) -> str:
    """The server Service's in-cluster URL."""
    port = instance.spec.networking.service.port
    return f"http://{server_name(instance)}.{instance.namespace}.svc.cluster.local:{port}"


def service_hostnames(instance: Instance) -> list[str]:
    """The names in-cluster callers use to reach the server Service."""
    svc, ns = server_name(instance), instance.namespace
    return [svc, f"{svc}.{ns}", f"{svc}.{ns}.svc", f"{svc}.{ns}.svc.cluster.local"]


# The agents stack (constructs/agents.py); the server stack refers to the same names.
LAUNCHER_COMPONENT = "launcher"
AGENT_COMPONENT = "agent-run"
LAUNCHER_PORT = 8080
LAUNCHER_TOKEN_KEY = "token"
ADAPTER_DIR = "/opt/paperclip-gitops/adapter"
"""Where Paperclip pods mount the k8s_launcher adapter (its plugin record names this path)."""
ADAPTER_TYPE = "k8s_launcher"


class SuffixedNames:
    """Base of a frozen dataclass of object names ``<instance name>-<suffix>``: ``suffixes``
    holds one suffix per field, in field order."""

    suffixes: ClassVar[tuple[str, ...]]

    @classmethod
    def of(cls, instance: Instance) -> Self:
        return cls(*(f"{instance.name}-{suffix}" for suffix in cls.suffixes))


@dataclass(frozen=True)
class AgentNames(SuffixedNames):
    """Names of the agents stack's objects."""

    suffixes = ("launcher", "agent", "launcher-token", "launcher-adapter", "agent-workspace")
    launcher: str
    agent: str
    token_secret: str
    adapter: str
    workspace: str


def launcher_selector(instance: Instance) -> dict[str, str]:
    return component_selector(instance, LAUNCHER_COMPONENT)


def launcher_url(instance: Instance) -> str:
    launcher = AgentNames.of(instance).launcher
    return f"http://{launcher}.{instance.namespace}.svc.cluster.local:{LAUNCHER_PORT}"
