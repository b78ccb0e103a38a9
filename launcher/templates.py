"""The agent Job template schema, shared by the generator and the launcher.

The generator validates the templates an Instance declares and writes them, resolved, into a
ConfigMap (``templates.json``); the launcher reads that file with :class:`LauncherConfig`.
This module depends on pydantic only, so the launcher image stays small.
"""

import re
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

TEMPLATE_NAME = r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$"

# An image reference, by the grammar of the container tools (distribution/reference):
# [domain[:port]/]path[:tag][@algorithm:hex]; path components lower case.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_NAME = rf"(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*"
_IMAGE_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_IMAGE_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_NAME = re.compile(_IMAGE_NAME)
IMAGE_REFERENCE = re.compile(
    rf"(?P<name>{_IMAGE_NAME})(?::(?P<tag>{_IMAGE_TAG}))?(?:@(?P<digest>{_IMAGE_DIGEST}))?"
)
MAX_IMAGE_NAME = 255


def image_reference_problem(value: object, *, name_only: bool = False) -> str | None:
    """What makes ``value`` no image reference (``name_only``: no repository name), or None.
    Nothing but the grammar passes: no whitespace, shell characters or scheme."""
    pattern = IMAGE_NAME if name_only else IMAGE_REFERENCE
    match = pattern.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        shape = "[registry[:port]/]path" if name_only else "[registry[:port]/]path[:tag][@digest]"
        return (
            f"{str(value)[:80]!r} is not an image {'repository' if name_only else 'reference'}: "
            f"write {shape} with a lower-case path, e.g. ghcr.io/org/tool"
            f"{'' if name_only else ':1.2'} (no spaces or shell characters)"
        )
    if len(match.group("name") if not name_only else match.group(0)) > MAX_IMAGE_NAME:
        return f"the repository name is longer than {MAX_IMAGE_NAME} characters"
    return None


def _image(value: str) -> str:
    problem = image_reference_problem(value)
    if problem:
        raise ValueError(problem)
    return value


ImageRef = Annotated[str, AfterValidator(_image)]
"""A container image reference (see :func:`image_reference_problem`)."""
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
# The run's task and wake context, as Paperclip's own local adapters pass it: the adapter
# sends these names with the run, the launcher sets them (literals in the Job's env).
CONTEXT_ENV = (
    "PAPERCLIP_TASK_ID",
    "PAPERCLIP_ISSUE_WORK_MODE",
    "PAPERCLIP_WAKE_REASON",
    "PAPERCLIP_WAKE_COMMENT_ID",
    "PAPERCLIP_APPROVAL_ID",
    "PAPERCLIP_APPROVAL_STATUS",
    "PAPERCLIP_LINKED_ISSUE_IDS",
    "PAPERCLIP_PROJECT_ID",
    "PAPERCLIP_WORKSPACE_ID",
    "PAPERCLIP_WORKSPACE_SOURCE",
    "PAPERCLIP_WORKSPACE_STRATEGY",
    "PAPERCLIP_WORKSPACE_REPO_URL",
    "PAPERCLIP_WORKSPACE_REPO_REF",
    "PAPERCLIP_WORKSPACE_BRANCH",
)
# Context that can be long or hold issue text: carried in the run's Secret, not the Job.
CONTEXT_SECRET_ENV = ("PAPERCLIP_WAKE_PAYLOAD_JSON", "PAPERCLIP_WORKSPACES_JSON")
# Set by the launcher for opencode runs.
OPENCODE_ENV = ("HOME", "OPENCODE_DISABLE_PROJECT_CONFIG", "OPENCODE_CONFIG")
RESERVED_ENV = frozenset((*RUN_ENV, *CONTEXT_ENV, *CONTEXT_SECRET_ENV, *OPENCODE_ENV))
# Names and paths of the Job's own volumes, which a template's extra volumes may not reuse.
RESERVED_VOLUMES = frozenset({"workspace", "run", "tmp"})
RESERVED_MOUNT_PATHS = ("/paperclip", "/run/paperclip", "/tmp", "/workspace")


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
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
    def _one_source(self) -> Self:
        if (self.value is None) == (self.secret_key_ref is None):
            raise ValueError("set exactly one of value or secretKeyRef")
        if self.name in RESERVED_ENV:
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


class AgentOverrides(Model):
    """What an agent's own settings in Paperclip may change for a run of this template. The
    launcher refuses a run that asks for more (the template stays the authority)."""

    model: bool = True
    """The agent may pick the model (opencode --model). Default: true."""
    variant: bool = True
    """The agent may pick the model variant (opencode --variant). Default: true."""
    env: bool = True
    """The agent's own environment variables (literal values from its Paperclip config,
    carried in the run's Secret; never PAPERCLIP_* or the launcher's own names) reach the
    pod. Default: true."""
    max_timeout_seconds: Annotated[int, Field(ge=0)] | None = None
    """The longest timeout an agent may ask for (0 = none). Default: the template's
    timeoutSeconds."""
    tiers: list[Annotated[str, Field(pattern="^(small|medium|large)$")]] = []
    """Resource tiers the agent may pick instead of the template's resources. Default:
    none."""
    retain: bool = True
    """The agent may ask to keep its cancelled Jobs for inspection (as the template's
    retain does; finished Jobs still go after ttlSecondsAfterFinished). Default: true."""


class JobTemplate(Model):
    """How one kind of agent run becomes a Job."""

    image: ImageRef
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
    """shared: the agent's own directory on the shared workspace volume
    (agents/<company>/<agent>) is its home at /paperclip, so sessions and files persist
    between its runs and no agent sees another's; none: an empty dir. Default: none."""
    output: OutputFormat = OutputFormat.PLAIN
    """plain, or opencode (JSON lines parsed into the result). Default: plain."""
    opencode: OpenCodeOptions | None = None
    """Set for opencode runs: the launcher builds the command. Default: unset."""
    env_from_secrets: list[Annotated[str, Field(min_length=1, max_length=253)]] = []
    """Secrets whose every key becomes a variable of the agent container (envFrom; e.g. the
    LLM API keys of spec.adapters.apiKeysSecretRef). Missing Secrets are tolerated
    (optional). Default: none."""
    image_pull_secrets: list[Annotated[str, Field(min_length=1, max_length=253)]] = []
    """imagePullSecrets of agent pods. Default: the server's image.pullSecrets."""
    service_account_name: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """ServiceAccount of agent pods, e.g. one bound to a cloud role (IRSA, workload
    identity); its token is not mounted. Default: the instance's agent ServiceAccount."""
    affinity: dict[str, Any] | None = None
    """Agent pod affinity. Default: none."""
    priority_class_name: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """Agent pod priorityClassName. Default: none."""
    runtime_class_name: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """Agent pod runtimeClassName (e.g. gvisor, kata). Default: none."""
    pod_annotations: dict[str, str] = {}
    """Annotations on agent pods. Default: none."""
    volumes: list[dict[str, Any]] = []
    """Extra pod volumes (Kubernetes Volume objects; not named workspace, run or tmp).
    Default: none."""
    volume_mounts: list[dict[str, Any]] = []
    """Extra mounts of the agent container (VolumeMount objects naming extra volumes; not
    at or under /paperclip, /run/paperclip, /tmp or /workspace). Default: none."""
    egress: list[dict[str, Any]] = []
    """Extra egress rules for this template's pods (NetworkPolicy egress rules, e.g. git
    over ssh, a proxy, an in-cluster LLM gateway), beside DNS, HTTPS and the Paperclip
    server. Default: none."""
    agent_overrides: AgentOverrides = AgentOverrides()
    """What an agent's own Paperclip settings may change per run. Default: model,
    variant and env; no timeout beyond the template's; no tiers."""

    @model_validator(mode="after")
    def _resources(self) -> Self:
        if self.resources is not None and self.tier is not None:
            raise ValueError("set resources or tier, not both")
        if self.opencode is not None and (self.command or self.args):
            raise ValueError("an opencode template builds its own command; drop command/args")
        names = [v.get("name") for v in self.volumes]
        for name in names:
            if not isinstance(name, str) or not name:
                raise ValueError("volumes: every volume needs a name")
            if name in RESERVED_VOLUMES:
                raise ValueError(f"volumes: {name!r} is a volume of the launcher's own")
        if len(set(names)) != len(names):
            raise ValueError("volumes: names must be unique")
        for mount in self.volume_mounts:
            name, path = mount.get("name"), mount.get("mountPath")
            if name not in names:
                raise ValueError(f"volumeMounts: {name!r} is not one of this template's volumes")
            if not isinstance(path, str) or not path.startswith("/"):
                raise ValueError(f"volumeMounts: mountPath of {name!r} must be absolute")
            clean = path.rstrip("/") or "/"
            if (
                any(
                    clean == p or clean.startswith(p + "/") or p.startswith(clean + "/")
                    for p in RESERVED_MOUNT_PATHS
                )
                or clean == "/"
            ):
                raise ValueError(
                    f"volumeMounts: {path} overlaps the launcher's own mounts "
                    f"({', '.join(RESERVED_MOUNT_PATHS)})"
                )
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
