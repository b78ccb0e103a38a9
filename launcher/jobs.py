"""Stamp a Job (and its per-run Secret) from a reviewed template and a run request."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any

from pydantic import Field, field_validator

from launcher.templates import JobTemplate, LauncherConfig, Model, OutputFormat, Workspace
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
MAX_TIMEOUT_SECONDS = 2**31 - 1
RUN_DIR = "/run/paperclip"
WORKSPACE_DIR = "/paperclip"

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
    session_id: Annotated[str, Field(max_length=200)] | None = None
    timeout_seconds: Annotated[int, Field(ge=0, le=MAX_TIMEOUT_SECONDS)] | None = None

    @field_validator("run_id")
    @classmethod
    def _addressable(cls, value: str) -> str:
        # GET/DELETE /v1/runs/{run} must be able to name the run.
        if value in (".", ".."):
            raise ValueError("'.' and '..' cannot be addressed in a URL; use another run id")
        return value


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


def _command(template: JobTemplate, session_id: str | None) -> tuple[list[str], list[str]]:
    options = template.opencode
    if options is None:
        return list(template.command), list(template.args)
    args = ["opencode"]
    if options.model:
        args += ["--model", options.model]
    if options.variant:
        args += ["--variant", options.variant]
    if options.resume_session and session_id:
        args += ["--session", session_id]
    return ["/bin/sh", "-c", OPENCODE_SCRIPT], [*args, *options.extra_args]


def _env(
    config: LauncherConfig, template: JobTemplate, request: RunRequest, secret: str
) -> list[dict[str, Any]]:
    # An allow-list: the run's identity, the API URL and key, then the template's env.
    env: list[dict[str, Any]] = [
        {"name": "PAPERCLIP_AGENT_ID", "value": request.agent_id},
        {"name": "PAPERCLIP_COMPANY_ID", "value": request.company_id},
        {"name": "PAPERCLIP_RUN_ID", "value": request.run_id},
        {"name": "PAPERCLIP_API_URL", "value": config.api_url},
    ]
    if request.api_key:
        env.append(
            {
                "name": "PAPERCLIP_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": secret, "key": "PAPERCLIP_API_KEY"}},
            }
        )
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
    return env


def run_secret_name(job: str) -> str:
    return f"{job}-run"


def build_job(config: LauncherConfig, request: RunRequest) -> dict[str, Any]:
    """The Job for one run; raises KeyError for an unknown template."""
    template = config.templates[request.template]
    name = job_name(request.agent_id, request.run_id)
    labels = run_labels(config, request)
    command, args = _command(template, request.session_id)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": template.image,
        "env": _env(config, template, request, run_secret_name(name)),
        "volumeMounts": [
            {"name": "workspace", "mountPath": WORKSPACE_DIR},
            {"name": "run", "mountPath": RUN_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if command:
        container["command"] = command
    if args:
        container["args"] = args
    if template.working_dir:
        container["workingDir"] = template.working_dir
    resources = template.container_resources()
    if resources:
        container["resources"] = resources
    workspace: dict[str, Any] = {"name": "workspace", "emptyDir": {}}
    if template.workspace is Workspace.SHARED and config.workspace_claim:
        workspace = {
            "name": "workspace",
            "persistentVolumeClaim": {"claimName": config.workspace_claim},
        }
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": config.service_account,
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
            {"name": "run", "secret": {"secretName": run_secret_name(name), "defaultMode": 0o440}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if template.node_selector:
        pod["nodeSelector"] = dict(template.node_selector)
    if template.tolerations:
        pod["tolerations"] = list(template.tolerations)
    timeout = (
        template.timeout_seconds if request.timeout_seconds is None else request.timeout_seconds
    )
    spec: dict[str, Any] = {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": template.ttl_seconds_after_finished,
        "template": {"metadata": {"labels": {**template.labels, **labels}}, "spec": pod},
    }
    if timeout > 0:
        spec["activeDeadlineSeconds"] = timeout
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": config.namespace,
            "labels": labels,
            "annotations": {
                ANNOTATION_AGENT: request.agent_id,
                ANNOTATION_RUN: request.run_id,
                ANNOTATION_OUTPUT: template.output.value,
            },
        },
        "spec": spec,
    }


def build_run_secret(config: LauncherConfig, request: RunRequest, job: JobView) -> dict[str, Any]:
    """The per-run Secret (API key, prompt), owned by the Job so it goes with it."""
    template = config.templates[request.template]
    prompt = ""
    if template.opencode is not None:
        prompt = render_prompt(template.opencode.prompt_template, request)
    data = {"prompt": prompt}
    if request.api_key:
        data["PAPERCLIP_API_KEY"] = request.api_key
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": run_secret_name(job.name),
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
