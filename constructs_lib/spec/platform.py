"""Spec groups for how the server runs on Kubernetes: networking, availability, probes,
security and the workload kind."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, Strict

from constructs_lib.spec.base import (
    Annotations,
    IPv4CIDR,
    KubeSchema,
    NonNegativeInt32,
    NonNegativeInt64,
    ObjectName,
    Port,
    PositiveInt32,
    SpecModel,
    StrictBool,
    check_label_key,
    check_label_value,
    quantity_text,
)
from constructs_lib.spec.unsupported import NotBuiltYet

DEFAULT_PORT = 3100


class ServiceType(StrEnum):
    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"


class ServiceSpec(SpecModel):
    """The server Service."""

    type: ServiceType = ServiceType.CLUSTER_IP
    """ClusterIP, NodePort or LoadBalancer. Default: ClusterIP."""
    port: Port = DEFAULT_PORT
    """Service port, also the container port. Default: 3100."""
    annotations: Annotations = {}
    """Service annotations. Default: none."""


class NetworkingSpec(SpecModel):
    """How the server is reached."""

    service: ServiceSpec = ServiceSpec()
    """The server Service. Default: ClusterIP on port 3100."""

    # CRD fields not built yet: setting one is an error naming it.
    ingress: NotBuiltYet
    http_route: NotBuiltYet


class WorkloadKind(StrEnum):
    STATEFUL_SET = "StatefulSet"
    DEPLOYMENT = "Deployment"
    AUTO = "auto"


class ServerDrainSpec(SpecModel):
    """A preStop sleep so in-flight requests finish before the server stops."""

    enabled: StrictBool = True
    """Sleep in a preStop hook so in-flight requests finish. Default: true."""
    timeout_seconds: NonNegativeInt64 = 15
    """Seconds to sleep (clamped below the grace period). Default: 15."""


def _node_selector(value: dict[str, str]) -> dict[str, str]:
    for key, item in value.items():
        check_label_key(key)
        check_label_value(item)
    return value


class AvailabilitySpec(SpecModel):
    """Replicas and scheduling of the server pods."""

    replicas: PositiveInt32 = 1
    """Server replicas (at least 1; use suspended to scale to 0). Default: 1."""
    node_selector: Annotated[dict[str, str], AfterValidator(_node_selector)] = {}
    """Pod nodeSelector. Default: none."""
    tolerations: list[Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.Toleration")]] = []
    """Pod tolerations. Default: none."""
    affinity: Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.Affinity")] | None = None
    """Pod affinity. Default: none."""
    topology_spread_constraints: list[
        Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.TopologySpreadConstraint")]
    ] = []
    """Pod topologySpreadConstraints. Default: none."""
    priority_class_name: ObjectName | None = None
    """Pod priorityClassName. Default: unset (the cluster default)."""
    termination_grace_period_seconds: NonNegativeInt64 = 1800
    """Pod terminationGracePeriodSeconds. Default: 1800."""
    server_drain: ServerDrainSpec = ServerDrainSpec()
    """preStop drain. Default: enabled, 15 seconds."""

    # CRD fields not built yet: setting one is an error naming it.
    pod_disruption_budget: NotBuiltYet
    auto_scaling: NotBuiltYet


class ProbeType(StrEnum):
    AUTO = "auto"
    HTTP = "http"
    TCP = "tcp"


class ProbeOverride(SpecModel):
    """The numbers of one probe; each field set overrides that number alone."""

    initial_delay_seconds: NonNegativeInt32 = 0
    """Seconds before the first probe. Default: per probe (liveness 15, readiness 5,
    startup 0)."""
    period_seconds: PositiveInt32 = 10
    """Seconds between probes. Default: per probe (liveness 20, readiness 10, startup 5)."""
    timeout_seconds: PositiveInt32 = 3
    """Seconds before a probe times out. Default: per probe (liveness 5, readiness 3,
    startup 3)."""
    failure_threshold: PositiveInt32 = 3
    """Failures before the probe fails. Default: per probe (liveness 6, readiness 3,
    startup 30)."""
    success_threshold: PositiveInt32 = 1
    """Successes before the probe passes (must be 1 for liveness and startup). Default: 1."""


class LivenessProbe(ProbeOverride):
    """Liveness probe numbers (the operator's defaults)."""

    initial_delay_seconds: NonNegativeInt32 = 15
    """Seconds before the first probe. Default: 15."""
    period_seconds: PositiveInt32 = 20
    """Seconds between probes. Default: 20."""
    timeout_seconds: PositiveInt32 = 5
    """Seconds before a probe times out. Default: 5."""
    failure_threshold: PositiveInt32 = 6
    """Failures before the container is restarted. Default: 6."""
    success_threshold: Annotated[int, Strict(), Field(ge=1, le=1)] = 1
    """Must be 1 for a liveness probe. Default: 1."""


class ReadinessProbe(ProbeOverride):
    """Readiness probe numbers (the operator's defaults)."""

    initial_delay_seconds: NonNegativeInt32 = 5
    """Seconds before the first probe. Default: 5."""
    period_seconds: PositiveInt32 = 10
    """Seconds between probes. Default: 10."""
    timeout_seconds: PositiveInt32 = 3
    """Seconds before a probe times out. Default: 3."""
    failure_threshold: PositiveInt32 = 3
    """Failures before the pod is taken out of the Service. Default: 3."""


class StartupProbe(ProbeOverride):
    """Startup probe numbers (the operator's defaults: up to 150 s to start)."""

    initial_delay_seconds: NonNegativeInt32 = 0
    """Seconds before the first probe. Default: 0."""
    period_seconds: PositiveInt32 = 5
    """Seconds between probes. Default: 5."""
    timeout_seconds: PositiveInt32 = 3
    """Seconds before a probe times out. Default: 3."""
    failure_threshold: PositiveInt32 = 30
    """Failures before the container is restarted. Default: 30."""
    success_threshold: Annotated[int, Strict(), Field(ge=1, le=1)] = 1
    """Must be 1 for a startup probe. Default: 1."""


class ProbesSpec(SpecModel):
    """Server probes: the handler kind and each probe's numbers."""

    type: ProbeType = ProbeType.AUTO
    """auto (tcp when authenticated, else http), http or tcp. Default: auto."""
    liveness: LivenessProbe = LivenessProbe()
    """Default: 15/20/5/6/1 (initial delay, period, timeout, failure and success threshold)."""
    readiness: ReadinessProbe = ReadinessProbe()
    """Default: 5/10/3/3/1."""
    startup: StartupProbe = StartupProbe()
    """Default: 0/5/3/30/1."""


class NetworkPolicySpec(SpecModel):
    """The server NetworkPolicy."""

    enabled: StrictBool = True
    """Create the server NetworkPolicy. Default: true."""
    allow_ingress_cidrs: Annotated[list[IPv4CIDR], Field(alias="allowIngressCIDRs")] = []
    """Sources outside the namespace allowed to reach the server port. Default: none."""
    allow_egress_cidrs: Annotated[list[IPv4CIDR], Field(alias="allowEgressCIDRs")] = []
    """Extra egress destinations (all ports). Default: none."""
    extra_egress: list[
        Annotated[dict[str, Any], KubeSchema("io.k8s.api.networking.v1.NetworkPolicyEgressRule")]
    ] = []
    """Egress rules appended verbatim. Default: none."""


class RBACSpec(SpecModel):
    """The server's ServiceAccount."""

    create: StrictBool = True
    """Create the ServiceAccount. Default: true."""
    service_account_annotations: Annotations = {}
    """ServiceAccount annotations (e.g. IRSA). Default: none."""


class SecuritySpec(SpecModel):
    """Security contexts, NetworkPolicy and RBAC of the server."""

    pod_security_context: (
        Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.PodSecurityContext")] | None
    ) = None
    """Merged over the default pod securityContext (runAsNonRoot, runAsUser/runAsGroup/fsGroup
    1000, seccomp RuntimeDefault); set fields win. Default: unset (the default alone)."""
    container_security_context: (
        Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.SecurityContext")] | None
    ) = None
    """Merged over the restricted default securityContext of every container running the
    server image (no privilege escalation, runAsNonRoot, drop ALL, seccomp RuntimeDefault);
    set fields win. Default: unset (the default alone)."""
    se_linux_relabel: Annotated[StrictBool, Field(alias="seLinuxRelabel")] = False
    """Run a privileged init container that relabels /paperclip for SELinux. Default: false
    (opt-in; the relabel fails on NFS and non-SELinux nodes)."""
    network_policy: NetworkPolicySpec = NetworkPolicySpec()
    """The server NetworkPolicy. Default: enabled."""
    rbac: RBACSpec = RBACSpec()
    """The server ServiceAccount. Default: created, no annotations."""


# Pass-through Kubernetes structures used at the top level of the spec.
EnvVarList = list[Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.EnvVar")]]
EnvFromList = list[Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.EnvFromSource")]]
ContainerList = list[Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.Container")]]
VolumeList = list[Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.Volume")]]
VolumeMountList = list[Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.VolumeMount")]]


def _resource_quantities(value: dict[str, Any]) -> dict[str, Any]:
    for section in ("requests", "limits"):
        for name, amount in (value.get(section) or {}).items():
            try:
                quantity_text(amount)
            except ValueError as exc:
                raise ValueError(f"{section}.{name}: {exc}") from None
    return value


Resources = Annotated[
    Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.ResourceRequirements")],
    AfterValidator(_resource_quantities),
]
