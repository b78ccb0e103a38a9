"""What the launcher may do in the cluster: the RBAC rules of its Role (the generator writes
them, exactly these verbs) and the self-test that asks the API server whether the launcher's
own credentials allow each one (SelfSubjectAccessReview, which every authenticated user may
create)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the generator imports RULES without the HTTP client
    from launcher.kube import KubeApi

# Exactly the calls the launcher makes (runs.py, guard.py, pods.py, relay.py).
RULES: list[dict[str, Any]] = [
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
REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def _attributes(namespace: str, group: str, resource: str, verb: str) -> dict[str, str]:
    name, _, sub = resource.partition("/")
    attributes = {"namespace": namespace, "group": group, "resource": name, "verb": verb}
    if sub:
        attributes["subresource"] = sub
    return attributes


async def _review(kube: KubeApi, attributes: dict[str, str]) -> dict[str, Any]:
    check: dict[str, Any] = {
        "resource": attributes["resource"]
        + (f"/{attributes['subresource']}" if "subresource" in attributes else ""),
        "group": attributes["group"],
        "verb": attributes["verb"],
    }
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }
    from launcher.kube import ApiError

    try:
        answer = await kube.create(REVIEWS, body)
    except ApiError as exc:
        return {**check, "allowed": False, "error": f"{exc.status} {exc.reason}"}
    status = answer.get("status", {}) if isinstance(answer, dict) else {}
    check["allowed"] = status.get("allowed") is True
    if status.get("reason"):
        check["reason"] = str(status["reason"])[:300]
    return check


async def self_test(kube: KubeApi, namespace: str) -> list[dict[str, Any]]:
    """One check per verb of :data:`RULES`: whether the launcher's credentials allow it."""
    wanted = [
        _attributes(namespace, group, resource, verb)
        for rule in RULES
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    ]
    import asyncio  # here: the generator imports RULES, and asyncio costs it 40 ms at start

    return list(await asyncio.gather(*(_review(kube, a) for a in wanted)))
