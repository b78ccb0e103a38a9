"""Bodies of the server-stack objects (everything but the pod template).

Each function returns the object's fields other than apiVersion, kind and metadata, as
plain Kubernetes JSON; :mod:`constructs_lib.constructs.instance` turns them into cdk8s
objects.
"""

from __future__ import annotations

from typing import Any

from constructs_lib.constructs.env import EnvEntry
from constructs_lib.constructs.names import (
    LAUNCHER_PORT,
    PORT_NAME,
    launcher_selector,
    server_name,
    server_selector,
)
from constructs_lib.constructs.pod import pod_template
from constructs_lib.spec import DatabaseMode, Instance, WorkloadKind
from constructs_lib.spec.rules import effective_workload, replicas

DNS_PORT = 53
HTTPS_PORT = 443
OTLP_PORTS = (4317, 4318)
POSTGRES_PORT = 5432


def service_account_body() -> dict[str, Any]:
    # The server pod talks to no Kubernetes API: no token is mounted.
    return {"automountServiceAccountToken": False}


def data_claim_body(instance: Instance) -> dict[str, Any]:
    persistence = instance.spec.storage.persistence
    spec: dict[str, Any] = {
        "accessModes": [m.value for m in persistence.access_modes],
        "resources": {"requests": {"storage": str(persistence.size)}},
    }
    if persistence.storage_class:
        spec["storageClassName"] = persistence.storage_class
    return {"spec": spec}


def service_body(instance: Instance) -> dict[str, Any]:
    service = instance.spec.networking.service
    return {
        "spec": {
            "type": service.type.value,
            "selector": server_selector(instance),
            "sessionAffinity": "None",
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": service.port,
                    "targetPort": PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        }
    }


def _port(number: int, protocol: str = "TCP") -> dict[str, Any]:
    return {"port": number, "protocol": protocol}


def network_policy_body(instance: Instance) -> dict[str, Any]:
    """Ingress from the instance's own namespace and allowIngressCIDRs only; egress to DNS,
    HTTPS, OTLP, the external database, allowEgressCIDRs and extraEgress."""
    spec = instance.spec
    policy = spec.security.network_policy
    port = [_port(spec.networking.service.port)]
    ingress: list[dict[str, Any]] = [{"from": [{"podSelector": {}}], "ports": port}]
    ingress += [
        {"from": [{"ipBlock": {"cidr": cidr}}], "ports": port}
        for cidr in policy.allow_ingress_cidrs
    ]
    egress: list[dict[str, Any]] = [
        {"ports": [_port(DNS_PORT, "UDP"), _port(DNS_PORT)]},
        {"ports": [_port(HTTPS_PORT)]},
        {"ports": [_port(p) for p in OTLP_PORTS]},
    ]
    if spec.database.mode is DatabaseMode.EXTERNAL:
        egress.append({"ports": [_port(POSTGRES_PORT)]})
    if spec.agents.enabled:
        launcher = launcher_selector(instance)
        egress.append(
            {"to": [{"podSelector": {"matchLabels": launcher}}], "ports": [_port(LAUNCHER_PORT)]}
        )
    egress += [{"to": [{"ipBlock": {"cidr": cidr}}]} for cidr in policy.allow_egress_cidrs]
    egress += [dict(rule) for rule in policy.extra_egress]
    return {
        "spec": {
            "podSelector": {"matchLabels": server_selector(instance)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        }
    }


def workload_body(instance: Instance, entries: list[EnvEntry]) -> tuple[str, dict[str, Any]]:
    """("StatefulSet" | "Deployment", body) for the server workload."""
    spec: dict[str, Any] = {
        "replicas": replicas(instance.spec),
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": server_selector(instance)},
    }
    if effective_workload(instance.spec) is WorkloadKind.DEPLOYMENT:
        spec["progressDeadlineSeconds"] = 600
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }
        kind = "Deployment"
    else:
        spec["serviceName"] = server_name(instance)
        spec["updateStrategy"] = {"type": "RollingUpdate"}
        kind = "StatefulSet"
    spec["template"] = pod_template(instance, entries)
    return kind, {"spec": spec}
