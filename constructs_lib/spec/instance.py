"""The paperclip.inc/v1alpha1 Instance: metadata and the spec, grouped as the CRD groups it."""

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from constructs_lib.spec.adapters import AdaptersSpec
from constructs_lib.spec.agents import AgentsSpec
from constructs_lib.spec.base import (
    Annotations,
    Labels,
    Namespace,
    SpecModel,
    StrictBool,
    dns_label_check,
)
from constructs_lib.spec.data import (
    BackupSpec,
    DatabaseSpec,
    ObjectStorageSpec,
    RestoreSource,
    StorageSpec,
)
from constructs_lib.spec.extras import BrandingSpec, ConnectionsSpec, Plugins, SelfConfigureSpec
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
from constructs_lib.spec.tailscale import TailscaleSpec

API_VERSION = "paperclip.inc/v1alpha1"
KIND = "Instance"

# A StatefulSet's pods carry the label controller-revision-hash=<name>-<10 chars>, which must
# fit in 63 characters, so an instance name may have at most 52.
MAX_NAME_LENGTH = 52


class InstanceSpec(SpecModel):
    """The desired state of one Paperclip server (paperclip.inc/v1alpha1 Instance spec)."""

    branding: BrandingSpec | None = None
    """UI branding from a ConfigMap. Default: unset (none)."""
    adapters: AdaptersSpec = AdaptersSpec()
    """LLM keys, E2B, cloud sandbox, Kubernetes execution, adapter registry. Default: none."""
    connections: ConnectionsSpec | None = None
    """OAuth credentials of connections. Default: unset (none)."""
    plugins: Plugins = []
    """Refused when not empty (installed through the server, not declaratively). Default: none."""
    self_configure: SelfConfigureSpec = SelfConfigureSpec()
    """Must stay disabled: configuration changes come through git. Default: disabled."""
    backup: BackupSpec | None = None
    """pg_dump backups to S3 (backup.schedule) and the server's own backups
    (backup.appNative). Default: unset (no backup CronJob)."""
    restore_from: RestoreSource = None
    """The backup the restore CronJob <name>-db-restore restores: latest, or a key. It is run
    by hand (kubectl create job --from=cronjob/<name>-db-restore ...; see docs/data-tier.md,
    Restore), never by a sync. Default: unset (latest)."""
    tailscale: TailscaleSpec | None = None
    """A Tailscale sidecar serving the server on the tailnet. Default: none."""

    image: ImageSpec = ImageSpec()
    """The server image; one of tag or digest is required. Default: repository
    ghcr.io/paperclipai/paperclip, no tag."""
    deployment: DeploymentSpec = DeploymentSpec()
    """Mode and exposure. Default: authenticated, private."""
    database: DatabaseSpec = DatabaseSpec()
    """Where the data lives. Default: managed PostgreSQL (postgres:17-alpine, 10Gi)."""
    auth: AuthSpec = AuthSpec()
    """Authentication. Default: no secret reference."""
    secrets: SecretsSpec = SecretsSpec()
    """How stored secrets are encrypted. Default: local_encrypted."""
    object_storage: ObjectStorageSpec | None = None
    """S3-compatible file storage. Default: unset (files on the data volume)."""
    heartbeat: HeartbeatSpec = HeartbeatSpec()
    """The agent heartbeat scheduler. Default: enabled, 60000 ms, ordinal gating."""
    storage: StorageSpec = StorageSpec()
    """The data volume. Default: 5Gi ReadWriteOnce."""
    networking: NetworkingSpec = NetworkingSpec()
    """Service (and later ingress). Default: ClusterIP on 3100."""
    workload: WorkloadKind = WorkloadKind.STATEFUL_SET
    """StatefulSet, Deployment or auto. Default: StatefulSet."""
    availability: AvailabilitySpec = AvailabilitySpec()
    """Replicas and scheduling. Default: 1 replica, grace period 1800 s."""
    probes: ProbesSpec = ProbesSpec()
    """Probe handler and numbers. Default: auto with the operator's numbers."""
    security: SecuritySpec = SecuritySpec()
    """Security contexts, NetworkPolicy, RBAC. Default: restricted, policy on."""
    suspended: StrictBool = False
    """Scale the server to 0 replicas. Default: false."""
    share_process_namespace: StrictBool = True
    """Pod shareProcessNamespace. Default: true."""
    observability: ObservabilitySpec = ObservabilitySpec()
    """Logging (and later metrics). Default: log level info."""
    env: EnvVarList = []
    """Extra server env, appended last: an entry wins over a generated literal variable of
    the same name (those are in the instance ConfigMap); one named like a variable the
    generator sets from a Secret or builds from others (e.g. DATABASE_URL of the managed
    database) is refused. Names are unique. Default: none."""
    env_from: EnvFromList = []
    """Extra envFrom sources (generated env wins over them). Default: none."""
    resources: Resources | None = None
    """Server container resources (also given to the onboard init container). Default: none."""
    sidecars: ContainerList = []
    """Containers added after the server container. Default: none."""
    init_containers: ContainerList = []
    """Init containers added after the generated ones. Default: none."""
    extra_volumes: VolumeList = []
    """Volumes added to the server pod. Default: none."""
    extra_volume_mounts: VolumeMountList = []
    """Mounts added to the server container. Default: none."""
    pod_annotations: Annotations = {}
    """Annotations on the server pods. Default: none."""
    agents: AgentsSpec = AgentsSpec()
    """paperclip-gitops extension: agent runs as Kubernetes Jobs through the launcher.
    Default: disabled."""


class ObjectMetadata(SpecModel):
    """Instance metadata. Fields the API server fills in are accepted and ignored, so an
    Instance exported from a cluster is valid input as it is."""

    model_config = ConfigDict(alias_generator=None)

    name: Annotated[str, dns_label_check("instance name", MAX_NAME_LENGTH)]
    """The instance name; every generated object is named after it. Required."""
    namespace: Namespace = "default"
    """Namespace of every generated object. Default: default."""
    labels: Labels = {}
    """Labels carried onto every generated object (generated labels win). Default: none."""
    annotations: Annotations = {}
    """Annotations carried onto every generated object (generated annotations win; the
    kubectl last-applied annotation is dropped). Default: none."""
    # Server-populated fields, accepted so exported objects load; never used.
    uid: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    resourceVersion: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    generation: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    creationTimestamp: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    managedFields: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    finalizers: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    selfLink: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    ownerReferences: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    deletionTimestamp: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    deletionGracePeriodSeconds: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    generateName: SkipJsonSchema[Any] = Field(default=None, exclude=True)


class Instance(SpecModel):
    """A paperclip.inc/v1alpha1 Instance document."""

    api_version: Literal["paperclip.inc/v1alpha1"] = "paperclip.inc/v1alpha1"
    """Default: paperclip.inc/v1alpha1 (the only version)."""
    kind: Literal["Instance"] = "Instance"
    """Default: Instance."""
    metadata: ObjectMetadata
    """Name, namespace, labels and annotations. Required."""
    spec: InstanceSpec
    """The desired state. Required."""
    status: SkipJsonSchema[Any] = Field(default=None, exclude=True)
    """Runtime status written by the operator; accepted and ignored."""

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace


__all__ = ["Instance", "InstanceSpec", "ObjectMetadata"]
