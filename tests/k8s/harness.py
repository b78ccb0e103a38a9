"""Run the launcher as a process against the test control plane, under its generated RBAC."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from tests.conftest import make_instance, synth_objects
from tests.controlplane.cluster import ControlPlane, free_port

TEMPLATES: dict[str, Any] = {
    "plain": {"image": "busybox:1.36", "command": ["sh", "-c", "echo hello"], "tier": "small"},
    "oc": {
        "image": "ghcr.io/paperclipai/paperclip:2026.1106.0",
        "output": "opencode",
        "opencode": {"model": "anthropic/claude-sonnet-4-5"},
    },
    "short": {"image": "busybox:1.36", "command": ["sleep", "1000"], "timeoutSeconds": 3},
    "badimage": {"image": "registry.invalid/nope:1", "labels": {"kwok-test/image-pull": "fail"}},
    "nowhere": {"image": "busybox:1.36", "nodeSelector": {"pool": "does-not-exist"}},
    "keep": {"image": "busybox:1.36", "retain": True},
    "hold": {"image": "busybox:1.36", "labels": {"kwok-test/hold": "pending"}},
}
PENDING_TIMEOUT = 8
# Generated objects the launcher needs (the Deployment is replaced by a local process).
NEEDED = {"ServiceAccount", "Role", "RoleBinding", "ConfigMap"}


def cri(text: str) -> str:
    return f"{datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} stdout F {text}\n"


def wait_for(what: str, condition: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ApiException):
            value = condition()
            if value:
                return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def apply(plane: ControlPlane, obj: dict[str, Any]) -> None:
    dyn = dynamic.DynamicClient(plane.api_client())
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    resource.server_side_apply(
        body=obj,
        namespace=obj["metadata"].get("namespace"),
        field_manager="tests",
        force_conflicts=True,
    )


def generated_objects(namespace: str) -> dict[str, dict[str, Any]]:
    """What the generator makes for the test instance `lt` with the test templates."""
    spec = {
        "agents": {
            "enabled": True,
            "templates": TEMPLATES,
            "launcher": {"pendingTimeoutSeconds": PENDING_TIMEOUT},
        }
    }
    return synth_objects(make_instance(spec, name="lt", namespace=namespace))


def prepare_namespace(plane: ControlPlane, namespace: str) -> dict[str, dict[str, Any]]:
    """Namespace plus the generated RBAC, ServiceAccounts and ConfigMaps; returns them."""
    core = client.CoreV1Api(plane.api_client())
    with contextlib.suppress(ApiException):
        core.create_namespace({"metadata": {"name": namespace}})
    wait_for("default SA", lambda: core.read_namespaced_service_account("default", namespace))
    objects = generated_objects(namespace)
    for obj in objects.values():
        if obj["kind"] in NEEDED:
            apply(plane, obj)
    return objects


def kubeconfig_for(
    plane: ControlPlane,
    token: str,
    path: Path,
    server: str | None = None,
    namespace: str = "default",
    token_file: Path | None = None,
) -> Path:
    """A kubeconfig with ``token``, or (``token_file``) one that names the file holding it,
    as a projected ServiceAccount token is read in a pod."""
    user: dict[str, str] = {"token": token}
    if token_file is not None:
        token_file.write_text(token)
        user = {"tokenFile": str(token_file)}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "t",
                "clusters": [
                    {
                        "name": "t",
                        "cluster": {
                            "server": server or plane.server,
                            "certificate-authority": str(plane.ca_file),
                        },
                    }
                ],
                "users": [{"name": "t", "user": user}],
                "contexts": [
                    {"name": "t", "context": {"cluster": "t", "user": "t", "namespace": namespace}}
                ],
            }
        )
    )
    return path


@dataclass
class LauncherProcess:
    plane: ControlPlane
    namespace: str
    workdir: Path
    server: str | None = None
    port: int = field(default_factory=free_port)
    token: str = "test-launcher-token"
    process: subprocess.Popen[bytes] | None = None
    extra_args: list[str] = field(default_factory=lambda: ["--disconnect-cancel-seconds", "-1"])
    token_file: bool = False
    """Read the ServiceAccount token from a file (``sa-token`` in ``workdir``), as in a pod."""
    pending_timeout: int | None = None
    """Override the generated pendingTimeoutSeconds (the benchmark starts 200 pods at once)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LauncherProcess:
        objects = generated_objects(self.namespace)
        config = self.workdir / "templates.json"
        settings = json.loads(objects["ConfigMap/lt-launcher"]["data"]["templates.json"])
        if self.pending_timeout is not None:
            settings["pendingTimeoutSeconds"] = self.pending_timeout
        config.write_text(json.dumps(settings))
        sa_token = self.plane.mint_token(self.namespace, "lt-launcher")
        kubeconfig = kubeconfig_for(
            self.plane,
            sa_token,
            self.workdir / "kubeconfig",
            self.server,
            self.namespace,
            self.workdir / "sa-token" if self.token_file else None,
        )
        log = open(self.workdir / "launcher.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "launcher",
                "serve",
                "--config",
                str(config),
                "--kubeconfig",
                str(kubeconfig),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--reap-interval",
                "1",
                *self.extra_args,
            ],
            env={**os.environ, "PAPERCLIP_LAUNCHER_TOKEN": self.token},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for("launcher health", lambda: self._health(), 20)
        return self

    def _health(self) -> bool:
        try:
            return self.call("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def public(self, path: str) -> tuple[int, Any]:
        """An unauthenticated GET (health, readiness, the OpenAPI document)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def start_run(
        self, run: str, template: str = "plain", agent: str = "agent-1", **extra: Any
    ) -> tuple[int, Any]:
        return self.call(
            "POST",
            "/v1/runs",
            {
                "agentId": agent,
                "runId": run,
                "companyId": "company-1",
                "template": template,
                **extra,
            },
        )

    def records(self, run: str, after: str = "") -> Iterator[dict[str, Any]]:
        query = f"?after={urllib.request.quote(after)}" if after else ""
        request = urllib.request.Request(
            f"{self.url}/v1/runs/{run}/log{query}",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            for raw in response:
                yield json.loads(raw)

    def log_tail(self) -> str:
        return (self.workdir / "launcher.log").read_text(errors="replace")[-3000:]


def job_pod(plane: ControlPlane, namespace: str, run: str, timeout: float = 30) -> Any:
    core = client.CoreV1Api(plane.api_client())
    return wait_for(
        f"the pod of run {run}",
        lambda: next(
            iter(
                core.list_namespaced_pod(
                    namespace, label_selector=f"paperclip.io/run-id={run}"
                ).items
            ),
            None,
        ),
        timeout,
    )


def finish(
    plane: ControlPlane,
    namespace: str,
    pod: str,
    outcome: str = "succeeded",
    exit_code: int | None = None,
) -> None:
    core = client.CoreV1Api(plane.api_client())
    patch: dict[str, Any] = {"metadata": {"labels": {"kwok-test/finish": outcome}}}
    if exit_code is not None:
        patch["metadata"]["annotations"] = {"kwok-test/exit-code": str(exit_code)}
    core.patch_namespaced_pod(pod, namespace, patch)
