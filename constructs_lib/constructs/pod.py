"""The server pod template: containers, probes, scheduler gating, volumes and security."""

from __future__ import annotations

from typing import Any

from constructs_lib.constructs.copying import json_copy
from constructs_lib.constructs.env import config_data, secret_env_vars
from constructs_lib.constructs.feature import Contribution, EnvEntry
from constructs_lib.constructs.names import (
    CONFIG_HASH_ANNOTATION,
    CONTAINER_NAME,
    DATA_PATH,
    DATA_VOLUME,
    HEALTH_PATH,
    PORT_NAME,
    SERVER_COMPONENT,
    START_COMMAND,
    component_labels,
    config_hash,
    config_map_name,
    data_claim_name,
    server_name,
)
from constructs_lib.constructs.primitives import restricted_pod_security
from constructs_lib.spec import DeploymentMode, Exposure, Instance, ProbeOverride, ProbeType
from constructs_lib.spec.rules import drain_seconds, ordinal_gating, probe_kind

SELINUX_IMAGE = "quay.io/fedora/fedora-minimal:42"

DEFAULT_POD_SECURITY_CONTEXT = restricted_pod_security(1000, fsGroup=1000)
DEFAULT_CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
    "capabilities": {"drop": ["ALL"]},
}

# Creates the instance config on first start, as `onboard --yes` does, then stops it.
ONBOARD_SCRIPT = """\
config="${PAPERCLIP_HOME:-/paperclip}/instances/${PAPERCLIP_INSTANCE_ID:-default}/config.json"
if [ -f "$config" ]; then
  echo "onboard: $config exists, nothing to do"
  exit 0
fi
echo "onboard: first start, running 'paperclipai onboard --yes'"
pnpm paperclipai onboard --yes &
pid=$!
stop() {
  pkill -P "$pid" 2>/dev/null || true
  kill "$pid" 2>/dev/null || true
  pkill -f paperclipai 2>/dev/null || true
  pkill -f server/dist/index 2>/dev/null || true
}
i=0
while [ "$i" -lt 120 ]; do
  if [ -f "$config" ]; then
    echo "onboard: $config created"
    stop
    exit 0
  fi
  i=$((i + 1))
  sleep 1
done
echo "onboard: $config did not appear within 120s" >&2
stop
exit 1
"""

# A health request to the loopback-bound server (local_trusted), Host localhost as the
# private-hostname guard wants; exit 0 on 200 only.
LOOPBACK_HEALTH = (
    "require('http').get({host:'127.0.0.1',port:PORT,path:'/api/health',"
    "headers:{host:'localhost'},timeout:2500},"
    "r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
)

GATING_PREFIX = (
    'case "${HOSTNAME:-}" in '
    "*-0) export HEARTBEAT_SCHEDULER_ENABLED=true ;; "
    "*) export HEARTBEAT_SCHEDULER_ENABLED=false ;; "
    "esac; "
)


def probe(instance: Instance, which: str) -> dict[str, Any]:
    """One probe: the handler (tcp or http with an accepted Host header) and its numbers."""
    spec = instance.spec
    port = spec.networking.service.port
    handler: dict[str, Any]
    kind = probe_kind(spec)
    if kind is None:
        # local_trusted: the server listens on 127.0.0.1 only; ask it from inside the pod.
        handler = {"exec": {"command": ["node", "-e", LOOPBACK_HEALTH.replace("PORT", str(port))]}}
    elif kind is ProbeType.TCP:
        handler = {"tcpSocket": {"port": port}}
    else:
        # The private-hostname guard answers 403 to the pod IP the kubelet sends as Host.
        handler = {
            "httpGet": {
                "path": HEALTH_PATH,
                "port": port,
                "scheme": "HTTP",
                "httpHeaders": [{"name": "Host", "value": "localhost"}],
            }
        }
    numbers: ProbeOverride = getattr(spec.probes, which)
    return {**handler, **numbers.dump()}


def merged(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """``override`` deep-merged onto a copy of ``base`` (set fields win)."""
    result = json_copy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = json_copy(value)
    return result


def pod_security_context(instance: Instance) -> dict[str, Any]:
    """The restricted default with the user's override merged on top."""
    return merged(DEFAULT_POD_SECURITY_CONTEXT, instance.spec.security.pod_security_context)


def container_security_context(instance: Instance) -> dict[str, Any]:
    """The restricted default with the user's override merged on top (an override of one
    field keeps the rest of the baseline); readOnlyRootFilesystem false unless set."""
    context = merged(
        DEFAULT_CONTAINER_SECURITY_CONTEXT, instance.spec.security.container_security_context
    )
    context.setdefault("readOnlyRootFilesystem", False)
    return context


def server_env_from(instance: Instance) -> list[dict[str, Any]]:
    # Later sources win: the user's sources first, the generated config last.
    return [
        *json_copy(instance.spec.env_from),
        {"configMapRef": {"name": config_map_name(instance)}},
    ]


def data_mount() -> dict[str, Any]:
    return {"name": DATA_VOLUME, "mountPath": DATA_PATH}


def server_image_container(
    instance: Instance, name: str, command: list[str], *args: str
) -> dict[str, Any]:
    """The first fields of a container that runs the server image: its ``name``, the image and
    its pull policy, ``command``, and ``args`` when there are any."""
    image = instance.spec.image
    container: dict[str, Any] = {
        "name": name,
        "image": image.reference,
        "imagePullPolicy": image.pull_policy.value,
        "command": command,
    }
    if args:
        container["args"] = list(args)
    return container


def _app_container(
    instance: Instance, name: str, script: str, entries: list[EnvEntry], extra: Contribution
) -> dict[str, Any]:
    """Fields every container running the server image shares (server and onboard)."""
    spec = instance.spec
    container = server_image_container(instance, name, ["/bin/sh", "-c"], script)
    if spec.resources is not None:
        container["resources"] = json_copy(spec.resources)
    if entries or spec.env:
        container["env"] = [*secret_env_vars(entries), *json_copy(spec.env)]
    container["envFrom"] = server_env_from(instance)
    container["volumeMounts"] = volume_mounts(instance, extra)
    container["securityContext"] = container_security_context(instance)
    return container


def server_container(
    instance: Instance, entries: list[EnvEntry], extra: Contribution
) -> dict[str, Any]:
    spec = instance.spec
    # the main container's shell line; with ordinal gating only pod -0 runs the scheduler
    script = f"{GATING_PREFIX if ordinal_gating(spec) else ''}exec {START_COMMAND}"
    container = _app_container(instance, CONTAINER_NAME, script, entries, extra)
    container["ports"] = [
        {"name": PORT_NAME, "containerPort": spec.networking.service.port, "protocol": "TCP"}
    ]
    if (
        spec.deployment.mode is DeploymentMode.AUTHENTICATED
        and spec.deployment.exposure is Exposure.PUBLIC
    ):
        # The onboard step writes auth.baseUrlMode: auto into config.json, which wins over the
        # public URL and makes the server refuse public exposure; explicit mode uses
        # PAPERCLIP_PUBLIC_URL. On the server container only: onboard itself fails with it.
        container["env"] = [
            {"name": "PAPERCLIP_AUTH_BASE_URL_MODE", "value": "explicit"},
            *container.get("env", []),
        ]
    for which in ("liveness", "readiness", "startup"):
        container[f"{which}Probe"] = probe(instance, which)
    seconds = drain_seconds(spec)
    if seconds > 0:
        container["lifecycle"] = {
            "preStop": {"exec": {"command": ["/bin/sh", "-c", f"sleep {seconds}"]}}
        }
    return container


def init_containers(
    instance: Instance, entries: list[EnvEntry], extra: Contribution
) -> list[dict[str, Any]]:
    """selinux-relabel (opt-in), onboard, the features' init containers, then the user's."""
    spec = instance.spec
    containers: list[dict[str, Any]] = []
    if spec.security.se_linux_relabel and spec.storage.persistence.enabled:
        pod_context = spec.security.pod_security_context or {}
        level = (pod_context.get("seLinuxOptions") or {}).get("level") or "s0"
        containers.append(
            {
                "name": "selinux-relabel",
                "image": SELINUX_IMAGE,
                "command": [
                    "chcon",
                    "-R",
                    f"system_u:object_r:container_file_t:{level}",
                    DATA_PATH,
                ],
                "volumeMounts": [data_mount()],
                "securityContext": {"privileged": True, "runAsUser": 0, "runAsNonRoot": False},
            }
        )
    containers.append(_app_container(instance, "onboard", ONBOARD_SCRIPT, entries, extra))
    containers.extend(json_copy(extra.init_containers))
    containers.extend(json_copy(spec.init_containers))
    return containers


def volume_mounts(instance: Instance, extra: Contribution) -> list[dict[str, Any]]:
    """What a container that runs the server image mounts of :func:`volumes`: the data volume,
    the features' mounts, then the user's."""
    return [data_mount(), *json_copy(extra.mounts), *json_copy(instance.spec.extra_volume_mounts)]


def volumes(instance: Instance, extra: Contribution) -> list[dict[str, Any]]:
    spec = instance.spec
    data: dict[str, Any] = {"name": DATA_VOLUME}
    if spec.storage.persistence.enabled:
        data["persistentVolumeClaim"] = {"claimName": data_claim_name(instance)}
    else:
        data["emptyDir"] = {}
    return [data, *json_copy(extra.volumes), *json_copy(spec.extra_volumes)]


def placement(instance: Instance) -> dict[str, Any]:
    """``availability``'s nodeSelector and tolerations, for every pod that must land where the
    server does (the database, backup and restore pods, which run other images, take only
    these)."""
    availability = instance.spec.availability
    fields = {
        "nodeSelector": dict(availability.node_selector),
        "tolerations": json_copy(availability.tolerations),
    }
    return {key: value for key, value in fields.items() if value}


def pull_secrets(instance: Instance) -> dict[str, Any]:
    """The server's image pull Secrets as a pod's ``imagePullSecrets`` (none: no field)."""
    pulls = [{"name": s.name} for s in instance.spec.image.pull_secrets]
    return {"imagePullSecrets": pulls} if pulls else {}


def pull_and_placement(instance: Instance) -> dict[str, Any]:
    """:func:`pull_secrets` and :func:`placement`, for every pod that runs the server image."""
    return {**pull_secrets(instance), **placement(instance)}


def pod_template(
    instance: Instance, entries: list[EnvEntry], extra: Contribution
) -> dict[str, Any]:
    """The pod template shared by the StatefulSet and the Deployment."""
    spec = instance.spec
    availability = spec.availability
    pod: dict[str, Any] = {
        "serviceAccountName": server_name(instance),
        "automountServiceAccountToken": extra.service_account_token,
        "enableServiceLinks": False,
        "shareProcessNamespace": spec.share_process_namespace,
        "terminationGracePeriodSeconds": availability.termination_grace_period_seconds,
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "securityContext": pod_security_context(instance),
        **pull_and_placement(instance),
    }
    if availability.affinity:
        pod["affinity"] = json_copy(availability.affinity)
    if availability.topology_spread_constraints:
        pod["topologySpreadConstraints"] = json_copy(availability.topology_spread_constraints)
    if availability.priority_class_name:
        pod["priorityClassName"] = availability.priority_class_name
    pod["initContainers"] = init_containers(instance, entries, extra)
    pod["containers"] = [server_container(instance, entries, extra), *json_copy(spec.sidecars)]
    pod["volumes"] = volumes(instance, extra)
    return {
        "metadata": {
            "labels": component_labels(instance, SERVER_COMPONENT),
            "annotations": {
                **spec.pod_annotations,
                **extra.pod_annotations,
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(spec.networking.service.port),
                "prometheus.io/path": "/metrics",
                CONFIG_HASH_ANNOTATION: config_hash(config_data(entries)),
            },
        },
        "spec": pod,
    }
