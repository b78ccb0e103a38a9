"""The PaperclipInstance construct: one Paperclip server and everything around it."""

from __future__ import annotations

from constructs import Construct

from constructs_lib.constructs.agents import AgentsStack
from constructs_lib.constructs.env import config_data, server_env
from constructs_lib.constructs.kube import ObjectAdder
from constructs_lib.constructs.names import (
    base_labels,
    config_map_name,
    data_claim_name,
    server_name,
)
from constructs_lib.constructs.server import (
    data_claim_body,
    network_policy_body,
    service_account_body,
    service_body,
    workload_body,
)
from constructs_lib.spec import Instance


class ServerStack(Construct):
    """ServiceAccount, config, data volume, Service, NetworkPolicy and the server workload."""

    def __init__(self, scope: Construct, id: str, *, instance: Instance) -> None:
        super().__init__(scope, id)
        spec = instance.spec
        add, name = (
            ObjectAdder(self, instance.namespace, base_labels(instance)),
            server_name(instance),
        )
        entries = server_env(instance)
        if spec.security.rbac.create:
            annotations = dict(spec.security.rbac.service_account_annotations)
            add("ServiceAccount", name, service_account_body(), annotations=annotations)
        add("ConfigMap", config_map_name(instance), {"data": config_data(entries)})
        if spec.storage.persistence.enabled:
            add("PersistentVolumeClaim", data_claim_name(instance), data_claim_body(instance))
        add(
            "Service",
            name,
            service_body(instance),
            annotations=dict(spec.networking.service.annotations),
        )
        if spec.security.network_policy.enabled:
            add("NetworkPolicy", name, network_policy_body(instance))
        kind, body = workload_body(instance, entries)
        add(kind, name, body)


class PaperclipInstance(Construct):
    """Every object one Instance needs. Takes a validated spec; reads no files or clock."""

    def __init__(
        self, scope: Construct, id: str, *, instance: Instance, client_script: str = ""
    ) -> None:
        super().__init__(scope, id)
        self.instance = instance
        ServerStack(self, "server", instance=instance)
        if instance.spec.agents.enabled:
            AgentsStack(self, "agents", instance=instance, client_script=client_script)
