"""The server stack: ServiceAccount, config, data volume, Service, NetworkPolicy and the
server workload, with every feature's contribution folded in.

The body functions return the object's fields other than apiVersion, kind and metadata, as
plain Kubernetes JSON; :class:`ServerStack` adds them.
"""

from __future__ import annotations

from typing import Any

from constructs_lib.constructs.copying import json_copy
from constructs_lib.constructs.database import external_database_ports
from constructs_lib.constructs.env import config_data, core_env, ordered
from constructs_lib.constructs.feature import Contribution, EnvEntry, InstancePart
from constructs_lib.constructs.kube import NETWORK_POLICY
from constructs_lib.constructs.names import (
    config_map_name,
    data_claim_name,
    server_name,
    server_selector,
)
from constructs_lib.constructs.pod import pod_template
from constructs_lib.constructs.primitives import (
    claim_body,
    dns_egress,
    egress_port,
    https_egress,
    never_pruned,
    policy_body,
    ports_rule,
    rolling_update,
    service_body,
)
from constructs_lib.spec import DatabaseMode, Instance, WorkloadKind
from constructs_lib.spec.rules import effective_workload, replicas

OTLP_PORTS = (4317, 4318)


def server_env(instance: Instance, extra: Contribution) -> list[EnvEntry]:
    """Every generated server variable in the operator's order (the user's env comes after)."""
    return ordered([*core_env(instance, extra.allowed_hostnames), *extra.env])


def network_policy_body(instance: Instance, extra: Contribution) -> dict[str, Any]:
    """Ingress from the instance's own namespace, allowIngressCIDRs and the features' rules;
    egress to DNS, HTTPS, OTLP, the external database, the features' destinations,
    allowEgressCIDRs and extraEgress."""
    spec = instance.spec
    policy = spec.security.network_policy
    sources = [{"podSelector": {}}, *({"ipBlock": {"cidr": c}} for c in policy.allow_ingress_cidrs)]
    service_port = spec.networking.service.port
    ingress: list[dict[str, Any]] = [{"from": [s], **ports_rule(service_port)} for s in sources]
    ingress += json_copy(extra.ingress)  # the plan's own rules are never handed out
    egress: list[dict[str, Any]] = [dns_egress(), https_egress(), ports_rule(*OTLP_PORTS)]
    if spec.database.mode is DatabaseMode.EXTERNAL:
        egress.append(ports_rule(*external_database_ports(instance)))
    storage = spec.object_storage
    if storage is not None and (number := egress_port(storage.endpoint)) is not None:
        egress.append(ports_rule(number))  # an S3 endpoint on another port than 443
    egress += json_copy(extra.egress)
    egress += [{"to": [{"ipBlock": {"cidr": cidr}}]} for cidr in policy.allow_egress_cidrs]
    egress += json_copy(policy.extra_egress)
    return policy_body({"matchLabels": server_selector(instance)}, ingress, egress)


def workload_body(
    instance: Instance, entries: list[EnvEntry], extra: Contribution
) -> tuple[str, dict[str, Any]]:
    """("StatefulSet" | "Deployment", body) for the server workload."""
    count = replicas(instance.spec)
    spec: dict[str, Any] = {} if count is None else {"replicas": count}
    spec["revisionHistoryLimit"] = 10
    spec["selector"] = {"matchLabels": server_selector(instance)}
    if effective_workload(instance.spec) is WorkloadKind.DEPLOYMENT:
        spec["progressDeadlineSeconds"] = 600
        spec["strategy"] = rolling_update()
        kind = "Deployment"
    else:
        spec["serviceName"] = server_name(instance)
        spec["updateStrategy"] = {"type": "RollingUpdate"}
        kind = "StatefulSet"
    spec["template"] = pod_template(instance, entries, extra)
    return kind, {"spec": spec}


class ServerStack(InstancePart):
    """The Paperclip server and what it needs, with the features' contributions folded in."""

    def add_objects(self) -> None:
        instance, extra, add = self.context.instance, self.context.contribution, self.add
        spec = instance.spec
        name = server_name(instance)
        entries = list(self.context.server_env)
        if spec.security.rbac.create:
            annotations = dict(spec.security.rbac.service_account_annotations)
            # no token by default: the pod mounts one only for a feature that calls the API
            body = {"automountServiceAccountToken": False}
            add("ServiceAccount", name, body, annotations=annotations)
        add("ConfigMap", config_map_name(instance), {"data": config_data(entries)})
        persistence, service = spec.storage.persistence, spec.networking.service
        if persistence.enabled:
            modes = [m.value for m in persistence.access_modes]
            claim = claim_body(str(persistence.size), modes, persistence.storage_class)
            annotations = never_pruned()  # the data outlives prune, uninstall and deletion
            add("PersistentVolumeClaim", data_claim_name(instance), claim, annotations=annotations)
        body = service_body(
            server_selector(instance), service.port, service_type=service.type.value
        )
        add("Service", name, body, annotations=dict(service.annotations))
        add("NetworkPolicy", name, network_policy_body(instance, extra), only_if=NETWORK_POLICY)
        kind, body = workload_body(instance, entries, extra)
        add(kind, name, body)
