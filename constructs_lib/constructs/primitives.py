"""Building blocks shared by the features: the restricted security contexts, common
NetworkPolicy rules, and the bodies of RoleBindings, Services and PersistentVolumeClaims.

Every function returns plain Kubernetes JSON (fresh dicts; callers may mutate them).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

DNS_PORT = 53
HTTPS_PORT = 443
RBAC_GROUP = "rbac.authorization.k8s.io"


def rule(group: str, resources: list[str], verbs: list[str]) -> dict[str, Any]:
    """One RBAC rule of a Role or ClusterRole."""
    return {"apiGroups": [group], "resources": list(resources), "verbs": list(verbs)}


def egress_port(endpoint: str | None) -> int | None:
    """The TCP port of an http(s) endpoint URL when it is not 443 (an egress rule needs it)."""
    if endpoint is None:
        return None
    parts = urlsplit(endpoint)
    number = parts.port or (80 if parts.scheme == "http" else HTTPS_PORT)
    return None if number == HTTPS_PORT else number


# Hook and sync annotations for objects the GitOps engines must run before the rest.
ARGO_HOOK = "argocd.argoproj.io/hook"
ARGO_HOOK_DELETE = "argocd.argoproj.io/hook-delete-policy"
ARGO_SYNC_WAVE = "argocd.argoproj.io/sync-wave"
ARGO_SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
HELM_HOOK = "helm.sh/hook"
HELM_HOOK_WEIGHT = "helm.sh/hook-weight"
HELM_HOOK_DELETE = "helm.sh/hook-delete-policy"
HELM_RESOURCE_POLICY = "helm.sh/resource-policy"
FLUX_FORCE = "kustomize.toolkit.fluxcd.io/force"
FLUX_PRUNE = "kustomize.toolkit.fluxcd.io/prune"


def sync_hook(phase: str, weight: int | None = None) -> dict[str, str]:
    """Annotations that run an object before (``phase`` "pre") or after ("post") every sync
    under Argo CD and Helm, recreated each time (a Job's spec is immutable), and force-replaced
    by Flux when it changes; ``weight`` (if any) orders the hooks of one phase."""
    annotations = {
        ARGO_HOOK: f"{phase.capitalize()}Sync",
        ARGO_HOOK_DELETE: "BeforeHookCreation",
        ARGO_SYNC_WAVE: str(weight),
        HELM_HOOK: f"{phase}-install,{phase}-upgrade",
        HELM_HOOK_WEIGHT: str(weight),
        HELM_HOOK_DELETE: "before-hook-creation",
        FLUX_FORCE: "Enabled",
    }
    if weight is None:
        del annotations[ARGO_SYNC_WAVE], annotations[HELM_HOOK_WEIGHT]
    return annotations


def never_pruned() -> dict[str, str]:
    """Annotations that keep an object (data volumes) when Argo CD, Flux or Helm would delete
    or prune it."""
    return {
        ARGO_SYNC_OPTIONS: "Delete=false,Prune=false",
        FLUX_PRUNE: "disabled",
        HELM_RESOURCE_POLICY: "keep",
    }


def restricted_container_security() -> dict[str, Any]:
    """A container securityContext that passes Pod Security "restricted", read-only root."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_pod_security(uid: int = 10001, **extra: Any) -> dict[str, Any]:
    """A pod securityContext running as non-root ``uid`` (by default the user of the project's
    own images), with the fields ``extra`` (e.g. fsGroup) before the seccomp profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        **extra,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def rolling_update() -> dict[str, Any]:
    """A Deployment's update strategy: one new pod at a time, none unavailable meanwhile."""
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def container_resources(cpu: str, memory: str, memory_limit: str) -> dict[str, Any]:
    """A container's resources: requests of ``cpu`` and ``memory``, and only a memory limit."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


def port(number: int, protocol: str = "TCP") -> dict[str, Any]:
    return {"port": number, "protocol": protocol}


def ports_rule(*numbers: int, protocol: str = "TCP") -> dict[str, Any]:
    """A NetworkPolicy rule for ``protocol`` ports ``numbers`` on any address (add a peer
    with ``{"from": [...], **ports_rule(...)}``)."""
    return {"ports": [port(p, protocol) for p in numbers]}


def dns_egress() -> dict[str, Any]:
    """Egress to DNS on any address (the cluster DNS Service)."""
    return {"ports": [port(DNS_PORT, "UDP"), port(DNS_PORT)]}


def https_egress(*extra_ports: int) -> dict[str, Any]:
    """Egress to HTTPS (and ``extra_ports``) on any address."""
    return ports_rule(HTTPS_PORT, *extra_ports)


def pods_rule(selector: dict[str, str], *ports: int, direction: str = "to") -> dict[str, Any]:
    """A NetworkPolicy rule for the pods matching ``selector`` on TCP ``ports``."""
    return {direction: [{"podSelector": {"matchLabels": dict(selector)}}], **ports_rule(*ports)}


def policy_body(
    pod_selector: dict[str, Any],
    ingress: list[dict[str, Any]] | None,
    egress: list[dict[str, Any]],
) -> dict[str, Any]:
    """A NetworkPolicy that lets the pods of ``pod_selector`` (a label selector) receive only
    ``ingress`` and send only ``egress``; with ``ingress`` None it is about egress only (and
    leaves their ingress to the other policies)."""
    spec: dict[str, Any] = {"podSelector": pod_selector}
    if ingress is None:
        spec["policyTypes"] = ["Egress"]
    else:
        spec.update(policyTypes=["Ingress", "Egress"], ingress=ingress)
    spec["egress"] = egress
    return {"spec": spec}


def role_binding_body(name: str, service_account: str, namespace: str) -> dict[str, Any]:
    """Binds Role ``name`` to ServiceAccount ``service_account`` of ``namespace``."""
    return {
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
    }


def service_body(
    selector: dict[str, str], port_number: int, *, service_type: str = "ClusterIP"
) -> dict[str, Any]:
    """A Service with one TCP port named http, targeting the container port named http."""
    return {
        "spec": {
            "type": service_type,
            "selector": dict(selector),
            "sessionAffinity": "None",
            "ports": [
                {"name": "http", "port": port_number, "targetPort": "http", "protocol": "TCP"}
            ],
        }
    }


def claim_body(size: str, access_modes: list[str], storage_class: str | None) -> dict[str, Any]:
    """A PersistentVolumeClaim requesting ``size``."""
    spec: dict[str, Any] = {
        "accessModes": list(access_modes),
        "resources": {"requests": {"storage": size}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"spec": spec}
