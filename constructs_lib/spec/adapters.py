"""``spec.adapters``: LLM API keys, E2B, the cloud sandbox, Kubernetes execution and the
adapter registry (the operator's AdaptersSpec, field for field)."""

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

from constructs_lib.spec.base import (
    Hostname,
    IPv4CIDR,
    LocalObjectReference,
    Namespace,
    NonNegativeInt32,
    ObjectName,
    Port,
    Quantity,
    SecretKeySelector,
    SpecModel,
    StrictBool,
)
from constructs_lib.spec.platform import Resources
from launcher.templates import ENV_NAME

DEFAULT_SANDBOX_IMAGE = "ghcr.io/paperclipinc/agent-multi:latest"
ImageReference = Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._:/@-]*$")]
EnvName = Annotated[str, Field(pattern=ENV_NAME)]


def _unique(value: list[str]) -> list[str]:
    doubled = sorted({v for v in value if value.count(v) > 1})
    if doubled:
        raise ValueError(f"listed more than once: {', '.join(doubled)} (this is a set)")
    return value


class E2BSpec(SpecModel):
    """E2B cloud sandboxes for agent code execution."""

    api_key_secret_ref: SecretKeySelector
    """The Secret key holding the E2B API key (becomes E2B_API_KEY). Required."""


class SandboxPersistenceSpec(SpecModel):
    """Persistent volumes for sandbox pods."""

    enabled: StrictBool = False
    """Give sandbox pods a PersistentVolumeClaim (adds persistentvolumeclaims to the sandbox
    Role). Default: false."""
    storage_class: ObjectName | None = None
    """StorageClass of the sandbox claims. Default: unset (the cluster default)."""
    size: Quantity = "10Gi"
    """Size of each sandbox claim. Default: 10Gi."""


class InferenceProxySpec(SpecModel):
    """The operator's inference proxy (in its CRD, consumed by nothing)."""

    enabled: StrictBool = False
    """Accepted for compatibility; has no effect (as with the operator). Default: false."""
    image: ImageReference | None = None
    """Accepted for compatibility; has no effect. Default: unset."""
    port: Port = 8090
    """Accepted for compatibility; has no effect. Default: 8090."""


class CloudSandboxSpec(SpecModel):
    """Agent runs in sandbox pods the Paperclip server creates through the Kubernetes API
    (the operator's CloudSandboxSpec)."""

    enabled: StrictBool = False
    """Turn the cloud sandbox on: its RBAC, env and API-server egress. Default: false."""
    default_image: ImageReference = DEFAULT_SANDBOX_IMAGE
    """Default agent runtime image. Default: ghcr.io/paperclipinc/agent-multi:latest."""
    namespace: Namespace | None = None
    """Namespace of the sandbox pods (not created by paperclip-gitops: create it, or let
    the GitOps engine create it). Default: the Instance's namespace."""
    idle_timeout_min: NonNegativeInt32 = 30
    """Minutes an idle sandbox pod lives before it is reaped (0: not set). Default: 30."""
    resources: Resources | None = None
    """Accepted for compatibility; has no effect (the operator consumes it nowhere).
    Default: unset."""
    persistence: SandboxPersistenceSpec | None = None
    """Sandbox volumes. Default: unset (none)."""
    multi_namespace: StrictBool = False
    """One namespace per company: adds a ClusterRole and ClusterRoleBinding that let the
    server manage namespaces, Services, ServiceAccounts, Roles and RoleBindings cluster-wide.
    Default: false."""
    resource_tiers: dict[Annotated[str, Field(min_length=1)], Resources] = {}
    """Accepted for compatibility; has no effect (the operator consumes it nowhere).
    Default: none."""
    inference_proxy: InferenceProxySpec | None = None
    """Accepted for compatibility; has no effect (the operator consumes it nowhere).
    Default: unset."""


class ExecutionMode(StrEnum):
    KUBERNETES = "kubernetes"
    ANY = "any"


class KubernetesBackend(StrEnum):
    JOB = "job"
    SANDBOX_CR = "sandbox-cr"


class EgressMode(StrEnum):
    STANDARD = "standard"
    CILIUM = "cilium"


class EgressPolicy(StrEnum):
    ALLOWLIST = "allowlist"
    OPEN_INTERNET = "open-internet"


class TenantQuotaSpec(SpecModel):
    """The ResourceQuota the server gives each tenant namespace."""

    pods: Quantity
    """Maximum pods (PAPERCLIP_K8S_QUOTA_PODS). Required."""
    requests_cpu: Quantity
    """PAPERCLIP_K8S_QUOTA_REQUESTS_CPU. Required."""
    requests_memory: Quantity
    """PAPERCLIP_K8S_QUOTA_REQUESTS_MEMORY. Required."""
    limits_cpu: Quantity
    """PAPERCLIP_K8S_QUOTA_LIMITS_CPU. Required."""
    limits_memory: Quantity
    """PAPERCLIP_K8S_QUOTA_LIMITS_MEMORY. Required."""


class TenantLimitRangeSpec(SpecModel):
    """The LimitRange the server gives each tenant namespace."""

    default_cpu: Quantity
    """PAPERCLIP_K8S_LIMITRANGE_DEFAULT_CPU. Required."""
    default_memory: Quantity
    """PAPERCLIP_K8S_LIMITRANGE_DEFAULT_MEMORY. Required."""
    default_request_cpu: Quantity
    """PAPERCLIP_K8S_LIMITRANGE_DEFAULT_REQUEST_CPU. Required."""
    default_request_memory: Quantity
    """PAPERCLIP_K8S_LIMITRANGE_DEFAULT_REQUEST_MEMORY. Required."""
    max_cpu: Quantity
    """PAPERCLIP_K8S_LIMITRANGE_MAX_CPU. Required."""
    max_memory: Quantity
    """PAPERCLIP_K8S_LIMITRANGE_MAX_MEMORY. Required."""


class KubernetesExecutionSpec(SpecModel):
    """How the server runs agents on Kubernetes in execution mode ``kubernetes``."""

    backend: KubernetesBackend = KubernetesBackend.JOB
    """job (batch Jobs) or sandbox-cr (agents.x-k8s.io Sandboxes). Default: job."""
    runtime_class_name: ObjectName | None = None
    """RuntimeClass of agent pods (the server may `use` exactly this one). Default: unset."""
    namespace_prefix: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*)?$", max_length=40)] | (
        None
    ) = None
    """Prefix of the tenant namespaces. Default: unset (the server's own)."""
    egress_mode: EgressMode | None = None
    """standard or cilium (adds CiliumNetworkPolicy rights). Default: unset."""
    egress_policy: EgressPolicy = EgressPolicy.ALLOWLIST
    """allowlist or open-internet for agent pods. Default: allowlist."""
    egress_allow_fqdns: Annotated[
        list[Hostname], AfterValidator(_unique), Field(alias="egressAllowFQDNs")
    ] = []
    """Host names agent pods may reach (a set). Default: none."""
    egress_allow_cidrs: Annotated[
        list[IPv4CIDR], AfterValidator(_unique), Field(alias="egressAllowCIDRs")
    ] = []
    """IPv4 CIDRs agent pods may reach (a set). Default: none."""
    per_tenant_quota: TenantQuotaSpec | None = None
    """ResourceQuota per tenant namespace. Default: unset."""
    per_tenant_limit_range: TenantLimitRangeSpec | None = None
    """LimitRange per tenant namespace. Default: unset."""


class ExecutionSpec(SpecModel):
    """Where the server runs agents (the operator's ExecutionSpec)."""

    mode: ExecutionMode = ExecutionMode.ANY
    """kubernetes forces agent execution onto Kubernetes (mounts a ServiceAccount token and
    binds a ClusterRole); any leaves it to the server. Default: any."""
    kubernetes: KubernetesExecutionSpec | None = None
    """Settings of mode kubernetes. Default: unset (no PAPERCLIP_K8S_BACKEND: the server uses
    its own default backend, sandbox-cr, and the ClusterRole grants Sandboxes)."""


class AdapterRegistryEntry(SpecModel):
    """One adapter of the server's registry (serialized into PAPERCLIP_ADAPTERS)."""

    adapter_type: Annotated[str, Field(min_length=1)]
    """The adapter type, e.g. opencode_k8s. Required."""
    enabled: StrictBool | None = None
    """Whether the adapter is offered. Default: unset (the server's default)."""
    runtime_image: ImageReference | None = None
    """The image agent runs of this adapter use. Default: unset."""
    env_keys: list[EnvName] = []
    """Names of the env variables the adapter passes to runs. Default: none."""
    allow_fqdns: list[Hostname] = []
    """Host names runs of this adapter may reach. Default: none."""
    probe_command: list[str] = []
    """Command that checks the runtime. Default: none."""
    default_env: dict[EnvName, str] = {}
    """Literal env for runs (committed to git: never put a secret here). Default: none."""


class AdaptersSpec(SpecModel):
    """Agent adapters and where agents run (the operator's AdaptersSpec)."""

    api_keys_secret_ref: LocalObjectReference | None = None
    """A Secret with the optional keys ANTHROPIC_API_KEY and OPENAI_API_KEY. Default:
    unset."""
    e2b: Annotated[E2BSpec | None, Field(alias="e2b")] = None  # the CRD's spelling, not e2B
    """E2B sandboxes (E2B_API_KEY). Default: unset."""
    cloud_sandbox: CloudSandboxSpec | None = None
    """Sandbox pods created by the server. Default: unset (off)."""
    execution: ExecutionSpec | None = None
    """Kubernetes execution mode. Default: unset (mode any)."""
    registry: list[AdapterRegistryEntry] = []
    """The adapter registry (PAPERCLIP_ADAPTERS). Default: none (the server's built-ins)."""

    @property
    def sandbox(self) -> CloudSandboxSpec | None:
        """The cloud sandbox when it is enabled."""
        sandbox = self.cloud_sandbox
        return sandbox if sandbox is not None and sandbox.enabled else None

    @property
    def kubernetes_execution(self) -> ExecutionSpec | None:
        """The execution block when its mode is kubernetes."""
        execution = self.execution
        if execution is not None and execution.mode is ExecutionMode.KUBERNETES:
            return execution
        return None
