"""``spec.adapters``: LLM API keys, E2B, the cloud sandbox and the adapter registry
(Kubernetes execution is in ``execution.py``).

The cloud sandbox lets the Paperclip server create agent pods itself (operator §11.1): a Role
and RoleBinding ``<name>-sandbox`` in the sandbox namespace with exactly the operator's rules,
with ``multiNamespace`` a ClusterRole and ClusterRoleBinding, the sandbox env, egress to the
API server on 6443, and the server pod's ServiceAccount token (the only way the server can
call the API). It gives the Paperclip pod Kubernetes credentials, which ``spec.agents`` (runs
as Jobs through a least-privilege launcher) exists to avoid: the two refuse to be combined.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from constructs_lib.constructs.env import literal_entries, secret_entry
from constructs_lib.constructs.feature import Contribution, EnvEntry, EnvSlot, Feature
from constructs_lib.constructs.kube import ObjectAdder
from constructs_lib.constructs.names import API_SERVER_PORT, server_name
from constructs_lib.constructs.primitives import RBAC_GROUP, ports_rule, role_binding_body, rule
from constructs_lib.errors import Problem
from constructs_lib.spec import Instance
from constructs_lib.spec.adapters import CloudSandboxSpec

LLM_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")
NAMESPACE_LABEL = "paperclip.inc/instance-namespace"
_SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "KEY", "CREDENTIAL")


def add_cluster_role(
    add: ObjectAdder, instance: Instance, suffix: str, rules: list[dict[str, Any]]
) -> None:
    """ClusterRole and ClusterRoleBinding ``<namespace>.<name>-<suffix>``: ``rules`` for the
    server's ServiceAccount. A namespace and an instance name are DNS labels (no dots), so the
    dot keeps every (namespace, name) pair distinct, where the operator's ``<namespace>-<name>-``
    lets ``a-b``/``c`` and ``a``/``b-c`` collide. At most 63 + 1 + 52 + 1 + 9 characters: far
    below the 253 of an object name."""
    name = f"{instance.namespace}.{instance.name}-{suffix}"
    # cluster-scoped objects also name the instance's namespace (they have no namespace)
    labels = {**add.labels, NAMESPACE_LABEL: instance.namespace}
    add("ClusterRole", name, {"rules": rules}, labels=labels, cluster_scoped=True)
    binding = role_binding_body(name, server_name(instance), instance.namespace)
    binding["roleRef"]["kind"] = "ClusterRole"
    add("ClusterRoleBinding", name, binding, labels=labels, cluster_scoped=True)


def sandbox_namespace(instance: Instance, sandbox: CloudSandboxSpec) -> str:
    return sandbox.namespace or instance.namespace


def sandbox_rules(sandbox: CloudSandboxSpec) -> list[dict[str, Any]]:
    """The operator's sandbox Role rules (§11.1), exactly."""
    rules = [
        rule("", ["pods"], ["create", "get", "list", "watch", "delete", "patch"]),
        rule("", ["pods/exec"], ["create", "get"]),
        rule("", ["pods/log"], ["get"]),
        rule("networking.k8s.io", ["networkpolicies"], ["create", "get", "update", "patch"]),
    ]
    if sandbox.persistence is not None and sandbox.persistence.enabled:
        rules.append(rule("", ["persistentvolumeclaims"], ["create", "get", "list", "delete"]))
    return rules


def sandbox_cluster_rules(sandbox: CloudSandboxSpec) -> list[dict[str, Any]]:
    """The sandbox rules plus what per-company namespaces need (``multiNamespace``)."""
    crud = ["get", "list", "watch", "create", "update", "patch", "delete"]
    return [
        *sandbox_rules(sandbox),
        rule("", ["namespaces"], ["create", "get", "list", "delete"]),
        rule("", ["services", "serviceaccounts"], crud),
        rule(
            RBAC_GROUP,
            ["roles", "rolebindings"],
            ["get", "list", "create", "update", "patch", "delete"],
        ),
    ]


def sandbox_env(instance: Instance, sandbox: CloudSandboxSpec) -> list[EnvEntry]:
    persistence = sandbox.persistence
    kept = persistence if persistence is not None and persistence.enabled else None
    placement = instance.spec.availability
    selector, tolerations = placement.node_selector, placement.tolerations
    return literal_entries(
        EnvSlot.CLOUD_SANDBOX,
        ("PAPERCLIP_CLOUD_SANDBOX_ENABLED", "true"),
        ("PAPERCLIP_CLOUD_SANDBOX_NAMESPACE", sandbox_namespace(instance, sandbox)),
        ("PAPERCLIP_CLOUD_SANDBOX_DEFAULT_IMAGE", sandbox.default_image),
        (
            "PAPERCLIP_CLOUD_SANDBOX_IDLE_TIMEOUT_MIN",
            str(sandbox.idle_timeout_min) if sandbox.idle_timeout_min > 0 else None,
        ),
        ("PAPERCLIP_CLOUD_SANDBOX_PERSISTENCE_ENABLED", "true" if kept else None),
        ("PAPERCLIP_CLOUD_SANDBOX_PERSISTENCE_STORAGE_CLASS", kept.storage_class if kept else None),
        ("PAPERCLIP_CLOUD_SANDBOX_PERSISTENCE_SIZE", str(kept.size) if kept else None),
        ("PAPERCLIP_CLOUD_SANDBOX_MULTI_NAMESPACE", "true" if sandbox.multi_namespace else None),
        ("PAPERCLIP_CLOUD_SANDBOX_NODE_SELECTOR", _json(dict(selector)) if selector else None),
        ("PAPERCLIP_CLOUD_SANDBOX_TOLERATIONS", _json(list(tolerations)) if tolerations else None),
    )


def _json(value: Any) -> str:
    """Compact JSON as Go's encoding/json writes it (map keys sorted)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def registry_json(instance: Instance) -> str:
    """``spec.adapters.registry`` as the JSON array the server reads from PAPERCLIP_ADAPTERS
    (fields in declaration order, unset and empty fields left out)."""
    registry = instance.spec.adapters.registry
    dumps = (e.model_dump(by_alias=True, exclude_none=True, mode="json") for e in registry)
    entries = [{k: v for k, v in data.items() if v not in ([], {})} for data in dumps]
    return json.dumps(entries, separators=(",", ":"), ensure_ascii=False)


def api_access(instance: Instance, path: str, what: str, rules: str, action: str) -> Contribution:
    """What the server pod needs to call the Kubernetes API for ``what`` (set at ``path``): its
    ServiceAccount token and egress to the API server's port (the ``kubernetes`` Service is
    translated to the API server's own address and port before the policy applies: #15,
    k3s/Flannel). Refused together with spec.agents; a warning while security.rbac.create
    leaves out the ``rules`` the server needs to ``action``."""
    result = Contribution(egress=[ports_rule(API_SERVER_PORT)], service_account_token=True)
    if instance.spec.agents.enabled:
        result.errors.append(
            Problem(
                f"{what} gives the Paperclip pod Kubernetes credentials to create agent pods "
                "itself, which spec.agents (agent runs as Jobs through the least-privilege "
                "launcher) exists to avoid; the two cannot be combined.",
                path=path,
                fix="choose one: keep spec.agents (recommended: the server holds no Kubernetes "
                f"credentials) and remove {path.removeprefix('spec.')}, or set agents.enabled "
                "to false.",
            )
        )
    if not instance.spec.security.rbac.create:
        result.warnings.append(
            Problem(
                f"security.rbac.create is false, so the {rules} not generated; the server "
                f"cannot {action} until you grant ServiceAccount {server_name(instance)} "
                "those rules yourself.",
                path=path,
                fix="set security.rbac.create to true, or bind the rules listed in "
                "docs/security.md (RBAC).",
            )
        )
    return result


def _sandbox(instance: Instance, sandbox: CloudSandboxSpec) -> Contribution:
    """The cloud sandbox's env and API access, and a warning for each field without effect."""
    base = "spec.adapters.cloudSandbox"
    unused = {
        "resources": sandbox.resources is not None,
        "resourceTiers": bool(sandbox.resource_tiers),
        "inferenceProxy": sandbox.inference_proxy is not None,
    }
    warnings = [
        Problem(
            "has no effect: neither the operator nor the Paperclip server reads it.",
            path=f"{base}.{field}",
            fix="remove it (size sandbox pods through the adapter's own settings).",
        )
        for field, present in unused.items()
        if present
    ]
    roles = "Role and ClusterRole are" if sandbox.multi_namespace else "Role is"
    result = api_access(
        instance, f"{base}.enabled", "the cloud sandbox", f"sandbox {roles}", "create sandbox pods"
    )
    result.env = sandbox_env(instance, sandbox)
    result.warnings[:0] = warnings
    return result


def _registry_warnings(instance: Instance) -> list[Problem]:
    return [
        Problem(
            f"{key} looks like a secret, and defaultEnv values are written to git "
            "(the instance ConfigMap).",
            path=f"spec.adapters.registry[{index}].defaultEnv.{key}",
            fix="list the name in envKeys and provide the value from a Secret.",
        )
        for index, entry in enumerate(instance.spec.adapters.registry)
        for key in entry.default_env
        if any(word in key.upper() for word in _SECRET_WORDS)
    ]


class AdaptersFeature(Feature):
    """``adapters.apiKeysSecretRef``, ``adapters.e2b``, ``adapters.cloudSandbox`` and
    ``adapters.registry``."""

    id = "adapters"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        adapters = instance.spec.adapters
        return bool(
            adapters.api_keys_secret_ref is not None
            or adapters.e2b is not None
            or adapters.sandbox is not None
            or adapters.registry
        )

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        adapters = instance.spec.adapters
        result = Contribution()
        if adapters.api_keys_secret_ref is not None:
            name = adapters.api_keys_secret_ref.name
            result.env += [
                EnvEntry(k, secret_name=name, secret_key=k, optional=True, slot=EnvSlot.LLM_KEYS)
                for k in LLM_KEYS
            ]
        if adapters.e2b is not None:
            ref = adapters.e2b.api_key_secret_ref
            result.env.append(secret_entry("E2B_API_KEY", ref, EnvSlot.E2B))
        if adapters.sandbox is not None:
            result = Contribution.combine([result, _sandbox(instance, adapters.sandbox)])
        if adapters.registry:
            result.env.append(
                EnvEntry("PAPERCLIP_ADAPTERS", registry_json(instance), slot=EnvSlot.ADAPTERS)
            )
            result.warnings += _registry_warnings(instance)
        return result

    def add_objects(self) -> None:
        instance = self.context.instance
        sandbox = instance.spec.adapters.sandbox
        if sandbox is None or not instance.spec.security.rbac.create:
            return
        name = f"{instance.name}-sandbox"
        add = partial(self.add, namespace=sandbox_namespace(instance, sandbox))
        add("Role", name, {"rules": sandbox_rules(sandbox)})
        add("RoleBinding", name, role_binding_body(name, server_name(instance), instance.namespace))
        if sandbox.multi_namespace:
            add_cluster_role(self.add, instance, "sandbox", sandbox_cluster_rules(sandbox))
