"""The agents stack: the launcher service, its least-privilege RBAC, the agent identity,
network isolation, the shared workspace and the in-cluster secret bootstrap."""

from __future__ import annotations

import json
from typing import Any

from constructs import Construct

from constructs_lib.constructs.env import config_hash
from constructs_lib.constructs.kube import ObjectAdder
from constructs_lib.constructs.names import (
    AGENT_COMPONENT,
    CLIENT_DIR,
    CLIENT_FILE,
    LAUNCHER_COMPONENT,
    LAUNCHER_PORT,
    LAUNCHER_TOKEN_KEY,
    AgentNames,
    base_labels,
    component_labels,
    launcher_selector,
    server_selector,
)
from constructs_lib.spec import Instance
from launcher.templates import LauncherConfig

CONFIG_DIR = "/etc/paperclip-launcher"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"

# Exactly the calls the launcher makes (launcher/runs.py, guard.py, pods.py, relay.py).
LAUNCHER_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": ["batch"],
        "resources": ["jobs"],
        "verbs": ["create", "get", "list", "patch", "delete"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "create", "update"],
    },
]


def api_url(instance: Instance) -> str:
    port = instance.spec.networking.service.port
    return f"http://{instance.name}.{instance.namespace}.svc.cluster.local:{port}"


def agent_selector(instance: Instance) -> dict[str, str]:
    return {
        "app.kubernetes.io/instance": instance.name,
        "app.kubernetes.io/component": AGENT_COMPONENT,
    }


def launcher_config(instance: Instance) -> str:
    """templates.json: what the launcher reads (validated by the launcher's own schema)."""
    agents = instance.spec.agents
    names = AgentNames.of(instance)
    config = LauncherConfig(
        namespace=instance.namespace,
        instance=instance.name,
        service_account=names.agent,
        api_url=api_url(instance),
        workspace_claim=names.workspace if agents.uses_workspace else None,
        pending_timeout_seconds=agents.launcher.pending_timeout_seconds,
        templates=agents.resolved(instance.spec.image.reference),
    )
    data = config.model_dump(by_alias=True, exclude_none=True, mode="json")
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def adapter_config(instance: Instance, template: str) -> dict[str, Any]:
    """The Paperclip agent adapter configuration that runs ``template`` through the launcher."""
    return {
        "adapterType": "process",
        "adapterConfig": {
            "command": "node",
            "args": [f"{CLIENT_DIR}/{CLIENT_FILE}", "--template", template],
            "timeoutSec": 0,
            "graceSec": 30,
        },
    }


def _security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _dns() -> dict[str, Any]:
    return {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


class AgentsStack(Construct):
    """Objects for agent runs; only built when ``spec.agents.enabled``."""

    def __init__(
        self, scope: Construct, id: str, *, instance: Instance, client_script: str
    ) -> None:
        super().__init__(scope, id)
        spec, agents = instance.spec, instance.spec.agents
        ns, labels = instance.namespace, base_labels(instance)
        names = AgentNames.of(instance)
        launcher_labels = component_labels(instance, LAUNCHER_COMPONENT)

        add = ObjectAdder(self, ns, labels)

        add("ServiceAccount", names.launcher, {})
        add("ServiceAccount", names.agent, {"automountServiceAccountToken": False})
        add("ServiceAccount", names.secrets_job, {})
        add("Role", names.launcher, {"rules": LAUNCHER_RULES})
        add(
            "RoleBinding",
            names.launcher,
            {
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": names.launcher,
                },
                "subjects": [{"kind": "ServiceAccount", "name": names.launcher, "namespace": ns}],
            },
        )
        add(
            "Role",
            names.secrets_job,
            {
                "rules": [
                    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
                    {
                        "apiGroups": [""],
                        "resources": ["secrets"],
                        "verbs": ["get", "patch"],
                        "resourceNames": [names.token_secret],
                    },
                ]
            },
        )
        add(
            "RoleBinding",
            names.secrets_job,
            {
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": names.secrets_job,
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": names.secrets_job, "namespace": ns}
                ],
            },
        )
        config_text = launcher_config(instance)
        add("ConfigMap", names.launcher, {"data": {"templates.json": config_text}})
        add("ConfigMap", names.client, {"data": {CLIENT_FILE: client_script}})
        if agents.uses_workspace:
            workspace: dict[str, Any] = {
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": str(agents.workspace.size)}},
            }
            if agents.workspace.storage_class:
                workspace["storageClassName"] = agents.workspace.storage_class
            add("PersistentVolumeClaim", names.workspace, {"spec": workspace})
        add(
            "Service",
            names.launcher,
            {
                "spec": {
                    "type": "ClusterIP",
                    "selector": launcher_selector(instance),
                    "ports": [
                        {
                            "name": "http",
                            "port": LAUNCHER_PORT,
                            "targetPort": "http",
                            "protocol": "TCP",
                        }
                    ],
                }
            },
        )
        token_env = {
            "name": "PAPERCLIP_LAUNCHER_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": names.token_secret, "key": LAUNCHER_TOKEN_KEY}},
        }
        probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
        add(
            "Deployment",
            names.launcher,
            {
                "spec": {
                    "replicas": agents.launcher.replicas,
                    "revisionHistoryLimit": 10,
                    "selector": {"matchLabels": launcher_selector(instance)},
                    "strategy": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
                    },
                    "template": {
                        "metadata": {
                            "labels": launcher_labels,
                            "annotations": {
                                "paperclip.inc/config-hash": config_hash(
                                    {"templates.json": config_text}
                                )
                            },
                        },
                        "spec": {
                            "serviceAccountName": names.launcher,
                            "automountServiceAccountToken": True,
                            "enableServiceLinks": False,
                            "securityContext": _pod_security(),
                            "containers": [
                                {
                                    "name": "launcher",
                                    "image": agents.launcher.image,
                                    "imagePullPolicy": "IfNotPresent",
                                    "args": [
                                        "serve",
                                        "--config",
                                        f"{CONFIG_DIR}/templates.json",
                                        "--port",
                                        str(LAUNCHER_PORT),
                                    ],
                                    "env": [token_env],
                                    "ports": [
                                        {
                                            "name": "http",
                                            "containerPort": LAUNCHER_PORT,
                                            "protocol": "TCP",
                                        }
                                    ],
                                    "livenessProbe": probe,
                                    "readinessProbe": {
                                        **probe,
                                        "httpGet": {"path": "/readyz", "port": "http"},
                                    },
                                    "resources": {
                                        "requests": {"cpu": "50m", "memory": "96Mi"},
                                        "limits": {"memory": "256Mi"},
                                    },
                                    "securityContext": _security(),
                                    "volumeMounts": [
                                        {
                                            "name": "config",
                                            "mountPath": CONFIG_DIR,
                                            "readOnly": True,
                                        }
                                    ],
                                }
                            ],
                            "volumes": [{"name": "config", "configMap": {"name": names.launcher}}],
                        },
                    },
                }
            },
            labels=labels,
        )
        add(
            "Job",
            names.secrets_job,
            {
                "spec": {
                    "backoffLimit": 3,
                    "template": {
                        "metadata": {"labels": component_labels(instance, "ensure-secrets")},
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "serviceAccountName": names.secrets_job,
                            "securityContext": _pod_security(),
                            "containers": [
                                {
                                    "name": "ensure-secrets",
                                    "image": agents.launcher.image,
                                    "args": [
                                        "ensure-secrets",
                                        "--namespace",
                                        ns,
                                        f"{names.token_secret}/{LAUNCHER_TOKEN_KEY}=token",
                                    ],
                                    "resources": {
                                        "requests": {"cpu": "10m", "memory": "64Mi"},
                                        "limits": {"memory": "128Mi"},
                                    },
                                    "securityContext": _security(),
                                }
                            ],
                        },
                    },
                }
            },
            annotations={SYNC_WAVE: "-1", "kustomize.toolkit.fluxcd.io/force": "Enabled"},
        )
        server_port = spec.networking.service.port
        add(
            "NetworkPolicy",
            names.launcher,
            {
                "spec": {
                    "podSelector": {"matchLabels": launcher_selector(instance)},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [
                        {
                            "from": [{"podSelector": {"matchLabels": server_selector(instance)}}],
                            "ports": [{"port": LAUNCHER_PORT, "protocol": "TCP"}],
                        }
                    ],
                    "egress": [
                        _dns(),
                        {
                            "ports": [
                                {"port": 443, "protocol": "TCP"},
                                {"port": 6443, "protocol": "TCP"},
                            ]
                        },
                    ],
                }
            },
        )
        add(
            "NetworkPolicy",
            names.agent,
            {
                "spec": {
                    "podSelector": {"matchLabels": agent_selector(instance)},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [],
                    "egress": [
                        _dns(),
                        {"ports": [{"port": 443, "protocol": "TCP"}]},
                        {
                            "to": [{"podSelector": {"matchLabels": server_selector(instance)}}],
                            "ports": [{"port": server_port, "protocol": "TCP"}],
                        },
                    ],
                }
            },
        )
