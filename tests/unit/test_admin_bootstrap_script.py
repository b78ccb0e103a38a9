"""constructs_lib/scripts/admin-bootstrap.sh against a fake Paperclip server written here:
sign-up, sign-in fallback, the bootstrapStatus short-circuit, the CEO invite accept, and a
server that never comes up — with shortened timings. The script must also pass shellcheck."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "constructs_lib" / "scripts" / "admin-bootstrap.sh"
SHELLCHECK = REPO / ".venv" / "bin" / "shellcheck"
TOKEN = "pcp_bootstrap_" + "ab12" * 12
PASSWORD = 'pa"ss\\word with spaces'


@dataclass
class Behaviour:
    sign_up: int = 200
    sign_in: int = 200
    health: int = 200
    health_body: dict[str, Any] = field(default_factory=lambda: {"status": "ok"})
    accept: int = 200


@dataclass
class Seen:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


class FakePaperclip:
    """A threaded HTTP server answering the endpoints the script calls."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[Seen] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any, cookie: bool = False) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if cookie:
                    self.send_header("Set-Cookie", "session=s3ss10n; Path=/; HttpOnly")
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.requests.append(Seen(self.command, self.path, body, headers))
                return body

            def do_GET(self) -> None:
                self._record()
                b = fake.behaviour
                if self.path == "/":
                    self._answer(302, {})
                elif self.path == "/api/health":
                    self._answer(b.health, b.health_body)
                else:
                    self._answer(404, {"error": "not found"})

            def do_POST(self) -> None:
                self._record()
                b = fake.behaviour
                if self.path == "/api/auth/sign-up/email":
                    self._answer(b.sign_up, {"user": {}}, cookie=b.sign_up < 300)
                elif self.path == "/api/auth/sign-in/email":
                    self._answer(b.sign_in, {"user": {}}, cookie=b.sign_in < 300)
                elif self.path.startswith("/api/invites/") and self.path.endswith("/accept"):
                    self._answer(b.accept, {})
                else:
                    self._answer(404, {"error": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]


@pytest.fixture
def fake() -> Iterator[FakePaperclip]:
    server = FakePaperclip(Behaviour())
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def run(
    tmp_path: Path,
    url: str,
    *,
    ceo_output: str | None = None,
    ceo_exit: int = 0,
    attempts: int = 3,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs the script with a fake ``pnpm`` (it records its arguments) first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if ceo_output is None:
        ceo_output = f"Created bootstrap CEO invite.\nInvite URL: http://x/invite/{TOKEN}\n"
    (tmp_path / "ceo-output").write_text(ceo_output)
    pnpm = bin_dir / "pnpm"
    pnpm.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> "{tmp_path}/pnpm-calls"\n'
        'while [ "$#" -gt 0 ]; do\n'
        f'  if [ "$1" = --config ]; then cp "$2" "{tmp_path}/seen-config.json"; fi\n'
        "  shift\n"
        "done\n"
        f'cat "{tmp_path}/ceo-output"\n'
        f"exit {ceo_exit}\n"
    )
    pnpm.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SVC_URL": url,
        "SERVER_URL": url + "/",
        "ADMIN_EMAIL": "admin@example.com",
        "ADMIN_PASSWORD": PASSWORD,
        "ADMIN_NAME": 'Ada "the admin"',
        "BOOTSTRAP_WAIT_ATTEMPTS": str(attempts),
        "BOOTSTRAP_WAIT_SECONDS": "0",
        "BOOTSTRAP_HTTP_TIMEOUT": "2",
        "TMPDIR": str(tmp_path),
        "PAPERCLIP_CONFIG": str(tmp_path / "no-config.json"),
        **(extra_env or {}),
    }
    return subprocess.run(
        ["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )


def pnpm_calls(tmp_path: Path) -> list[str]:
    calls = tmp_path / "pnpm-calls"
    return calls.read_text().splitlines() if calls.exists() else []


def assert_no_secret(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    assert 'pa"ss' not in output and "word with spaces" not in output
    assert TOKEN not in output


def test_shellcheck_passes() -> None:
    result = subprocess.run(
        [str(SHELLCHECK), "--shell=sh", str(SCRIPT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_sign_up_then_invite_accept(fake: FakePaperclip, tmp_path: Path) -> None:
    fake.behaviour.health_body = {"status": "ok", "bootstrapStatus": "bootstrap_pending"}
    result = run(tmp_path, fake.url)
    assert result.returncode == 0, result.stderr
    assert fake.paths() == [
        "GET /",
        "POST /api/auth/sign-up/email",
        "GET /api/health",
        f"POST /api/invites/{TOKEN}/accept",
    ]
    sign_up, accept = fake.requests[1], fake.requests[3]
    # the password and name travel JSON-escaped and intact
    assert sign_up.body == {
        "name": 'Ada "the admin"',
        "email": "admin@example.com",
        "password": PASSWORD,
    }
    assert sign_up.headers["origin"] == fake.url  # SERVER_URL without the trailing slash
    assert accept.body == {"requestType": "human"}
    assert "session=s3ss10n" in accept.headers.get("cookie", "")  # signed in
    assert pnpm_calls(tmp_path) == [f"paperclipai auth bootstrap-ceo --base-url {fake.url}"]
    assert "pcp_bootstrap_<redacted>" in result.stdout
    assert_no_secret(result)


def test_existing_user_signs_in_and_a_ready_instance_stops_there(
    fake: FakePaperclip, tmp_path: Path
) -> None:
    fake.behaviour.sign_up = 422
    fake.behaviour.health_body = {"status": "ok", "bootstrapStatus": "ready"}
    result = run(tmp_path, fake.url)
    assert result.returncode == 0, result.stderr
    assert fake.paths() == [
        "GET /",
        "POST /api/auth/sign-up/email",
        "POST /api/auth/sign-in/email",
        "GET /api/health",
    ]
    assert fake.requests[2].body == {"email": "admin@example.com", "password": PASSWORD}
    assert pnpm_calls(tmp_path) == []  # short-circuit: no invite
    assert "already bootstrapped" in result.stdout
    assert_no_secret(result)


def test_never_asks_health_details_and_continues_without_bootstrap_status(
    fake: FakePaperclip, tmp_path: Path
) -> None:
    fake.behaviour.health = 503
    result = run(tmp_path, fake.url)
    assert result.returncode == 0, result.stderr
    assert not any("details" in p for p in fake.paths())
    assert f"POST /api/invites/{TOKEN}/accept" in fake.paths()


def test_already_has_an_admin_user_is_success(fake: FakePaperclip, tmp_path: Path) -> None:
    output = "Instance already has an admin user. Use --force to generate a new invite.\n"
    result = run(tmp_path, fake.url, ceo_output=output)
    assert result.returncode == 0, result.stderr
    assert not any("/accept" in p for p in fake.paths())


@pytest.mark.parametrize(
    ("behaviour", "ceo_output", "message"),
    [
        ({"sign_up": 400, "sign_in": 401}, None, "sign-in of admin@example.com answered HTTP 401"),
        ({}, "Could not create bootstrap invite: connection refused\n", "printed no invite token"),
        ({"accept": 409}, None, "accepting the bootstrap invite answered HTTP 409"),
    ],
    ids=["sign-in-refused", "no-token", "accept-refused"],
)
def test_failures_exit_non_zero_with_the_cause(
    fake: FakePaperclip,
    tmp_path: Path,
    behaviour: dict[str, int],
    ceo_output: str | None,
    message: str,
) -> None:
    for key, value in behaviour.items():
        setattr(fake.behaviour, key, value)
    result = run(tmp_path, fake.url, ceo_output=ceo_output)
    assert result.returncode == 1
    assert message in result.stderr
    assert_no_secret(result)


def test_a_server_that_never_answers_fails_after_the_retries(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = run(tmp_path, url, attempts=3)
    assert result.returncode == 1
    assert result.stdout.count("waiting for the server") == 2
    assert "did not answer" in result.stderr and "after 3 attempts" in result.stderr
    assert pnpm_calls(tmp_path) == []


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("ADMIN_PASSWORD", "secret-value\n", "contains a line break"),
        ("ADMIN_PASSWORD", "secret\rvalue", "ADMIN_PASSWORD contains a control character"),
        ("ADMIN_EMAIL", "a\x1b@example.com", "ADMIN_EMAIL contains a control character"),
        ("ADMIN_NAME", "A\x7f", "ADMIN_NAME contains a control character"),
    ],
)
def test_a_line_break_or_control_character_is_refused_without_printing_the_value(
    field: str, value: str, said: str, fake: FakePaperclip, tmp_path: Path
) -> None:
    """JSON escapes every control character, the script only the tab: a CR in a password
    made a request body the server refused, reported as a wrong password."""
    env = {
        "PATH": os.environ["PATH"],
        "SVC_URL": fake.url,
        "SERVER_URL": fake.url,
        "ADMIN_EMAIL": "admin@example.com",
        "ADMIN_PASSWORD": "good password",
        "TMPDIR": str(tmp_path),
        field: value,
    }
    result = subprocess.run(["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert said in result.stderr
    for part in re.split(r"[\x00-\x1f\x7f]", value):  # no piece of the value either
        assert len(part) < 4 or part not in result.stdout + result.stderr, part
    assert fake.requests == []


def test_the_cli_reads_the_config_as_authenticated_when_onboard_wrote_local_trusted(
    fake: FakePaperclip, tmp_path: Path
) -> None:
    config = tmp_path / "home/instances/default/config.json"
    config.parent.mkdir(parents=True)
    written = {"server": {"deploymentMode": "local_trusted", "port": 3100}, "database": {}}
    config.write_text(json.dumps(written))
    extra = {"PAPERCLIP_CONFIG": str(config), "PAPERCLIP_DEPLOYMENT_MODE": "authenticated"}
    result = run(tmp_path, fake.url, extra_env=extra)
    assert result.returncode == 0, result.stderr
    [call] = pnpm_calls(tmp_path)
    assert call.startswith(f"paperclipai auth bootstrap-ceo --base-url {fake.url} --config ")
    seen = json.loads((tmp_path / "seen-config.json").read_text())
    assert seen == {"server": {"deploymentMode": "authenticated", "port": 3100}, "database": {}}
    assert json.loads(config.read_text()) == written  # the instance's own file is untouched
