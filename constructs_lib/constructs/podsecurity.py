"""Pod Security Standards "restricted": which parts of a generated pod would be refused in a
namespace that enforces it, traced back to the spec field that causes them."""

from __future__ import annotations

from typing import Any

from constructs_lib.constructs.podrefs import PodLayout, user_path
from constructs_lib.errors import Problem

ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
    "name",
}
ALLOWED_CAPABILITIES = {"NET_BIND_SERVICE"}
ALLOWED_SECCOMP = {"RuntimeDefault", "Localhost"}


def container_violations(container: dict[str, Any], pod_context: dict[str, Any]) -> list[str]:
    """Why one container fails "restricted" (empty when it passes)."""
    context = container.get("securityContext") or {}
    capabilities = context.get("capabilities") or {}
    added = set(capabilities.get("add") or []) - ALLOWED_CAPABILITIES
    non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
    seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
    checks = [
        (context.get("privileged"), "runs privileged"),
        (
            context.get("allowPrivilegeEscalation") is not False,
            "does not set allowPrivilegeEscalation: false",
        ),
        ("ALL" not in (capabilities.get("drop") or []), "does not drop ALL capabilities"),
        (added, f"adds capabilities {', '.join(sorted(added))}"),
        (non_root is not True, "does not set runAsNonRoot: true"),
        (context.get("runAsUser", pod_context.get("runAsUser")) == 0, "runs as user 0"),
        (seccomp not in ALLOWED_SECCOMP, "has no RuntimeDefault/Localhost seccomp profile"),
        (any(p.get("hostPort") for p in container.get("ports") or []), "uses a hostPort"),
    ]
    return [reason for failed, reason in checks if failed]


def pod_violations(pod: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(pod field, index in it, reason) for every part of a pod spec that fails "restricted"
    (index 0 for a pod-level field)."""
    context = pod.get("securityContext") or {}
    flags = ("hostNetwork", "hostPID", "hostIPC")
    found = [(flag, 0, f"sets {flag}") for flag in flags if pod.get(flag)]
    for index, volume in enumerate(pod.get("volumes") or []):
        kinds = set(volume) - ALLOWED_VOLUMES
        if kinds:
            found.append(("volumes", index, f"uses a {', '.join(sorted(kinds))} volume"))
    for section in ("initContainers", "containers"):
        for index, container in enumerate(pod.get(section) or []):
            for reason in container_violations(container, context):
                found.append((section, index, f"container {container['name']} {reason}"))
    return found


def server_pod_warnings(pod: dict[str, Any], where: PodLayout) -> list[Problem]:
    """Warnings for the server pod, at the spec field that causes each violation (``where``:
    the pod's :func:`~constructs_lib.constructs.podrefs.layout`)."""
    problems = []
    for section, index, reason in pod_violations(pod):
        path = user_path(f"pod.{section}[{index}]", pod, where)
        if path is None:  # a generated part of the pod: the field that configures it
            if section == "initContainers" and pod[section][index]["name"] == "selinux-relabel":
                path = "spec.security.seLinuxRelabel"
            elif section in ("initContainers", "containers"):
                path = "spec.security.containerSecurityContext"
            else:
                path = "spec.security.podSecurityContext"
        problems.append(
            Problem(
                f"{reason}: the server pod would be refused in a namespace that enforces Pod "
                'Security "restricted".',
                path,
                "change this field, or label the namespace with a less strict Pod Security "
                "level if that is intended.",
            )
        )
    return problems
