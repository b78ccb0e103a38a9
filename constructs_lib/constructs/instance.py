"""The PaperclipInstance construct: one Paperclip server and everything around it."""

from __future__ import annotations

from constructs import Construct

from constructs_lib.constructs.agents import AgentsStack
from constructs_lib.constructs.env import config_data, server_env
from constructs_lib.constructs.kube import kube_object
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
        ns, labels, name = instance.namespace, base_labels(instance), server_name(instance)
        entries = server_env(instance)
        if spec.security.rbac.create:
            kube_object(
                self,
                "ServiceAccount",
                name=name,
                namespace=ns,
                labels=labels,
                annotations=dict(spec.security.rbac.service_account_annotations),
                body=service_account_body(),
            )
        kube_object(
            self,
            "ConfigMap",
            name=config_map_name(instance),
            namespace=ns,
            labels=labels,
            body={"data": config_data(entries)},
        )
        if spec.storage.persistence.enabled:
            kube_object(
                self,
                "PersistentVolumeClaim",
                name=data_claim_name(instance),
                namespace=ns,
                labels=labels,
                body=data_claim_body(instance),
            )
        kube_object(
            self,
            "Service",
            name=name,
            namespace=ns,
            labels=labels,
            annotations=dict(spec.networking.service.annotations),
            body=service_body(instance),
        )
        if spec.security.network_policy.enabled:
            kube_object(
                self,
                "NetworkPolicy",
                name=name,
                namespace=ns,
                labels=labels,
                body=network_policy_body(instance),
            )
        kind, body = workload_body(instance, entries)
        kube_object(self, kind, name=name, namespace=ns, labels=labels, body=body)


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
