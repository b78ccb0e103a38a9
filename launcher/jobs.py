"""Stamp a Job (and its per-run Secret) from a reviewed template and a run request."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, field_validator, model_validator

from launcher.opencode import SESSION_ID
from launcher.templates import (
    CONTEXT_ENV,
    CONTEXT_SECRET_ENV,
    ENV_NAME,
    RESERVED_ENV,
    RESOURCE_TIERS,
    JobTemplate,
    LauncherConfig,
    Model,
    OutputFormat,
    Workspace,
)

if TYPE_CHECKING:  # the stamping (synth's template checks) never reads a Job's status
    from launcher.views import JobView

MANAGED_BY = "paperclip-launcher"
COMPONENT = "agent-run"
CONTAINER = "agent"
LABEL_AGENT = "paperclip.io/agent-id"
LABEL_RUN = "paperclip.io/run-id"
LABEL_COMPANY = "paperclip.io/company-id"
LABEL_TEMPLATE = "paperclip.io/template"
ANNOTATION_AGENT = "paperclip.io/agent-id"
ANNOTATION_RUN = "paperclip.io/run-id"
ANNOTATION_CANCELLED = "paperclip.io/cancelled"
ANNOTATION_REASON = "paperclip.io/cancel-reason"
ANNOTATION_WATCHED = "paperclip.io/watched-at"
"""When a client last streamed the run's log (any launcher replica), RFC 3339."""
ANNOTATION_OUTPUT = "paperclip.io/output"
ANNOTATION_MODEL = "paperclip.io/model"
ANNOTATION_SESSION = "paperclip.io/resumed-session"
ANNOTATION_RETAIN = "paperclip.io/retain"
ANNOTATION_RUN_SECRET = "paperclip.io/run-secret"
"""The name of the Job's run Secret (unique per Job object: see :func:`run_secret_name`)."""
MAX_TIMEOUT_SECONDS = 2**31 - 1
RUN_DIR = "/run/paperclip"
WORKSPACE_DIR = "/paperclip"
VOLUME_ROOT = "/workspace"  # where the home-preparing init container mounts the whole volume
HOME_CONTAINER = "home"
"""An OpenCode session id as the launcher passes it on (`opencode run --session ID`): never an
option, never a path."""
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$"
MAX_RUN_SECRET_BYTES = 900 * 1024  # a Secret holds at most 1 MiB

OPENCODE_SCRIPT = """\
set -eu
mkdir -p /tmp/opencode
printf '%s' '{"permission":{"external_directory":"allow"}}' > /tmp/opencode/opencode.json
export OPENCODE_CONFIG=/tmp/opencode/opencode.json
exec opencode run --format json "$@" < /run/paperclip/prompt
"""


class RunRequest(Model):
    """What a caller asks for: one agent run."""

    agent_id: Annotated[str, Field(min_length=1, max_length=200)]
    run_id: Annotated[str, Field(min_length=1, max_length=200)]
    company_id: Annotated[str, Field(min_length=1, max_length=200)]
    template: Annotated[str, Field(min_length=1, max_length=63)]
    api_key: Annotated[str, Field(max_length=8192)] | None = Field(default=None, repr=False)
    agent_name: Annotated[str, Field(max_length=200)] = ""
    session_id: Annotated[str, Field(pattern=SESSION_ID.pattern)] | None = None
    """The OpenCode session to resume (Paperclip's saved session of the agent and task)."""
    timeout_seconds: Annotated[int, Field(ge=0, le=MAX_TIMEOUT_SECONDS)] | None = None
    prompt: Annotated[str, Field(max_length=512 * 1024)] | None = Field(default=None, repr=False)
    """The prompt (instructions, wake context, task): replaces the template's promptTemplate.
    Carried in the run's Secret (/run/paperclip/prompt)."""
    context: dict[str, Annotated[str, Field(max_length=256 * 1024)]] = Field(default={}, repr=False)
    """The task and wake context as PAPERCLIP_* variables (the names of CONTEXT_ENV and
    CONTEXT_SECRET_ENV only)."""
    env: dict[str, Annotated[str, Field(max_length=64 * 1024)]] = Field(default={}, repr=False)
    """The agent's own variables (its Paperclip config), carried in the run's Secret; only
    when the template allows it (agentOverrides.env)."""
    model: Annotated[str, Field(pattern=MODEL_NAME)] | None = None
    """The agent's model (opencode --model), when the template allows it."""
    variant: Annotated[str, Field(pattern=MODEL_NAME)] | None = None
    """The agent's model variant (opencode --variant), when the template allows it."""
    tier: Annotated[str, Field(pattern="^(small|medium|large)$")] | None = None
    """A resource tier the template allows (agentOverrides.tiers)."""
    retain: bool | None = None
    """Keep the run's Job when it is cancelled (agentOverrides.retain)."""

    @field_validator("run_id")
    @classmethod
    def _addressable(cls, value: str) -> str:
        # GET/DELETE /v1/runs/{run} must be able to name the run.
        if value in (".", ".."):
            raise ValueError("'.' and '..' cannot be addressed in a URL; use another run id")
        return value

    @field_validator("context")
    @classmethod
    def _context_names(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = set(CONTEXT_ENV) | set(CONTEXT_SECRET_ENV)
        for name in value:
            if name not in allowed:
                raise ValueError(f"{name!r} is not a context variable ({', '.join(CONTEXT_ENV)})")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(ENV_NAME, name):
                raise ValueError(f"{name!r} is not a valid environment variable name")
            if name in RESERVED_ENV or name.startswith("PAPERCLIP_"):
                raise ValueError(f"{name!r} is set by Paperclip or the launcher, not an agent")
        return value

    @model_validator(mode="after")
    def _fits_a_secret(self) -> RunRequest:
        size = sum(
            len(text.encode())
            for text in (
                self.prompt or "",
                *self.env.keys(),
                *self.env.values(),
                *self.context.values(),
            )
        )
        if size > MAX_RUN_SECRET_BYTES:
            raise ValueError(
                f"prompt, context and env take {size} bytes; a run carries at most "
                f"{MAX_RUN_SECRET_BYTES} (a Kubernetes Secret)"
            )
        return self


class RunRefused(ValueError):
    """The run asks for something its template does not allow (``field`` names it)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def check_allowed(template: JobTemplate, request: RunRequest) -> None:
    """Refuse what the template's agentOverrides do not allow."""
    allowed = template.agent_overrides
    if request.model is not None and not allowed.model:
        raise RunRefused("model", "this template does not let agents choose the model")
    if request.variant is not None and not allowed.variant:
        raise RunRefused("variant", "this template does not let agents choose the variant")
    if (request.model or request.variant) and template.opencode is None:
        raise RunRefused("model", "only opencode templates take a model or variant")
    if request.env and not allowed.env:
        raise RunRefused("env", "this template does not pass agents' own variables")
    if request.retain and not allowed.retain:
        raise RunRefused("retain", "this template does not let agents keep cancelled Jobs")
    if request.tier is not None and request.tier not in allowed.tiers:
        raise RunRefused(
            "tier",
            f"this template allows the tiers {allowed.tiers or 'none'}, not {request.tier!r}",
        )
    limit = (
        allowed.max_timeout_seconds
        if allowed.max_timeout_seconds is not None
        else template.timeout_seconds
    )
    asked = request.timeout_seconds
    if asked is not None and limit > 0 and (asked == 0 or asked > limit):
        raise RunRefused(
            "timeoutSeconds", f"this template allows at most {limit} s (asked: {asked or 'none'})"
        )


def slug(text: str, length: int) -> str:
    return re.sub(r"[^a-z0-9-]", "", text.lower())[:length].strip("-")


def job_name(agent_id: str, run_id: str) -> str:
    """A valid Job name for the pair: readable prefixes and 80 bits of a hash of both ids
    (a clash needs about 2^40 pairs; and an adopted Job's annotations are checked)."""
    digest = hashlib.sha256(f"{len(agent_id)}:{agent_id}:{run_id}".encode()).hexdigest()[:20]
    parts = [p for p in ("agent", slug(agent_id, 16), slug(run_id, 16), digest) if p]
    return "-".join(parts)


def label_value(text: str) -> str:
    """A label value that stands for ``text`` (the raw id is kept in an annotation)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", text)
    if cleaned != text or len(cleaned) > 63:
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        cleaned = f"{cleaned[:52]}-{digest}"
    return cleaned.strip("-._") or "x"


def run_labels(config: LauncherConfig, request: RunRequest) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "paperclip",
        "app.kubernetes.io/instance": config.instance,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/component": COMPONENT,
        LABEL_AGENT: label_value(request.agent_id),
        LABEL_RUN: label_value(request.run_id),
        LABEL_COMPANY: label_value(request.company_id),
        LABEL_TEMPLATE: request.template,
    }


def render_prompt(template: str, request: RunRequest) -> str:
    values = {
        "agent.id": request.agent_id,
        "agent.name": request.agent_name or request.agent_id,
        "run.id": request.run_id,
        "company.id": request.company_id,
    }
    return re.sub(
        r"\{\{\s*([a-z.]+)\s*\}\}", lambda m: values.get(m.group(1), m.group(0)), template
    )


def _command(template: JobTemplate, request: RunRequest) -> tuple[list[str], list[str]]:
    options = template.opencode
    if options is None:
        return list(template.command), list(template.args)
    args = ["opencode"]
    model = request.model or options.model
    if model:
        args += ["--model", model]
    variant = request.variant or options.variant
    if variant:
        args += ["--variant", variant]
    if options.resume_session and request.session_id:
        args += ["--session", request.session_id]
    return ["/bin/sh", "-c", OPENCODE_SCRIPT], [*args, *options.extra_args]


def run_model(template: JobTemplate, request: RunRequest) -> str | None:
    """The model an opencode run uses (the agent's, else the template's)."""
    if template.opencode is None:
        return None
    return request.model or template.opencode.model


def _from_run_secret(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _env(
    config: LauncherConfig, template: JobTemplate, request: RunRequest, secret: str
) -> list[dict[str, Any]]:
    # An allow-list: the run's identity, the API URL and key, its task context, then the
    # template's env, then the agent's own (from the run's Secret).
    env: list[dict[str, Any]] = [
        {"name": "PAPERCLIP_AGENT_ID", "value": request.agent_id},
        {"name": "PAPERCLIP_COMPANY_ID", "value": request.company_id},
        {"name": "PAPERCLIP_RUN_ID", "value": request.run_id},
        {"name": "PAPERCLIP_API_URL", "value": config.api_url},
    ]
    if request.api_key:
        env.append(_from_run_secret("PAPERCLIP_API_KEY", secret, "PAPERCLIP_API_KEY"))
    for name in CONTEXT_ENV:
        if request.context.get(name):
            env.append({"name": name, "value": request.context[name]})
    for name in CONTEXT_SECRET_ENV:
        if request.context.get(name):
            env.append(_from_run_secret(name, secret, name))
    if template.opencode is not None:
        env += [
            {"name": "OPENCODE_DISABLE_PROJECT_CONFIG", "value": "true"},
            {"name": "HOME", "value": WORKSPACE_DIR},
        ]
    for item in template.env:
        if item.secret_key_ref is not None:
            ref = item.secret_key_ref
            env.append(
                {
                    "name": item.name,
                    "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
                }
            )
        else:
            env.append({"name": item.name, "value": item.value})
    template_names = {item.name for item in template.env}
    for name in sorted(request.env):
        if name not in template_names:  # the template's own value wins
            env.append(_from_run_secret(name, secret, f"env.{name}"))
    return env


def agent_home(company_id: str, agent_id: str) -> str:
    """The agent's own directory on the shared workspace volume (relative): readable names
    and a hash of the exact ids, so no id can reach another agent's directory."""

    def part(text: str) -> str:
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        readable = slug(text, 24)
        return f"{readable}-{digest}" if readable else digest

    return f"agents/{part(company_id)}/{part(agent_id)}"


def run_secret_name(job: str, nonce: str = "") -> str:
    """The run Secret of Job ``job``. The launcher gives every Job object a fresh ``nonce``:
    a Job deleted after a failed start and made again for a retry of the same run never
    shares a name with its predecessor's Secret, which the garbage collector removes with
    that predecessor (perhaps only after the new Job was made)."""
    return f"{job}-run-{nonce}" if nonce else f"{job}-run"


def _resources(template: JobTemplate, request: RunRequest) -> dict[str, Any] | None:
    if request.tier is not None:
        return RESOURCE_TIERS[request.tier]
    return template.container_resources()


def _security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _home_init(template: JobTemplate, home: str) -> dict[str, Any]:
    """Creates the agent's own directory on the shared volume (as the agent's uid), so the
    agent container can mount exactly that directory and nothing else of the volume."""
    return {
        "name": HOME_CONTAINER,
        "image": template.image,
        "command": ["/bin/sh", "-c", 'mkdir -p "$VOLUME_ROOT/$AGENT_HOME"'],
        "env": [
            {"name": "VOLUME_ROOT", "value": VOLUME_ROOT},
            {"name": "AGENT_HOME", "value": home},
        ],
        "volumeMounts": [{"name": "workspace", "mountPath": VOLUME_ROOT}],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": _security(),
    }


def build_job(
    config: LauncherConfig,
    request: RunRequest,
    pull_secrets: list[str] | None = None,
    nonce: str = "",
) -> dict[str, Any]:
    """The Job for one run; raises KeyError for an unknown template and RunRefused for what
    the template does not allow. ``pull_secrets``: the image pull Secrets of pods whose
    template names none (the launcher's own pod's); ``nonce``: see :func:`run_secret_name`."""
    template = config.templates[request.template]
    check_allowed(template, request)
    name = job_name(request.agent_id, request.run_id)
    secret = run_secret_name(name, nonce)
    labels = run_labels(config, request)
    command, args = _command(template, request)
    shared = template.workspace is Workspace.SHARED and config.workspace_claim is not None
    home = agent_home(request.company_id, request.agent_id)
    workspace_mount: dict[str, Any] = {"name": "workspace", "mountPath": WORKSPACE_DIR}
    if shared:
        workspace_mount["subPath"] = home
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": template.image,
        "env": _env(config, template, request, secret),
        "volumeMounts": [
            workspace_mount,
            {"name": "run", "mountPath": RUN_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
            *template.volume_mounts,
        ],
        "securityContext": _security(),
    }
    if template.env_from_secrets:
        container["envFrom"] = [
            {"secretRef": {"name": secret, "optional": True}}
            for secret in template.env_from_secrets
        ]
    if command:
        container["command"] = command
    if args:
        container["args"] = args
    if template.working_dir:
        container["workingDir"] = template.working_dir
    resources = _resources(template, request)
    if resources:
        container["resources"] = resources
    workspace: dict[str, Any] = {"name": "workspace", "emptyDir": {}}
    if shared:
        workspace = {
            "name": "workspace",
            "persistentVolumeClaim": {"claimName": config.workspace_claim},
        }
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": template.service_account_name or config.service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 1000,
            "fsGroupChangePolicy": "OnRootMismatch",
        },
        "containers": [container],
        "volumes": [
            workspace,
            {"name": "run", "secret": {"secretName": secret, "defaultMode": 0o440}},
            {"name": "tmp", "emptyDir": {}},
            *template.volumes,
        ],
    }
    if shared:
        pod["initContainers"] = [_home_init(template, home)]
    pulling = template.image_pull_secrets or pull_secrets or []
    if pulling:
        pod["imagePullSecrets"] = [{"name": n} for n in pulling]
    if template.node_selector:
        pod["nodeSelector"] = dict(template.node_selector)
    if template.tolerations:
        pod["tolerations"] = list(template.tolerations)
    if template.affinity:
        pod["affinity"] = template.affinity
    if template.priority_class_name:
        pod["priorityClassName"] = template.priority_class_name
    if template.runtime_class_name:
        pod["runtimeClassName"] = template.runtime_class_name
    timeout = (
        template.timeout_seconds if request.timeout_seconds is None else request.timeout_seconds
    )
    pod_metadata: dict[str, Any] = {"labels": {**template.labels, **labels}}
    if template.pod_annotations:
        pod_metadata["annotations"] = dict(template.pod_annotations)
    spec: dict[str, Any] = {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": template.ttl_seconds_after_finished,
        "template": {"metadata": pod_metadata, "spec": pod},
    }
    if timeout > 0:
        spec["activeDeadlineSeconds"] = timeout
    annotations = {
        ANNOTATION_AGENT: request.agent_id,
        ANNOTATION_RUN: request.run_id,
        ANNOTATION_OUTPUT: template.output.value,
        ANNOTATION_RUN_SECRET: secret,
    }
    model = run_model(template, request)
    if model:
        annotations[ANNOTATION_MODEL] = model
    if request.retain:
        annotations[ANNOTATION_RETAIN] = "true"
    if template.opencode is not None and template.opencode.resume_session and request.session_id:
        annotations[ANNOTATION_SESSION] = request.session_id
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": config.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    }


def build_run_secret(config: LauncherConfig, request: RunRequest, job: JobView) -> dict[str, Any]:
    """The per-run Secret (API key, prompt, long context, the agent's own variables), owned
    by the Job so it goes with it."""
    template = config.templates[request.template]
    prompt = request.prompt
    if prompt is None:
        prompt = ""
        if template.opencode is not None:
            prompt = render_prompt(template.opencode.prompt_template, request)
    data = {"prompt": prompt}
    if request.api_key:
        data["PAPERCLIP_API_KEY"] = request.api_key
    for name in CONTEXT_SECRET_ENV:
        if request.context.get(name):
            data[name] = request.context[name]
    for name, value in request.env.items():
        data[f"env.{name}"] = value
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": job.annotation(ANNOTATION_RUN_SECRET) or run_secret_name(job.name),
            "namespace": config.namespace,
            "labels": run_labels(config, request),
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": job.name,
                    "uid": job.meta.uid,
                }
            ],
        },
        "stringData": data,
    }


def output_format(job: JobView) -> OutputFormat:
    value = job.annotation(ANNOTATION_OUTPUT)
    return OutputFormat(value) if value in set(OutputFormat) else OutputFormat.PLAIN
