"""Spec groups for how the server runs on Kubernetes: networking, availability, probes,
security and the workload kind."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from constructs_lib.spec.base import (
    Annotations,
    IPv4CIDR,
    KubeSchema,
    SpecModel,
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
    type: ServiceType = ServiceType.CLUSTER_IP
    """ClusterIP, NodePort or LoadBalancer. Default: ClusterIP."""
    port: Annotated[int, Field(ge=1, le=65535)] = DEFAULT_PORT
    """Service port, also the container port. Default: 3100."""
    annotations: Annotations = {}
    """Service annotations."""


class NetworkingSpec(SpecModel):
    service: ServiceSpec = ServiceSpec()
    """The server Service."""

    # CRD fields not built yet: setting one is an error naming it.
    ingress: NotBuiltYet
    http_route: NotBuiltYet


class WorkloadKind(StrEnum):
    STATEFUL_SET = "StatefulSet"
    DEPLOYMENT = "Deployment"
    AUTO = "auto"


class ServerDrainSpec(SpecModel):
    enabled: bool = True
    """Sleep in a preStop hook so in-flight requests finish. Default: true."""
    timeout_seconds: Annotated[int, Field(ge=0)] = 15
    """Seconds to sleep (clamped below the grace period). Default: 15."""


def _node_selector(value: dict[str, str]) -> dict[str, str]:
    for key, item in value.items():
        check_label_key(key)
        check_label_value(item)
    return value


class AvailabilitySpec(SpecModel):
    replicas: Annotated[int, Field(ge=1)] = 1
    """Server replicas (at least 1; use suspended to scale to 0). Default: 1."""
    node_selector: Annotated[dict[str, str], AfterValidator(_node_selector)] = {}
    """Pod nodeSelector."""
    tolerations: list[Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.Toleration")]] = []
    """Pod tolerations."""
    affinity: Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.Affinity")] | None = None
    """Pod affinity."""
    topology_spread_constraints: list[
        Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.TopologySpreadConstraint")]
    ] = []
    """Pod topologySpreadConstraints."""
    priority_class_name: str | None = None
    """Pod priorityClassName."""
    termination_grace_period_seconds: Annotated[int, Field(ge=0)] = 1800
    """Pod terminationGracePeriodSeconds. Default: 1800."""
    server_drain: ServerDrainSpec = ServerDrainSpec()
    """preStop drain."""

    # CRD fields not built yet: setting one is an error naming it.
    pod_disruption_budget: NotBuiltYet
    auto_scaling: NotBuiltYet


class ProbeType(StrEnum):
    AUTO = "auto"
    HTTP = "http"
    TCP = "tcp"


class ProbeOverride(SpecModel):
    """Per-field overrides of one probe's numbers (unset fields keep the defaults)."""

    initial_delay_seconds: Annotated[int, Field(ge=0)] | None = None
    period_seconds: Annotated[int, Field(ge=1)] | None = None
    timeout_seconds: Annotated[int, Field(ge=1)] | None = None
    failure_threshold: Annotated[int, Field(ge=1)] | None = None
    success_threshold: Annotated[int, Field(ge=1)] | None = None


class ProbesSpec(SpecModel):
    type: ProbeType = ProbeType.AUTO
    """auto (tcp when authenticated, else http), http or tcp. Default: auto."""
    liveness: ProbeOverride = ProbeOverride()
    readiness: ProbeOverride = ProbeOverride()
    startup: ProbeOverride = ProbeOverride()


class NetworkPolicySpec(SpecModel):
    enabled: bool = True
    """Create the server NetworkPolicy. Default: true."""
    allow_ingress_cidrs: Annotated[list[IPv4CIDR], Field(alias="allowIngressCIDRs")] = []
    """Sources outside the namespace allowed to reach the server port."""
    allow_egress_cidrs: Annotated[list[IPv4CIDR], Field(alias="allowEgressCIDRs")] = []
    """Extra egress destinations (all ports)."""
    extra_egress: list[
        Annotated[dict[str, Any], KubeSchema("io.k8s.api.networking.v1.NetworkPolicyEgressRule")]
    ] = []
    """Egress rules appended verbatim."""


class RBACSpec(SpecModel):
    create: bool = True
    """Create the ServiceAccount. Default: true."""
    service_account_annotations: Annotations = {}
    """ServiceAccount annotations (e.g. IRSA)."""


class SecuritySpec(SpecModel):
    pod_security_context: (
        Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.PodSecurityContext")] | None
    ) = None
    """Replaces the default pod securityContext (non-root 1000/1000, fsGroup 1000)."""
    container_security_context: (
        Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.SecurityContext")] | None
    ) = None
    """Replaces the default securityContext of every container running the server image."""
    se_linux_relabel: Annotated[bool, Field(alias="seLinuxRelabel")] = False
    """Run a privileged init container that relabels /paperclip for SELinux. Default: false
    (opt-in; the relabel fails on NFS and non-SELinux nodes)."""
    network_policy: NetworkPolicySpec = NetworkPolicySpec()
    rbac: RBACSpec = RBACSpec()


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
