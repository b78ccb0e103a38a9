"""The agent Job template schema, shared by the generator and the launcher.

The generator validates the templates an Instance declares and writes them, resolved, into a
ConfigMap (``templates.json``); the launcher reads that file with :class:`LauncherConfig`.
This module depends on pydantic only, so the launcher image stays small.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

TEMPLATE_NAME = r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

# Resource tiers a template may name instead of spelling out resources.
RESOURCE_TIERS: dict[str, dict[str, dict[str, str]]] = {
    "small": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    "medium": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
    "large": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
}

# Environment the launcher sets for every run; a template may not set these itself.
RUN_ENV = (
    "PAPERCLIP_AGENT_ID",
    "PAPERCLIP_COMPANY_ID",
    "PAPERCLIP_RUN_ID",
    "PAPERCLIP_API_URL",
    "PAPERCLIP_API_KEY",
)


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        use_attribute_docstrings=True,
    )


class SecretRef(Model):
    name: Annotated[str, Field(min_length=1, max_length=253)]
    key: Annotated[str, Field(min_length=1)]


class TemplateEnv(Model):
    """One variable: a literal value or a Secret key (never a value from the server pod)."""

    name: Annotated[str, Field(pattern=ENV_NAME)]
    """The variable's name."""
    value: str | None = None
    """A literal value. Default: unset (then secretKeyRef is required)."""
    secret_key_ref: SecretRef | None = None
    """A key of a Secret the instance declares for agents. Default: unset."""

    @model_validator(mode="after")
    def _one_source(self) -> TemplateEnv:
        if (self.value is None) == (self.secret_key_ref is None):
            raise ValueError("set exactly one of value or secretKeyRef")
        if self.name in RUN_ENV:
            raise ValueError(f"{self.name} is set by the launcher for every run")
        return self


class Workspace(StrEnum):
    SHARED = "shared"
    NONE = "none"


class OutputFormat(StrEnum):
    PLAIN = "plain"
    OPENCODE = "opencode"


class OpenCodeOptions(Model):
    """Options of the built-in opencode template."""

    model: str | None = None
    """Model, e.g. anthropic/claude-sonnet-4-5. Default: opencode's own."""
    variant: str | None = None
    """Model variant (--variant). Default: unset."""
    resume_session: bool = True
    """Continue the agent's last opencode session. Default: true."""
    prompt_template: str = (
        "You are agent {{agent.id}} ({{agent.name}}). Continue your Paperclip work."
    )
    """Prompt rendered per run; {{agent.id}}, {{agent.name}}, {{run.id}}, {{company.id}}.
    Default: a short "continue your Paperclip work" prompt."""
    extra_args: list[str] = []
    """Arguments appended to `opencode run`. Default: none."""


class JobTemplate(Model):
    """How one kind of agent run becomes a Job."""

    image: Annotated[str, Field(min_length=1)]
    """Container image (pin a tag or digest)."""
    command: list[str] = []
    """Container command. Default: the image's entrypoint."""
    args: list[str] = []
    """Container arguments. Default: none."""
    working_dir: str | None = None
    """Working directory. Default: the image's."""
    env: list[TemplateEnv] = []
    """Variables besides the run's own PAPERCLIP_* identity. Default: none."""
    resources: dict[str, Any] | None = None
    """Container resources; or name a tier. Default: unset."""
    tier: Annotated[str, Field(pattern="^(small|medium|large)$")] | None = None
    """small, medium or large (see RESOURCE_TIERS). Default: unset."""
    timeout_seconds: Annotated[int, Field(ge=0)] = 3600
    """Default run timeout (Job activeDeadlineSeconds; 0 = none). Default: 3600."""
    ttl_seconds_after_finished: Annotated[int, Field(ge=0)] = 300
    """Seconds a finished Job is kept. Default: 300."""
    retain: bool = False
    """Keep cancelled Jobs (and their pods) instead of deleting them. Default: false."""
    node_selector: dict[str, str] = {}
    """Agent pod nodeSelector. Default: none."""
    tolerations: list[dict[str, Any]] = []
    """Agent pod tolerations. Default: none."""
    labels: dict[str, str] = {}
    """Extra labels on agent pods (e.g. cost allocation); the launcher's own labels win.
    Default: none."""
    workspace: Workspace = Workspace.NONE
    """shared: mount the agent workspace volume at /paperclip; none: an empty dir.
    Default: none."""
    output: OutputFormat = OutputFormat.PLAIN
    """plain, or opencode (JSON lines parsed into the result). Default: plain."""
    opencode: OpenCodeOptions | None = None
    """Set for opencode runs: the launcher builds the command. Default: unset."""

    @model_validator(mode="after")
    def _resources(self) -> JobTemplate:
        if self.resources is not None and self.tier is not None:
            raise ValueError("set resources or tier, not both")
        if self.opencode is not None and (self.command or self.args):
            raise ValueError("an opencode template builds its own command; drop command/args")
        return self

    def container_resources(self) -> dict[str, Any] | None:
        if self.tier:
            return RESOURCE_TIERS[self.tier]
        return self.resources


class LauncherConfig(Model):
    """Everything the launcher reads from its ConfigMap (templates.json)."""

    namespace: str
    """Where agent Jobs run."""
    instance: str
    """The Instance name (labels, names)."""
    service_account: str
    """ServiceAccount of agent pods (no token is mounted)."""
    api_url: str
    """PAPERCLIP_API_URL for agent pods (the in-cluster Service URL)."""
    workspace_claim: str | None = None
    """The shared workspace PVC, when any template uses it."""
    pending_timeout_seconds: Annotated[int, Field(ge=1)] = 300
    """How long a pod may stay Pending before the run fails."""
    templates: dict[Annotated[str, Field(pattern=TEMPLATE_NAME)], JobTemplate]
