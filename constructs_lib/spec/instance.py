"""The paperclip.inc/v1alpha1 Instance: metadata and the spec, grouped as the CRD groups it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field

from constructs_lib.spec.agents import AgentsSpec
from constructs_lib.spec.base import (
    Annotations,
    Labels,
    SpecModel,
    check_dns_label,
)
from constructs_lib.spec.data import DatabaseSpec, ObjectStorageSpec, StorageSpec
from constructs_lib.spec.platform import (
    AvailabilitySpec,
    ContainerList,
    EnvFromList,
    EnvVarList,
    NetworkingSpec,
    ProbesSpec,
    Resources,
    SecuritySpec,
    VolumeList,
    VolumeMountList,
    WorkloadKind,
)
from constructs_lib.spec.server import (
    AuthSpec,
    DeploymentSpec,
    HeartbeatSpec,
    ImageSpec,
    ObservabilitySpec,
    SecretsSpec,
)
from constructs_lib.spec.unsupported import NotBuiltYet

API_VERSION = "paperclip.inc/v1alpha1"
KIND = "Instance"

# A StatefulSet's pods carry the label controller-revision-hash=<name>-<10 chars>, which must
# fit in 63 characters, so an instance name may have at most 52.
MAX_NAME_LENGTH = 52


def _instance_name(value: str) -> str:
    return check_dns_label(value, max_length=MAX_NAME_LENGTH, what="instance name")


def _namespace(value: str) -> str:
    return check_dns_label(value, max_length=63, what="namespace")


class InstanceSpec(SpecModel):
    """The desired state of one Paperclip server (paperclip.inc/v1alpha1 Instance spec)."""

    # CRD fields not built yet: setting one is an error naming it.
    branding: NotBuiltYet
    adapters: NotBuiltYet
    connections: NotBuiltYet
    plugins: NotBuiltYet
    self_configure: NotBuiltYet
    backup: NotBuiltYet
    restore_from: NotBuiltYet
    tailscale: NotBuiltYet

    image: ImageSpec = ImageSpec()
    """The server image; one of tag or digest is required."""
    deployment: DeploymentSpec = DeploymentSpec()
    database: DatabaseSpec = DatabaseSpec()
    auth: AuthSpec = AuthSpec()
    secrets: SecretsSpec = SecretsSpec()
    object_storage: ObjectStorageSpec | None = None
    heartbeat: HeartbeatSpec = HeartbeatSpec()
    storage: StorageSpec = StorageSpec()
    networking: NetworkingSpec = NetworkingSpec()
    workload: WorkloadKind = WorkloadKind.STATEFUL_SET
    """StatefulSet, Deployment or auto. Default: StatefulSet."""
    availability: AvailabilitySpec = AvailabilitySpec()
    probes: ProbesSpec = ProbesSpec()
    security: SecuritySpec = SecuritySpec()
    suspended: bool = False
    """Scale the server to 0 replicas. Default: false."""
    share_process_namespace: bool = True
    """Pod shareProcessNamespace. Default: true."""
    observability: ObservabilitySpec = ObservabilitySpec()
    env: EnvVarList = []
    """Extra server env, appended last (wins over everything generated)."""
    env_from: EnvFromList = []
    """Extra envFrom sources (generated env wins over them)."""
    resources: Resources | None = None
    """Server container resources. Default: none."""
    sidecars: ContainerList = []
    """Containers added after the server container."""
    init_containers: ContainerList = []
    """Init containers added after the generated ones."""
    extra_volumes: VolumeList = []
    extra_volume_mounts: VolumeMountList = []
    """Mounts added to the server container."""
    pod_annotations: Annotations = {}
    """Annotations on the server pods."""
    agents: AgentsSpec = AgentsSpec()
    """paperclip-gitops extension: agent runs as Kubernetes Jobs through the launcher."""


class ObjectMetadata(SpecModel):
    """Instance metadata. Fields the API server fills in are accepted and ignored, so an
    Instance exported from a cluster is valid input as it is."""

    model_config = ConfigDict(alias_generator=None)

    name: Annotated[str, AfterValidator(_instance_name)]
    """The instance name; every generated object is named after it."""
    namespace: Annotated[str, AfterValidator(_namespace)] = "default"
    """Namespace of every generated object. Default: default."""
    labels: Labels = {}
    annotations: Annotations = {}
    # Server-populated fields, accepted so exported objects load; never used.
    uid: str | None = Field(default=None, exclude=True)
    resourceVersion: str | None = Field(default=None, exclude=True)
    generation: int | None = Field(default=None, exclude=True)
    creationTimestamp: str | None = Field(default=None, exclude=True)
    managedFields: list[Any] | None = Field(default=None, exclude=True)
    finalizers: list[str] | None = Field(default=None, exclude=True)


class Instance(SpecModel):
    """A paperclip.inc/v1alpha1 Instance document."""

    api_version: Literal["paperclip.inc/v1alpha1"] = "paperclip.inc/v1alpha1"
    kind: Literal["Instance"] = "Instance"
    metadata: ObjectMetadata
    spec: InstanceSpec
    status: dict[str, Any] | None = Field(default=None, exclude=True)
    """Runtime status written by the operator; accepted and ignored."""

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace


__all__ = ["Instance", "InstanceSpec", "ObjectMetadata"]
