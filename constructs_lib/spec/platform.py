"""Spec groups for how the server runs on Kubernetes: networking, availability, probes,
security and the workload kind."""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, Strict

from constructs_lib.spec.base import (
    Annotations,
    IPv4CIDR,
    KubeSchema,
    Labels,
    MergedByKey,
    Namespace,
    NonNegativeInt32,
    NonNegativeInt64,
    ObjectName,
    Port,
    PositiveInt32,
    RouteHostname,
    SpecModel,
    StrictBool,
    dns_label_check,
)

SEVERAL_REPLICAS = 2
"""The fewest server replicas the spec rules and the builders treat as several (a shared
master key, ordinal heartbeat gating, the rules that need shared storage)."""


# Pass-through Kubernetes structures of the spec (the top level, availability, agent templates).
CONTAINER = "io.k8s.api.core.v1.Container"
POD = "io.k8s.api.core.v1.PodSpec"
Affinity = Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.Affinity")]
Tolerations = list[Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.Toleration")]]
EgressRules = list[
    Annotated[dict[str, Any], KubeSchema("io.k8s.api.networking.v1.NetworkPolicyEgressRule")]
]
EnvVarList = Annotated[
    list[Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.EnvVar")]],
    MergedByKey(CONTAINER, "env"),
]
EnvFromList = list[Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.EnvFromSource")]]
ContainerList = Annotated[
    list[Annotated[dict[str, Any], KubeSchema(CONTAINER)]], MergedByKey(POD, "containers")
]
VolumeList = Annotated[
    list[Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.Volume")]],
    MergedByKey(POD, "volumes"),
]
VolumeMountList = Annotated[
    list[Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.VolumeMount")]],
    MergedByKey(CONTAINER, "volumeMounts"),
]
Resources = Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.ResourceRequirements")]
"""Requests and limits, their quantities checked as the API server does (semantic.py)."""


class ServiceType(StrEnum):
    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"


class ServiceSpec(SpecModel):
    """The server Service."""

    type: ServiceType = ServiceType.CLUSTER_IP
    """ClusterIP, NodePort or LoadBalancer. Default: ClusterIP."""
    port: Port = 3100
    """Service port, also the container port. Default: 3100."""
    annotations: Annotations = {}
    """Service annotations. Default: none."""


class IngressTLS(SpecModel):
    """One TLS entry of the Ingress."""

    hosts: list[RouteHostname] = []
    """Host names the certificate covers. Default: the Ingress's hosts."""
    secret_name: ObjectName | None = None
    """The Secret holding the certificate (kubernetes.io/tls). Default: unset (the
    controller's default certificate)."""


class IngressSpec(SpecModel):
    """An Ingress (networking.k8s.io/v1, named after the instance) routing / on every host to
    the server Service."""

    enabled: StrictBool
    """Create the Ingress. Required."""
    ingress_class_name: ObjectName | None = None
    """IngressClass name, e.g. nginx. Default: unset (the cluster's default class)."""
    hosts: list[RouteHostname] = []
    """Host names routed to the server (one rule each, path / Prefix). Default: none (all
    hosts)."""
    tls: list[IngressTLS] = []
    """TLS entries. Default: none."""
    annotations: Annotations = {}
    """Ingress annotations; for an nginx class, long read/send timeouts for the server's
    websockets are added unless set here. Default: none."""


class ParentReference(SpecModel):
    """A Gateway the HTTPRoute attaches to."""

    name: ObjectName
    """Gateway name. Required."""
    namespace: Namespace | None = None
    """Gateway namespace. Default: the instance's namespace."""
    section_name: Annotated[str, dns_label_check("listener name", digit_first=True)] | None = None
    """Listener name on the Gateway. Default: unset (every listener)."""


class HTTPRouteSpec(SpecModel):
    """A Gateway API HTTPRoute (gateway.networking.k8s.io/v1, named after the instance)
    routing / to the server Service."""

    enabled: StrictBool
    """Create the HTTPRoute. Required."""
    parent_refs: list[ParentReference] = []
    """Gateways to attach to. Default: none (required when enabled)."""
    hostnames: list[RouteHostname] = []
    """Host names matched. Default: none (the Gateway's listeners decide)."""
    annotations: Annotations = {}
    """HTTPRoute annotations. Default: none."""


class NetworkingSpec(SpecModel):
    """How the server is reached."""

    service: ServiceSpec = ServiceSpec()
    """The server Service. Default: ClusterIP on port 3100."""
    ingress: IngressSpec | None = None
    """An Ingress for the server. Default: none."""
    http_route: HTTPRouteSpec | None = None
    """A Gateway API HTTPRoute for the server. Default: none."""


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


class PodDisruptionBudgetSpec(SpecModel):
    """A PodDisruptionBudget for the server pods (policy/v1, named after the instance)."""

    enabled: StrictBool
    """Create the PodDisruptionBudget. Required."""
    min_available: NonNegativeInt32 | None = None
    """Pods that must stay up during voluntary disruptions (node drains). Default: unset; set
    exactly one of minAvailable and maxUnavailable."""
    max_unavailable: NonNegativeInt32 | None = None
    """Pods that may be down during voluntary disruptions. Default: unset."""


class AutoScalingSpec(SpecModel):
    """A HorizontalPodAutoscaler (autoscaling/v2) for the server workload. While it is on, the
    workload leaves ``replicas`` to it (the generated manifests carry no replica count, so
    Argo CD and Flux do not fight the autoscaler)."""

    enabled: StrictBool
    """Create the HorizontalPodAutoscaler. Required."""
    min_replicas: PositiveInt32 = 1
    """Fewest replicas. Default: 1."""
    max_replicas: NonNegativeInt32 = 3
    """Most replicas (0 means the default, as in the operator). Default: 3."""
    target_cpu_utilization_percentage: PositiveInt32 | None = Field(
        default=80, alias="targetCPUUtilizationPercentage"
    )
    """Average CPU utilization (percent of requests) to aim for. Default: 80."""
    target_memory_utilization_percentage: PositiveInt32 | None = Field(
        default=None, alias="targetMemoryUtilizationPercentage"
    )
    """Average memory utilization (percent of requests) to aim for. Default: unset."""

    @property
    def effective_max(self) -> int:
        return self.max_replicas or 3


class AvailabilitySpec(SpecModel):
    """Replicas and scheduling of the server pods."""

    replicas: PositiveInt32 = 1
    """Server replicas (at least 1; use suspended to scale to 0). Default: 1."""
    node_selector: Labels = {}
    """Pod nodeSelector. Default: none."""
    tolerations: Tolerations = []
    """Pod tolerations. Default: none."""
    affinity: Affinity | None = None
    """Pod affinity. Default: none."""
    topology_spread_constraints: Annotated[
        list[Annotated[dict[str, Any], KubeSchema("io.k8s.api.core.v1.TopologySpreadConstraint")]],
        MergedByKey(POD, "topologySpreadConstraints"),
    ] = []
    """Pod topologySpreadConstraints. Default: none."""
    priority_class_name: ObjectName | None = None
    """Pod priorityClassName. Default: unset (the cluster default)."""
    termination_grace_period_seconds: NonNegativeInt64 = 1800
    """Pod terminationGracePeriodSeconds. Default: 1800."""
    server_drain: ServerDrainSpec = ServerDrainSpec()
    """preStop drain. Default: enabled, 15 seconds."""

    pod_disruption_budget: PodDisruptionBudgetSpec | None = None
    """A PodDisruptionBudget for the server. Default: none."""
    auto_scaling: AutoScalingSpec | None = None
    """A HorizontalPodAutoscaler for the server. Default: none."""

    @property
    def autoscaler(self) -> AutoScalingSpec | None:
        """The autoscaling settings when autoscaling is on."""
        scaling = self.auto_scaling
        return scaling if scaling is not None and scaling.enabled else None

    @property
    def max_replicas(self) -> int:
        """The most server replicas this spec may run (the autoscaler's maximum when on)."""
        scaling = self.autoscaler
        return scaling.effective_max if scaling else self.replicas

    @property
    def several(self) -> bool:
        """Whether several server replicas may run (see :data:`SEVERAL_REPLICAS`); the
        objects then differ where ``rules.builds_for_several`` holds."""
        return self.max_replicas >= SEVERAL_REPLICAS


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
    extra_egress: EgressRules = []
    """Egress rules appended verbatim. Default: none."""
    ingress_controller_namespaces: list[Namespace] | None = None
    """paperclip-gitops extension: namespaces whose pods (an ingress controller, a Gateway's
    proxies) may reach the server port. Default: unset — with an Ingress of a known class
    (nginx: ingress-nginx; traefik: traefik; haproxy: haproxy-controller) that namespace, with
    an HTTPRoute the namespaces of its parent Gateways; [] admits none of them."""


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
