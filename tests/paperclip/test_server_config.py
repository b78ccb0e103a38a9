"""The generator's server configuration boots the real Paperclip server.

For the quickstart app (as committed in dist/) and for production-like authenticated apps
synthesized here, the environment that dist/ gives the server container (ConfigMap + literal
env, secretKeyRefs resolved to test values, paths mapped into a temp dir, DATABASE_URL at a
real local PostgreSQL for the external mode) starts the real server, after the generated
`onboard` init container's step, and the server then runs with the deployment mode,
exposure, public URL and allowed hostnames that the spec says. Every env name the generator
writes must be one the server (or the k8s_launcher adapter running in it) reads.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from constructs_lib.spec import Instance
from constructs_lib.spec.loader import load_app
from tests.controlplane.cluster import free_port
from tests.paperclip.dist_env import ServerPod
from tests.paperclip.server import (
    QUIET_ENV,
    LocalPostgres,
    PaperclipError,
    PaperclipServer,
    Runner,
    http,
    onboard,
)

pytestmark = [pytest.mark.paperclip, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
ADAPTER = REPO / "launcher/adapter"
# Where the server's (and its SDKs') code reads env names. The AWS SDK reads the S3
# credentials; the k8s_launcher adapter runs in the server process and reads the launcher's.
READERS = ("node_modules/@paperclipai", "node_modules/@aws-sdk", "node_modules/@smithy")
SCOPES = frozenset(r.split("/")[1] for r in READERS)  # a file counts if its package is in one


def authenticated_app(
    name: str,
    exposure: str,
    *,
    public_url: str | None = None,
    disable_sign_up: bool = True,
    probes: str = "http",
) -> str:
    """A production-like authenticated Instance: external PostgreSQL, auth and master key
    through Secret references, persistence, HTTP probes (or ``probes``: auto, tcp)."""
    deployment = f"{{mode: authenticated, exposure: {exposure}"
    if public_url:
        deployment += f", publicURL: {public_url}"
    deployment += ", allowedHostnames: [paperclip.internal.example.com]}"
    return f"""\
apiVersion: paperclip.inc/v1alpha1
kind: Instance
metadata: {{name: {name}, namespace: team}}
spec:
  image: {{tag: "2026.1106.0"}}
  deployment: {deployment}
  database:
    mode: external
    externalURLSecretRef: {{name: {name}-db, key: DATABASE_URL}}
  auth:
    secretRef: {{name: {name}-auth, key: BETTER_AUTH_SECRET}}
    disableSignUp: {"true" if disable_sign_up else "false"}
  secrets:
    masterKeySecretRef: {{name: {name}-master-key, key: master-key}}
  storage:
    persistence: {{enabled: true, size: 5Gi}}
  probes: {{type: {probes}}}
  env:
    - {{name: PAPERCLIP_TELEMETRY_DISABLED, value: "1"}}
"""


@dataclass
class App:
    """One synthesized app: its spec and the generated server pod."""

    instance: Instance
    pod: ServerPod


def synth(app_file: Path, out: Path) -> App:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "paperclip-gitops"),
            "synth",
            str(app_file),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
    )
    assert result.returncode == 0, f"synth {app_file.name} failed:\n{result.stderr}"
    [instance] = load_app(app_file).instances
    return App(
        instance, ServerPod.from_dir(out / app_file.stem / "kustomize", instance.metadata.name)
    )


def quickstart() -> App:
    """The quickstart as committed in dist/ (whatever the generator currently writes)."""
    [instance] = load_app(REPO / "apps/quickstart.py").instances
    name = instance.metadata.name
    return App(instance, ServerPod.from_dir(REPO / "dist/quickstart/kustomize", name))


def secret_values(pod: ServerPod, database_url: str | None) -> dict[tuple[str, str], str]:
    """A test value for every secret the server container references (never printed)."""
    values: dict[tuple[str, str], str] = {}
    for secret, key, _optional in pod.secret_refs():
        if key == "DATABASE_URL":
            assert database_url, f"{secret}/{key}: the app needs an external database"
            values[(secret, key)] = database_url
        elif "master" in key:
            values[(secret, key)] = base64.b64encode(secrets.token_bytes(32)).decode()
        else:
            values[(secret, key)] = secrets.token_hex(24)
    return values


@dataclass
class Booted:
    app: App = field(repr=False)
    env: dict[str, str] = field(repr=False)  # holds test secret values: never printed
    server: PaperclipServer = field(repr=False)
    onboard_log: str = field(repr=False)


@pytest.fixture
def boot(paperclip_runner: Runner) -> Iterator[Callable[..., Booted]]:
    """boot(app, database_url, drop=()) runs the generated pod's steps: the onboard init
    container's `paperclipai onboard --yes`, then the server with the container's env
    (``drop`` names env entries to leave out). Both also get QUIET_ENV: telemetry off (these
    machines have no internet) and migrations applied without a prompt, as the server does
    anyway when stdin is not a terminal (in a container, and here)."""
    servers: list[PaperclipServer] = []

    def run(app: App, database_url: str | None = None, drop: tuple[str, ...] = ()) -> Booted:
        runner = paperclip_runner
        root = runner.workdir("pod")
        paths = {mount: runner.own(local) for mount, local in app.pod.mounts(root).items()}
        port = free_port()
        values = secret_values(app.pod, database_url)
        env = {k: v for k, v in app.pod.env(values, paths, port).items() if k not in drop}
        assert Path(env.get("PAPERCLIP_HOME", "(unset)")).is_relative_to(root), (
            "the server container's PAPERCLIP_HOME is not on a mounted volume"
        )
        onboard_log = ""
        init = app.pod.init_container("onboard")
        if init is not None:
            init_env = {
                k: v
                for k, v in app.pod.env(values, paths, port, container=init).items()
                if k not in drop
            }
            home = Path(init_env.get("PAPERCLIP_HOME", "(unset)"))
            assert home.is_relative_to(root), (
                f"the onboard container's PAPERCLIP_HOME ({home}) is not on a mounted volume"
            )
            instance_id = init_env.get("PAPERCLIP_INSTANCE_ID", "default")
            config = home / "instances" / instance_id / "config.json"
            try:
                onboard_log = onboard(runner, {**init_env, **QUIET_ENV}, root, config)
            except PaperclipError as exc:
                failure = str(exc)
            else:
                failure = ""
            if failure:
                pytest.fail(failure, pytrace=False)
        server = PaperclipServer(runner, runner.own(root / "server"), {**env, **QUIET_ENV}, port)
        servers.append(server)
        try:
            server.start()
        except PaperclipError as exc:
            failure = str(exc)
        else:
            failure = ""
        if failure:
            pytest.fail(
                f"the server did not boot with the env dist/ gives it "
                f"({', '.join(sorted(env))}):\n{failure}",
                pytrace=False,
            )
        return Booted(app, env, server, onboard_log)

    yield run
    for server in servers:
        server.stop()


def assert_runs_as_specified(booted: Booted) -> None:
    """Mode, exposure, public URL and allowed hostnames as the spec says, read back from the
    server (health, the private-hostname guard, its auth configuration)."""
    spec = booted.app.instance.spec.deployment
    server = booted.server
    status, health = server.health()
    assert status == 200 and health["status"] == "ok", health
    mode = spec.mode.value
    assert health.get("deploymentMode") == mode, health
    if "deploymentExposure" in health:
        assert health["deploymentExposure"] == spec.exposure.value, health
    if spec.exposure.value == "private":
        # the guard admits exactly loopback names and the allowed hostnames
        for host in [*spec.allowed_hostnames, "localhost"]:
            assert server.health(host=f"{host}:3100")[0] == 200, host
        assert server.health(host="not-allowed.example.com")[0] == 403
    else:
        assert server.health(host="anything.example.com")[0] == 200
    if spec.public_url is not None:
        logged = re.findall(r'"authPublicBaseUrl":"([^"]*)"', server.log_tail(200_000))
        assert logged, f"the server logged no auth base URL:\n{server.log_tail()}"
        assert logged[-1].rstrip("/") == str(spec.public_url).rstrip("/")


def pod_ip() -> str:
    """A non-loopback address of this machine: where a kubelet's probe connects (the pod IP),
    so a server bound to loopback only fails the probe as it would in a cluster."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        sock.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        address = str(sock.getsockname()[0])
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    address = socket.gethostbyname(socket.gethostname())
    assert not address.startswith("127."), "no non-loopback address to probe the server at"
    return address


def assert_probes_pass(booted: Booted) -> None:
    """Each generated probe, sent as the kubelet sends it (to the pod IP, with the probe's
    Host header or else ``<pod IP>:<port>``), succeeds."""
    probes = booted.app.pod.probes()
    assert probes, "the server container has no probes"
    address, port = pod_ip(), booted.server.port
    for kind, probe in probes.items():
        if "httpGet" in probe:
            get = probe["httpGet"]
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders", [])}
            host = headers.pop("Host", f"{address}:{port}")
            try:
                status, body = http(
                    "GET",
                    f"http://{address}:{port}{get.get('path', '/')}",
                    headers={"Host": host, **headers},
                    timeout=probe.get("timeoutSeconds", 1) + 5,
                )
            except OSError as exc:
                raise AssertionError(f"{kind} {get}: {exc}") from None
            assert status == 200, f"{kind} {get} answered {status}: {body}"
        else:
            assert "tcpSocket" in probe, f"{kind}: unexpected probe {probe}"
            with socket.create_connection((address, port), timeout=5):
                pass


@cache
def read_env_names(install: Path) -> frozenset[str]:
    """Every upper-case word in the JavaScript of the server's packages and the launcher
    client: the env names they can read."""
    words: set[str] = set()
    pattern = re.compile(rb"\b[A-Z][A-Z0-9_]{2,}\b")
    roots = [install / r for r in READERS]
    for root in roots:
        for path in root.rglob("*.js"):
            parts = path.parts
            owner = parts[len(parts) - 1 - parts[::-1].index("node_modules") + 1]
            if (
                owner not in SCOPES
                or "__tests__" in parts
                or path.name.endswith(".test.js")
                or not path.is_file()
            ):
                continue
            words.update(w.decode() for w in pattern.findall(path.read_bytes()))
    for path in sorted(ADAPTER.glob("*.mjs")):
        words.update(w.decode() for w in pattern.findall(path.read_bytes()))
    return frozenset(words)


def assert_env_names_are_read(booted: Booted, install: Path) -> None:
    unread = sorted(set(booted.env) - read_env_names(install))
    assert not unread, (
        f"dist/ gives the server env that neither the server nor the launcher adapter reads: "
        f"{unread}"
    )


def test_quickstart_configuration_boots_the_server(
    boot: Callable[..., Booted], paperclip_runner: Runner
) -> None:
    booted = boot(quickstart())
    assert_runs_as_specified(booted)
    assert_probes_pass(booted)
    assert_env_names_are_read(booted, paperclip_runner.install)


@pytest.mark.parametrize(
    ("exposure", "public_url"),
    [("private", None), ("public", "https://paperclip.example.com")],
)
def test_authenticated_app_configuration_boots_the_server(
    boot: Callable[..., Booted],
    paperclip_runner: Runner,
    local_postgres: LocalPostgres,
    tmp_path: Path,
    exposure: str,
    public_url: str | None,
) -> None:
    app_file = tmp_path / f"auth-{exposure}.yaml"
    app_file.write_text(authenticated_app(f"auth-{exposure}", exposure, public_url=public_url))
    booted = boot(synth(app_file, tmp_path / "out"), local_postgres.url)
    at_test_database = booted.env["DATABASE_URL"] == local_postgres.url
    assert at_test_database, "DATABASE_URL is not the test database's URL"
    assert_runs_as_specified(booted)
    assert_probes_pass(booted)
    assert_env_names_are_read(booted, paperclip_runner.install)
    leaked = [
        name
        for name, text in (
            ("server log", booted.server.log_tail(200_000)),
            ("onboard log", booted.onboard_log),
        )
        if local_postgres.password in text
    ]
    assert not leaked, f"the database password appears in the {leaked}"


def sign_up_and_read_session(server: PaperclipServer) -> tuple[int, Any]:
    """Better Auth end to end: sign up (a session cookie signed with the auth secret), then
    read the session back with that cookie."""
    origin = f"http://localhost:{server.port}"
    headers = {"Host": f"localhost:{server.port}", "Origin": origin}
    request = urllib.request.Request(
        f"{server.url}/api/auth/sign-up/email",
        method="POST",
        data=json.dumps(
            {"email": "e2e@example.com", "password": "e2e-password-123", "name": "E2E"}
        ).encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            cookies = response.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    cookie = "; ".join(c.split(";", 1)[0] for c in cookies)
    return http("GET", f"{server.url}/api/auth/get-session", headers={**headers, "Cookie": cookie})


def test_authenticated_mode_without_an_auth_secret(
    boot: Callable[..., Booted], local_postgres: LocalPostgres, tmp_path: Path
) -> None:
    """Settles the rule "authenticated mode without auth.secretRef is an error" with the real
    server: the same authenticated app without the BETTER_AUTH_SECRET env entry boots and
    signs sessions, because the generated `onboard` step (`paperclipai onboard --yes`) writes
    PAPERCLIP_AGENT_JWT_SECRET to <instance>/.env on the data volume, which the server loads."""
    app_file = tmp_path / "noauth.yaml"
    app_file.write_text(
        authenticated_app("noauth", "private", disable_sign_up=False, probes="auto")
    )
    app = synth(app_file, tmp_path / "out")
    booted = boot(app, local_postgres.url, drop=("BETTER_AUTH_SECRET",))
    assert "BETTER_AUTH_SECRET" not in booted.env
    created = "Created PAPERCLIP_AGENT_JWT_SECRET" in booted.onboard_log
    assert created, "the onboard step did not create PAPERCLIP_AGENT_JWT_SECRET in .env"
    assert_runs_as_specified(booted)
    assert_probes_pass(booted)  # the default for authenticated mode: TCP probes
    status, session = sign_up_and_read_session(booted.server)
    assert status == 200 and isinstance(session, dict), session
    assert session["user"]["email"] == "e2e@example.com", session


def test_authenticated_mode_without_any_secret_does_not_start(
    paperclip_runner: Runner, local_postgres: LocalPostgres, tmp_path: Path
) -> None:
    """The control: without the onboarding step's .env and without BETTER_AUTH_SECRET the
    server refuses to start in authenticated mode."""
    app_file = tmp_path / "bare.yaml"
    app_file.write_text(authenticated_app("bare", "private"))
    app = synth(app_file, tmp_path / "out")
    root = paperclip_runner.workdir("bare")
    paths = {m: paperclip_runner.own(p) for m, p in app.pod.mounts(root).items()}
    port = free_port()
    env = app.pod.env(secret_values(app.pod, local_postgres.url), paths, port)
    del env["BETTER_AUTH_SECRET"]
    server = PaperclipServer(paperclip_runner, paperclip_runner.own(root / "server"), env, port)
    with pytest.raises(PaperclipError, match="exited with code") as failure:
        server.start(timeout=120)
    server.stop()
    assert "BETTER_AUTH_SECRET (or PAPERCLIP_AGENT_JWT_SECRET) must be set" in str(failure.value)
