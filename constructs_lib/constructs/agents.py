"""The agents feature: the launcher service, its least-privilege RBAC, the agent identity,
network isolation and the shared workspace; in the Paperclip pod, the k8s_launcher adapter
(mounted from a ConfigMap and registered with the server by an init container) and the
launcher's URL and token (the token is created in-cluster by the secrets bootstrap)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from constructs_lib.constructs.copying import json_copy
from constructs_lib.constructs.env import secret_var
from constructs_lib.constructs.feature import (
    BootstrapSecret,
    Contribution,
    EnvEntry,
    EnvSlot,
    Feature,
    SecretForm,
)
from constructs_lib.constructs.names import (
    ADAPTER_DIR,
    ADAPTER_TYPE,
    AGENT_COMPONENT,
    API_SERVER_PORT,
    CONFIG_HASH_ANNOTATION,
    DATA_PATH,
    LAUNCHER_COMPONENT,
    LAUNCHER_PORT,
    LAUNCHER_TOKEN_KEY,
    AgentNames,
    component_labels,
    config_hash,
    launcher_selector,
    launcher_url,
    server_selector,
    server_service_url,
)
from constructs_lib.constructs.pod import (
    container_security_context,
    data_mount,
    pull_secrets,
    server_image_container,
)
from constructs_lib.constructs.primitives import (
    claim_body,
    container_resources,
    dns_egress,
    https_egress,
    never_pruned,
    pods_rule,
    policy_body,
    restricted_container_security,
    restricted_pod_security,
    role_binding_body,
    rolling_update,
    service_body,
)
from constructs_lib.errors import Problem
from constructs_lib.spec import Instance
from constructs_lib.spec.agents import AgentTemplate
from constructs_lib.spec.data import AccessMode

# Exactly the calls the launcher makes (its own list, which its self-test checks).
from launcher.access import RULES as LAUNCHER_RULES
from launcher.jobs import LABEL_TEMPLATE, RunRequest, build_job
from launcher.templates import LauncherConfig

CONFIG_DIR = "/etc/paperclip-launcher"
ADAPTER_VOLUME = "launcher-adapter"
ADAPTER_INSTALL = "adapter-install"


def agent_selector(instance: Instance) -> dict[str, str]:
    return {
        "app.kubernetes.io/instance": instance.name,
        "app.kubernetes.io/component": AGENT_COMPONENT,
    }


def launcher_config(instance: Instance) -> str:
    """templates.json: what the launcher reads (validated by the launcher's own schema)."""
    spec = instance.spec
    agents, keys = spec.agents, spec.adapters.api_keys_secret_ref
    names = AgentNames.of(instance)
    config = LauncherConfig(
        namespace=instance.namespace,
        instance=instance.name,
        service_account=names.agent,
        api_url=server_service_url(instance),
        workspace_claim=names.workspace if agents.uses_workspace else None,
        pending_timeout_seconds=agents.launcher.pending_timeout_seconds,
        templates=agents.resolved(spec.image.reference, keys.name if keys is not None else None),
    )
    data = config.model_dump(by_alias=True, exclude_none=True, mode="json")
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def adapter_config(template: str) -> dict[str, Any]:
    """The Paperclip agent adapter configuration that runs ``template`` through the launcher
    (the k8s_launcher adapter; the template caps what an agent's settings may change)."""
    return {"adapterType": ADAPTER_TYPE, "adapterConfig": {"template": template}}


def adapter_install_container(instance: Instance) -> dict[str, Any]:
    """Registers the mounted adapter in $PAPERCLIP_HOME/adapter-plugins.json at every pod
    start, in the server image (it has Node): nothing is installed from npm in the cluster."""
    return {
        **server_image_container(instance, ADAPTER_INSTALL, ["node", f"{ADAPTER_DIR}/install.mjs"]),
        "env": [{"name": "PAPERCLIP_HOME", "value": DATA_PATH}],
        "volumeMounts": [
            data_mount(),
            {"name": ADAPTER_VOLUME, "mountPath": ADAPTER_DIR, "readOnly": True},
        ],
        "resources": container_resources("10m", "64Mi", "128Mi"),
        "securityContext": container_security_context(instance),
    }


def _launcher_deployment(instance: Instance, config_text: str) -> dict[str, Any]:
    agents = instance.spec.agents
    names = AgentNames.of(instance)
    token_env = secret_var("PAPERCLIP_LAUNCHER_TOKEN", names.token_secret, LAUNCHER_TOKEN_KEY)
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    container = {
        "name": "launcher",
        "image": agents.launcher.image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["serve", "--config", f"{CONFIG_DIR}/templates.json", "--port", str(LAUNCHER_PORT)],
        "env": [
            token_env,
            # its own pod's imagePullSecrets (the server's) are given to agent pods whose
            # template names none
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "ports": [{"name": "http", "containerPort": LAUNCHER_PORT, "protocol": "TCP"}],
        "livenessProbe": probe,
        "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": "http"}},
        "resources": container_resources("50m", "96Mi", "256Mi"),
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
    }
    return {
        "spec": {
            "replicas": agents.launcher.replicas,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": launcher_selector(instance)},
            "strategy": rolling_update(),
            "template": {
                "metadata": {
                    "labels": component_labels(instance, LAUNCHER_COMPONENT),
                    "annotations": {
                        CONFIG_HASH_ANNOTATION: config_hash({"templates.json": config_text})
                    },
                },
                "spec": {
                    "serviceAccountName": names.launcher,
                    **pull_secrets(instance),
                    "automountServiceAccountToken": True,
                    "enableServiceLinks": False,
                    "securityContext": restricted_pod_security(),
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": names.launcher}}],
                },
            },
        }
    }


def _launcher_policy(instance: Instance) -> dict[str, Any]:
    """The launcher: reached only from server pods; talks to DNS and the API server."""
    return policy_body(
        {"matchLabels": launcher_selector(instance)},
        [pods_rule(server_selector(instance), LAUNCHER_PORT, direction="from")],
        [dns_egress(), https_egress(API_SERVER_PORT)],
    )


def _agent_policy(instance: Instance) -> dict[str, Any]:
    """Agent pods: no ingress; DNS, HTTPS and the Paperclip server only (not the database)."""
    port = instance.spec.networking.service.port
    return policy_body(
        {"matchLabels": agent_selector(instance)},
        [],
        [dns_egress(), https_egress(), pods_rule(server_selector(instance), port)],
    )


def _template_policy(instance: Instance, template: str, egress: list[Any]) -> dict[str, Any]:
    """A template's extra egress rules, for its own pods only (policies add up)."""
    selector = {**agent_selector(instance), LABEL_TEMPLATE: template}
    return policy_body({"matchLabels": selector}, None, egress)


def _secrets_used(template: AgentTemplate) -> list[tuple[str, str]]:
    """(field path under the template, Secret name) of every Secret a template mounts or
    reads: env secretKeyRefs, envFromSecrets and secret or projected volumes."""
    used = [
        (f"env[{i}].secretKeyRef.name", e.secret_key_ref.name)
        for i, e in enumerate(template.env)
        if e.secret_key_ref is not None
    ]
    used += [(f"envFromSecrets[{i}]", n) for i, n in enumerate(template.env_from_secrets)]
    for i, volume in enumerate(template.volumes):
        secret = volume.get("secret")
        if isinstance(secret, dict) and isinstance(secret.get("secretName"), str):
            used.append((f"volumes[{i}].secret.secretName", secret["secretName"]))
        sources = (volume.get("projected") or {}).get("sources") or []
        for j, source in enumerate(sources if isinstance(sources, list) else []):
            item = source.get("secret") if isinstance(source, dict) else None
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                used.append((f"volumes[{i}].projected.sources[{j}].secret.name", item["name"]))
    return used


def _template_errors(instance: Instance) -> list[Problem]:
    """Secrets a template may use only when spec.agents.secretNames declares them."""
    agents = instance.spec.agents
    keys = instance.spec.adapters.api_keys_secret_ref
    allowed = set(agents.secret_names) | ({keys.name} if keys is not None else set())
    return [
        Problem(
            f"references Secret {secret!r}, which spec.agents.secretNames does not "
            "declare: the launcher can mount any Secret of the namespace into a Job, "
            "so templates may only use the Secrets declared for agents.",
            f"spec.agents.templates.{name}.{field}",
            f"add {secret!r} to spec.agents.secretNames, or use another Secret.",
        )
        for name, template in sorted(agents.templates.items())
        for field, secret in _secrets_used(template)
        if secret not in allowed
    ]


def _stamps(instance: Instance) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """A maker of the Job the launcher stamps from each template, by the template's spec path.
    Made only when called: synth validates the Jobs of an instance's own render, and the chart
    analysis's renders of the same instance never stamp one."""
    config = functools.cache(lambda: LauncherConfig.model_validate_json(launcher_config(instance)))

    def stamp(name: str) -> dict[str, Any]:
        request = RunRequest(
            agent_id="synth-check",
            run_id="synth-check",
            company_id="synth-check",
            template=name,
            api_key="synth-check",
        )
        return build_job(config(), request)

    return [
        (f"spec.agents.templates.{name}", functools.partial(stamp, name))
        for name in sorted(instance.spec.agents.templates)
    ]


class AgentsFeature(Feature):
    """Agent runs as Jobs through the launcher (``spec.agents.enabled``)."""

    id = "agents"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        return instance.spec.agents.enabled

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        names = AgentNames.of(instance)
        warnings = []
        workspace = instance.spec.agents.workspace
        if (
            instance.spec.agents.uses_workspace
            and workspace.access_mode is AccessMode.READ_WRITE_MANY
            and workspace.storage_class is None
        ):
            warnings.append(
                Problem(
                    "ReadWriteMany with the cluster's default StorageClass assumes that class "
                    "provides it; most defaults do not (kind, k3d, minikube, EBS, Azure Disk, GCE "
                    "PD), and the claim then stays Pending.",
                    "spec.agents.workspace.storageClass",
                    "name a StorageClass that provides ReadWriteMany, or use accessMode: "
                    "ReadWriteOnce on a single node.",
                )
            )
        return Contribution(
            env=[
                # Read by the k8s_launcher adapter inside the server process.
                EnvEntry("AGENT_LAUNCHER_URL", launcher_url(instance), slot=EnvSlot.EXTENSIONS),
                EnvEntry(
                    "AGENT_LAUNCHER_TOKEN",
                    secret_name=names.token_secret,
                    secret_key=LAUNCHER_TOKEN_KEY,
                    optional=True,
                    slot=EnvSlot.EXTENSIONS,
                ),
            ],
            volumes=[{"name": ADAPTER_VOLUME, "configMap": {"name": names.adapter}}],
            mounts=[{"name": ADAPTER_VOLUME, "mountPath": ADAPTER_DIR, "readOnly": True}],
            init_containers=[adapter_install_container(instance)],
            egress=[pods_rule(launcher_selector(instance), LAUNCHER_PORT)],
            secrets=[BootstrapSecret(names.token_secret, LAUNCHER_TOKEN_KEY, SecretForm.TOKEN)],
            errors=_template_errors(instance),
            warnings=warnings,
            stamps=_stamps(instance),
        )

    def add_objects(self) -> None:
        context = self.context
        instance, add = context.instance, self.add
        agents, ns = instance.spec.agents, instance.namespace
        names = AgentNames.of(instance)
        add("ServiceAccount", names.launcher, {})
        add("ServiceAccount", names.agent, {"automountServiceAccountToken": False})
        add("Role", names.launcher, {"rules": json_copy(LAUNCHER_RULES)})
        add("RoleBinding", names.launcher, role_binding_body(names.launcher, names.launcher, ns))
        config_text = launcher_config(instance)
        add("ConfigMap", names.launcher, {"data": {"templates.json": config_text}})
        add("ConfigMap", names.adapter, {"data": dict(sorted(context.adapter_files.items()))})
        if agents.uses_workspace:
            workspace = agents.workspace
            modes = [workspace.access_mode.value]
            claim = claim_body(str(workspace.size), modes, workspace.storage_class)
            add("PersistentVolumeClaim", names.workspace, claim, annotations=never_pruned())
        add("Service", names.launcher, service_body(launcher_selector(instance), LAUNCHER_PORT))
        add("Deployment", names.launcher, _launcher_deployment(instance, config_text))
        add("NetworkPolicy", names.launcher, _launcher_policy(instance))
        add("NetworkPolicy", names.agent, _agent_policy(instance))
        for name, template in sorted(agents.templates.items()):
            if template.egress:
                policy = _template_policy(instance, name, template.egress)
                add("NetworkPolicy", f"{names.agent}-{name}", policy)
