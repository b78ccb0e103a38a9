"""``adapters.execution`` with ``mode: kubernetes`` (operator §11.2): the server runs agents
as Kubernetes workloads itself. A ClusterRole and ClusterRoleBinding ``<namespace>.<name>-
execution`` with exactly the operator's rules (no wildcard), the PAPERCLIP_EXECUTION_MODE /
PAPERCLIP_K8S_* env, the server pod's ServiceAccount token (mounted only then, or with the
cloud sandbox) and egress to the API server. Refused together with ``spec.agents``.
"""

from __future__ import annotations

from typing import Any

from constructs_lib.constructs.adapters import add_cluster_role, api_access
from constructs_lib.constructs.env import literal_entries
from constructs_lib.constructs.feature import Contribution, EnvEntry, EnvSlot, Feature
from constructs_lib.constructs.primitives import RBAC_GROUP, rule
from constructs_lib.spec import Instance
from constructs_lib.spec.adapters import EgressMode, KubernetesBackend, KubernetesExecutionSpec


def execution_rules(settings: KubernetesExecutionSpec | None) -> list[dict[str, Any]]:
    """The operator's execution ClusterRole rules (§11.2), exactly; no wildcard."""
    rules = [
        rule(
            "",
            ["namespaces", "serviceaccounts", "resourcequotas", "limitranges", "secrets"],
            ["get", "create"],
        ),
        rule(RBAC_GROUP, ["roles", "rolebindings"], ["get", "create"]),
        rule("networking.k8s.io", ["networkpolicies"], ["get", "create"]),
        rule("", ["pods"], ["get", "list"]),
        rule("", ["pods/log"], ["get"]),
        rule("", ["pods/exec"], ["create", "get"]),
        rule("batch", ["jobs", "jobs/status"], ["get", "list", "create", "delete"]),
    ]
    # Without a kubernetes block no PAPERCLIP_K8S_BACKEND is set (the CRD's default job lives
    # inside that block), so the server's sandbox provider uses its own default, sandbox-cr:
    # like the operator (`k == nil || k.Backend != "job"`), only an explicit job backend goes
    # without the Sandbox rights.
    if settings is None or settings.backend is not KubernetesBackend.JOB:
        rules.append(rule("agents.x-k8s.io", ["sandboxes"], ["get", "create", "delete"]))
    if settings is not None and settings.egress_mode is EgressMode.CILIUM:
        rules.append(rule("cilium.io", ["ciliumnetworkpolicies"], ["get", "create"]))
    if settings is not None and settings.runtime_class_name:
        runtime = rule("node.k8s.io", ["runtimeclasses"], ["get", "use"])
        rules.append({**runtime, "resourceNames": [settings.runtime_class_name]})
    return rules


def execution_env(settings: KubernetesExecutionSpec | None) -> list[EnvEntry]:
    """In the operator's order; the kubernetes block's CRD defaults (backend job, egress
    policy allowlist) are written as the API server would have filled them in. Without the
    block only the mode and in-cluster variables are set (the server then uses its own
    backend default, sandbox-cr)."""
    slot = EnvSlot.EXECUTION
    always = [("PAPERCLIP_EXECUTION_MODE", "kubernetes"), ("PAPERCLIP_K8S_IN_CLUSTER", "true")]
    if settings is None:
        return literal_entries(slot, *always)
    values: list[tuple[str, str | None]] = [
        *always,
        ("PAPERCLIP_K8S_BACKEND", settings.backend.value),
        ("PAPERCLIP_K8S_RUNTIME_CLASS_NAME", settings.runtime_class_name),
        ("PAPERCLIP_K8S_EGRESS_MODE", settings.egress_mode.value if settings.egress_mode else None),
        ("PAPERCLIP_K8S_EGRESS_POLICY", settings.egress_policy.value),
        ("PAPERCLIP_K8S_EGRESS_ALLOW_FQDNS", ",".join(settings.egress_allow_fqdns)),
        ("PAPERCLIP_K8S_EGRESS_ALLOW_CIDRS", ",".join(settings.egress_allow_cidrs)),
        ("PAPERCLIP_K8S_NAMESPACE_PREFIX", settings.namespace_prefix),
    ]
    # One variable per field of the tenant quota and limit range, named after the field (the
    # models declare their fields in the operator's order).
    for prefix, block in (
        ("QUOTA", settings.per_tenant_quota),
        ("LIMITRANGE", settings.per_tenant_limit_range),
    ):
        if block is not None:
            values += [
                (f"PAPERCLIP_K8S_{prefix}_{field.upper()}", str(getattr(block, field)))
                for field in type(block).model_fields
            ]
    return literal_entries(slot, *values)


class ExecutionFeature(Feature):
    """``adapters.execution.mode: kubernetes``."""

    id = "execution"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        return instance.spec.adapters.kubernetes_execution is not None

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        execution = instance.spec.adapters.kubernetes_execution
        assert execution is not None
        result = api_access(
            instance,
            "spec.adapters.execution.mode",
            "execution mode kubernetes",
            "execution ClusterRole is",
            "start agent workloads",
        )
        result.env = execution_env(execution.kubernetes)
        return result

    def add_objects(self) -> None:
        instance = self.context.instance
        execution = instance.spec.adapters.kubernetes_execution
        if execution is None or not instance.spec.security.rbac.create:
            return
        add_cluster_role(self.add, instance, "execution", execution_rules(execution.kubernetes))
