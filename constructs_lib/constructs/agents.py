"""The agents feature: the launcher service, its least-privilege RBAC, the agent identity,
network isolation and the shared workspace; in the Paperclip pod, the thin client and the
launcher's URL and token (the token is created in-cluster by the secrets bootstrap)."""

from __future__ import annotations

from typing import Any

from constructs_lib.constructs.env import config_hash
from constructs_lib.constructs.feature import (
    BootstrapSecret,
    Contribution,
    EnvEntry,
    EnvSlot,
    Feature,
    SecretForm,
)
from constructs_lib.constructs.jsontext import pretty_json
from constructs_lib.constructs.names import (
    AGENT_COMPONENT,
    CLIENT_DIR,
    CLIENT_FILE,
    LAUNCHER_COMPONENT,
    LAUNCHER_PORT,
    LAUNCHER_TOKEN_KEY,
    AgentNames,
    component_labels,
    launcher_selector,
    launcher_url,
    server_selector,
)
from constructs_lib.constructs.primitives import (
    claim_body,
    dns_egress,
    https_egress,
    never_pruned,
    pods_rule,
    restricted_container_security,
    restricted_pod_security,
    role_binding_body,
    service_body,
)
from constructs_lib.errors import Problem
from constructs_lib.spec import Instance
from launcher.jobs import RunRequest, build_job
from launcher.templates import LauncherConfig

CONFIG_DIR = "/etc/paperclip-launcher"
CLIENT_VOLUME = "launcher-client"

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
    return pretty_json(data, sort_keys=True) + "\n"


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


def _launcher_deployment(instance: Instance, config_text: str) -> dict[str, Any]:
    agents = instance.spec.agents
    names = AgentNames.of(instance)
    token_env = {
        "name": "PAPERCLIP_LAUNCHER_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": names.token_secret, "key": LAUNCHER_TOKEN_KEY}},
    }
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    return {
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
                    "labels": component_labels(instance, LAUNCHER_COMPONENT),
                    "annotations": {
                        "paperclip.inc/config-hash": config_hash({"templates.json": config_text})
                    },
                },
                "spec": {
                    "serviceAccountName": names.launcher,
                    "automountServiceAccountToken": True,
                    "enableServiceLinks": False,
                    "securityContext": restricted_pod_security(),
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
                                {"name": "http", "containerPort": LAUNCHER_PORT, "protocol": "TCP"}
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
                            "securityContext": restricted_container_security(),
                            "volumeMounts": [
                                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}
                            ],
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": names.launcher}}],
                },
            },
        }
    }


def _launcher_policy(instance: Instance) -> dict[str, Any]:
    """The launcher: reached only from server pods; talks to DNS and the API server."""
    return {
        "spec": {
            "podSelector": {"matchLabels": launcher_selector(instance)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [pods_rule(server_selector(instance), LAUNCHER_PORT, direction="from")],
            "egress": [dns_egress(), https_egress(6443)],
        }
    }


def _agent_policy(instance: Instance) -> dict[str, Any]:
    """Agent pods: no ingress; DNS, HTTPS and the Paperclip server only (not the database)."""
    port = instance.spec.networking.service.port
    return {
        "spec": {
            "podSelector": {"matchLabels": agent_selector(instance)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [dns_egress(), https_egress(), pods_rule(server_selector(instance), port)],
        }
    }


def _template_problems(
    instance: Instance,
) -> tuple[list[Problem], list[tuple[str, dict[str, Any]]]]:
    """Secrets a template may not use, and a Job stamped from each template (validated like
    generated objects, reported at the template's path)."""
    agents = instance.spec.agents
    allowed = set(agents.secret_names)
    errors: list[Problem] = []
    stamped: list[tuple[str, dict[str, Any]]] = []
    config = LauncherConfig.model_validate_json(launcher_config(instance))
    for name, template in sorted(agents.templates.items()):
        path = f"spec.agents.templates.{name}"
        for index, item in enumerate(template.env):
            ref = item.secret_key_ref
            if ref is not None and ref.name not in allowed:
                errors.append(
                    Problem(
                        f"references Secret {ref.name!r}, which spec.agents.secretNames does not "
                        "declare: the launcher can mount any Secret of the namespace into a Job, "
                        "so templates may only use the Secrets declared for agents.",
                        f"{path}.env[{index}].secretKeyRef.name",
                        f"add {ref.name!r} to spec.agents.secretNames, or use another Secret.",
                    )
                )
        request = RunRequest(
            agent_id="synth-check",
            run_id="synth-check",
            company_id="synth-check",
            template=name,
            api_key="synth-check",
        )
        stamped.append((path, build_job(config, request)))
    return errors, stamped


class AgentsFeature(Feature):
    """Agent runs as Jobs through the launcher (``spec.agents.enabled``)."""

    id = "agents"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        return instance.spec.agents.enabled

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        names = AgentNames.of(instance)
        errors, stamped = _template_problems(instance)
        return Contribution(
            env=[
                # Not PAPERCLIP_*: the process adapter strips those from the child's env.
                EnvEntry("AGENT_LAUNCHER_URL", launcher_url(instance), slot=EnvSlot.EXTENSIONS),
                EnvEntry(
                    "AGENT_LAUNCHER_TOKEN",
                    secret_name=names.token_secret,
                    secret_key=LAUNCHER_TOKEN_KEY,
                    optional=True,
                    slot=EnvSlot.EXTENSIONS,
                ),
            ],
            volumes=[{"name": CLIENT_VOLUME, "configMap": {"name": names.client}}],
            mounts=[{"name": CLIENT_VOLUME, "mountPath": CLIENT_DIR, "readOnly": True}],
            egress=[pods_rule(launcher_selector(instance), LAUNCHER_PORT)],
            secrets=[BootstrapSecret(names.token_secret, LAUNCHER_TOKEN_KEY, SecretForm.TOKEN)],
            errors=errors,
            stamped=stamped,
        )

    def add_objects(self) -> None:
        context = self.context
        instance, add = context.instance, self.add
        agents, ns = instance.spec.agents, instance.namespace
        names = AgentNames.of(instance)
        add("ServiceAccount", names.launcher, {})
        add("ServiceAccount", names.agent, {"automountServiceAccountToken": False})
        add("Role", names.launcher, {"rules": LAUNCHER_RULES})
        add("RoleBinding", names.launcher, role_binding_body(names.launcher, names.launcher, ns))
        config_text = launcher_config(instance)
        add("ConfigMap", names.launcher, {"data": {"templates.json": config_text}})
        add("ConfigMap", names.client, {"data": {CLIENT_FILE: context.client_script}})
        if agents.uses_workspace:
            workspace = agents.workspace
            add(
                "PersistentVolumeClaim",
                names.workspace,
                claim_body(str(workspace.size), ["ReadWriteMany"], workspace.storage_class),
                annotations=never_pruned(),
            )
        add("Service", names.launcher, service_body(launcher_selector(instance), LAUNCHER_PORT))
        add("Deployment", names.launcher, _launcher_deployment(instance, config_text))
        add("NetworkPolicy", names.launcher, _launcher_policy(instance))
        add("NetworkPolicy", names.agent, _agent_policy(instance))
