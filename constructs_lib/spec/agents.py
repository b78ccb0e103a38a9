"""``spec.agents`` — a paperclip-gitops extension to the Instance spec (not in the
paperclip.inc/v1alpha1 CRD): agent runs as Kubernetes Jobs through the launcher.

The template schema is the launcher's own (:mod:`launcher.templates`), so what the generator
accepts is exactly what the launcher reads.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from constructs_lib.spec.base import ObjectName, Quantity, SpecModel
from launcher.templates import (
    TEMPLATE_NAME,
    JobTemplate,
    OpenCodeOptions,
    OutputFormat,
    Workspace,
)

DEFAULT_LAUNCHER_IMAGE = "ghcr.io/paperclip-gitops/launcher:0.1.0"


class AgentTemplate(JobTemplate):
    """An agent Job template. ``image`` defaults to the Paperclip image (it bakes opencode)."""

    image: str | None = None  # type: ignore[assignment]


class LauncherSpec(SpecModel):
    image: Annotated[str, Field(min_length=1)] = DEFAULT_LAUNCHER_IMAGE
    """The launcher image (launcher/Dockerfile).
    Default: ghcr.io/paperclip-gitops/launcher:0.1.0."""
    replicas: Annotated[int, Field(ge=1)] = 1
    """Launcher replicas; runs are guarded per agent across all of them. Default: 1."""
    pending_timeout_seconds: Annotated[int, Field(ge=1)] = 300
    """How long an agent pod may stay Pending before its run fails. Default: 300."""


class WorkspaceSpec(SpecModel):
    """The ReadWriteMany volume mounted at /paperclip in agent pods whose template uses
    ``workspace: shared`` (session resume). It never holds server data."""

    size: Quantity = "10Gi"
    """Default: 10Gi."""
    storage_class: ObjectName | None = None
    """A ReadWriteMany-capable StorageClass. Default: the cluster default."""


def builtin_opencode() -> AgentTemplate:
    """The built-in opencode template: `opencode run --format json` with session resume."""
    return AgentTemplate(
        opencode=OpenCodeOptions(),
        output=OutputFormat.OPENCODE,
        workspace=Workspace.SHARED,
        tier="medium",
    )


class AgentsSpec(SpecModel):
    """Agent runs as Jobs (paperclip-gitops extension). Default: disabled."""

    enabled: bool = False
    launcher: LauncherSpec = LauncherSpec()
    workspace: WorkspaceSpec = WorkspaceSpec()
    templates: dict[Annotated[str, Field(pattern=TEMPLATE_NAME)], AgentTemplate] = {}
    """Named Job templates. Empty (with agents enabled): the built-in `opencode` template."""

    @model_validator(mode="after")
    def _default_template(self) -> AgentsSpec:
        if self.enabled and not self.templates:
            object.__setattr__(self, "templates", {"opencode": builtin_opencode()})
        return self

    def resolved(self, default_image: str) -> dict[str, JobTemplate]:
        """The templates as the launcher reads them (images filled in)."""
        out = {}
        for name, template in sorted(self.templates.items()):
            data = template.model_dump(by_alias=True, exclude_none=True)
            data["image"] = template.image or default_image
            out[name] = JobTemplate.model_validate(data)
        return out

    @property
    def uses_workspace(self) -> bool:
        return any(t.workspace is Workspace.SHARED for t in self.templates.values())
