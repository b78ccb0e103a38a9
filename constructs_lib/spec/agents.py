"""``spec.agents`` — a paperclip-gitops extension to the Instance spec (not in the
paperclip.inc/v1alpha1 CRD): agent runs as Kubernetes Jobs through the launcher.

The template schema is the launcher's own (:mod:`launcher.templates`), so what the generator
accepts is exactly what the launcher reads.
"""

from typing import Annotated, Self

from pydantic import Field, model_validator

from constructs_lib.spec.base import (
    MergedByKey,
    ObjectName,
    PositiveInt32,
    PositiveQuantity,
    SpecModel,
    StrictBool,
)
from constructs_lib.spec.data import AccessMode
from constructs_lib.spec.platform import (
    CONTAINER,
    POD,
    Affinity,
    EgressRules,
    Tolerations,
    VolumeList,
    VolumeMountList,
)
from launcher import IMAGE_REPOSITORY, __version__
from launcher.templates import (
    TEMPLATE_NAME,
    ImageRef,
    JobTemplate,
    OpenCodeOptions,
    OutputFormat,
    TemplateEnv,
    Workspace,
)

DEFAULT_LAUNCHER_IMAGE = f"{IMAGE_REPOSITORY}:{__version__}"
"""The launcher image of this release (published by .github/workflows/release.yml)."""


class AgentTemplate(JobTemplate):
    """An agent Job template. ``image`` defaults to the Paperclip image (it bakes opencode).
    Its Kubernetes blocks are checked against the Kubernetes schema field by field, so a
    mistake is reported at the template's own path."""

    image: ImageRef | None = None  # type: ignore[assignment]
    """Container image (pin a tag or digest). Default: the Paperclip server image."""
    env: Annotated[list[TemplateEnv], MergedByKey(CONTAINER, "env")] = []
    """Variables besides the run's own PAPERCLIP_* identity (names unique). Default: none."""
    image_pull_secrets: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=253)]],
        MergedByKey(POD, "imagePullSecrets", scalar_key="name"),
    ] = []
    """imagePullSecrets of agent pods (names unique). Default: the server's
    image.pullSecrets."""
    volumes: VolumeList = []
    """Extra pod volumes (Kubernetes Volume objects; not named workspace, run or tmp).
    Default: none."""
    volume_mounts: VolumeMountList = []
    """Extra mounts of the agent container (VolumeMount objects naming extra volumes; not
    at or under /paperclip, /run/paperclip, /tmp or /workspace). Default: none."""
    egress: EgressRules = []
    """Extra egress rules for this template's pods (NetworkPolicy egress rules, e.g. git
    over ssh, a proxy, an in-cluster LLM gateway), beside DNS, HTTPS and the Paperclip
    server. Default: none."""
    affinity: Affinity | None = None
    """Agent pod affinity. Default: none."""
    tolerations: Tolerations = []
    """Agent pod tolerations. Default: none."""


class LauncherSpec(SpecModel):
    """The launcher service (and the image of the in-cluster secrets bootstrap)."""

    image: ImageRef = DEFAULT_LAUNCHER_IMAGE
    """The launcher image (launcher/Dockerfile); the secrets bootstrap Job runs it too.
    Default: ghcr.io/paperclip-gitops/launcher:<this paperclip-gitops release>."""
    replicas: PositiveInt32 = 1
    """Launcher replicas; runs are guarded per agent across all of them. Default: 1."""
    pending_timeout_seconds: PositiveInt32 = 300
    """How long an agent pod may stay Pending before its run fails. Default: 300."""


class WorkspaceSpec(SpecModel):
    """The volume holding each agent's home (agents/<company>/<agent>), mounted in agent pods
    whose template uses ``workspace: shared`` (session resume). It never holds server
    data."""

    size: PositiveQuantity = "10Gi"
    """Requested size. Default: 10Gi."""
    storage_class: ObjectName | None = None
    """The StorageClass. Default: the cluster default."""
    access_mode: AccessMode = AccessMode.READ_WRITE_ONCE
    """ReadWriteOnce works with any StorageClass, on one node: agent pods run where the
    volume is attached (a single-node cluster, or pin agents with a template's nodeSelector).
    With several nodes use ReadWriteMany and a storageClass that provides it (NFS, CephFS,
    EFS, Filestore, Azure Files). Default: ReadWriteOnce."""


class AgentsSpec(SpecModel):
    """Agent runs as Jobs (paperclip-gitops extension). Default: disabled."""

    enabled: StrictBool = False
    """Run agent runs as Jobs through the launcher. Default: false."""
    launcher: LauncherSpec = LauncherSpec()
    """The launcher service. Default: one replica of the pinned launcher image."""
    workspace: WorkspaceSpec = WorkspaceSpec()
    """The shared agent workspace volume. Default: 10Gi, the cluster's default class."""
    secret_names: list[ObjectName] = []
    """The Secrets agent templates may reference (env secretKeyRef); a template naming any
    other Secret is refused, because the launcher could mount any Secret of the namespace
    into a Job. Default: none."""
    templates: dict[Annotated[str, Field(pattern=TEMPLATE_NAME)], AgentTemplate] = {}
    """Named Job templates. Default: none, which with agents enabled means the built-in
    `opencode` template."""

    @model_validator(mode="after")
    def _default_template(self) -> Self:
        if self.enabled and not self.templates:
            # the built-in template: `opencode run --format json` with session resume
            opencode = AgentTemplate(
                opencode=OpenCodeOptions(),
                output=OutputFormat.OPENCODE,
                workspace=Workspace.SHARED,
                tier="medium",
            )
            object.__setattr__(self, "templates", {"opencode": opencode})
        return self

    def resolved(
        self, default_image: str, api_keys_secret: str | None = None
    ) -> dict[str, JobTemplate]:
        """The templates as the launcher reads them: the image defaults to the server's; the
        built-in opencode template gets the LLM keys of ``api_keys_secret``
        (spec.adapters.apiKeysSecretRef) as its environment. (Image pull Secrets default to
        the launcher pod's own, which are the server's: see the launcher Deployment.)"""
        builtin = "templates" not in self.model_fields_set  # none declared: the built-in one
        out = {}
        for name, template in sorted(self.templates.items()):
            data = template.model_dump(by_alias=True, exclude_none=True)
            data["image"] = template.image or default_image
            secrets = data.get("envFromSecrets", [])
            if builtin and api_keys_secret and api_keys_secret not in secrets:
                data["envFromSecrets"] = [*secrets, api_keys_secret]
            out[name] = JobTemplate.model_validate(data)
        return out

    @property
    def uses_workspace(self) -> bool:
        return any(t.workspace is Workspace.SHARED for t in self.templates.values())
