"""Real parts for the data-tier tests: a PostgreSQL 17 server (tests/tools/postgres.sh), moto's S3
server (tests/tools/s3-tools.sh, tests/tools/s3_server.py), and the generated backup/restore
containers run as local processes: the script from the generated ConfigMap, the command and env
of the generated CronJob, with only the cluster addresses replaced by loopback ones.

PostgreSQL refuses to run as root: as root the server runs as uid/gid 65534 (setpriv)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.controlplane.cluster import free_port

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO / "tests" / "tools"
UNPRIVILEGED = 65534
SUPERUSER = "paperclip"


def tool_dir(script: str) -> Path:
    """Run an installer of tests/tools (idempotent, cached) and return the directory it prints."""
    out = subprocess.run(
        ["bash", str(TOOLS / script)], check=True, capture_output=True, text=True, timeout=900
    )
    return Path(out.stdout.strip().splitlines()[-1])


def _as_postgres_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return [
        "setpriv",
        f"--reuid={UNPRIVILEGED}",
        f"--regid={UNPRIVILEGED}",
        "--clear-groups",
        *command,
    ]


# Paperclip-like data: companies, and issues with text, timestamps, jsonb and bytea.
SEED_TEMPLATE = """
CREATE TABLE companies (id bigint PRIMARY KEY, name text NOT NULL, settings jsonb);
CREATE TABLE issues (
  id bigint PRIMARY KEY,
  company_id bigint NOT NULL REFERENCES companies(id),
  title text NOT NULL,
  body text,
  created_at timestamptz NOT NULL,
  attachment bytea
);
CREATE INDEX issues_company ON issues (company_id);
INSERT INTO companies
  SELECT g, 'company ' || g, jsonb_build_object('tier', g % 3, 'tags', jsonb_build_array('a', g))
  FROM generate_series(1, 200) g;
INSERT INTO issues
  SELECT g, 1 + g % 200, 'issue ' || g || ' ünïcødé', repeat(md5(g::text), 8),
         timestamptz '2026-01-01' + g * interval '1 minute', decode(md5(g::text), 'hex')
  FROM generate_series(1, {rows}) g;
"""
FINGERPRINT = """
SELECT (SELECT count(*) FROM companies) || ':' || (SELECT count(*) FROM issues) || ':' ||
  (SELECT md5(string_agg(c::text, '|' ORDER BY id)) FROM companies c) || ':' ||
  (SELECT md5(string_agg(i::text, '|' ORDER BY id)) FROM issues i)
"""
SEED = SEED_TEMPLATE.format(rows=100000)


@dataclass
class Postgres:
    """A PostgreSQL server on 127.0.0.1 with password (scram) authentication."""

    bin: Path
    password: str
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pg-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Postgres:
        os.chmod(self.root, 0o755)
        if os.geteuid() == 0:
            # the unprivileged server cannot reach the cache under /root: use a copy
            shutil.copytree(self.bin.parent, self.root / "pg", symlinks=True)
            self.bin = self.root / "pg" / "bin"
        data = self.root / "data"
        data.mkdir()
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            for path in (data, pwfile):
                os.chown(path, UNPRIVILEGED, UNPRIVILEGED)
        initdb = [
            str(self.bin / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "--pwfile",
            str(pwfile),
            "--auth=scram-sha-256",
            "--data-checksums",
            "-E",
            "UTF8",
            "--locale=C",
        ]
        subprocess.run(_as_postgres_user(initdb), check=True, capture_output=True, timeout=120)
        pwfile.unlink()
        log = open(self.root / "postgres.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            _as_postgres_user(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={data}",
                    "-c",
                    "fsync=off",
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                # as the postgres image does with POSTGRES_DB
                self.psql(f"CREATE DATABASE {SUPERUSER}", database="postgres")
                return self
            time.sleep(0.2)
        raise AssertionError("PostgreSQL did not start:\n" + self.log())

    def log(self) -> str:
        return (self.root / "postgres.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # smart shutdown
            self.process.wait(30)
        shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, sql: str, database: str = SUPERUSER) -> str:
        out = subprocess.run(
            [
                str(self.bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                "-c",
                sql,
            ],
            env={"PGPASSWORD": self.password, "PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, f"psql failed: {out.stderr}"
        return out.stdout.strip()


@dataclass
class S3Server:
    """moto's S3 server on 127.0.0.1 (a real S3 API over HTTP) with an object-ageing hook."""

    tools: Path
    port: int = field(default_factory=free_port)
    control_port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        self.process = subprocess.Popen(
            [
                str(self.tools / "bin" / "python"),
                str(TOOLS / "s3_server.py"),
                str(self.port),
                str(self.control_port),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.strip() == "ready", f"the S3 server did not start: {line!r}"
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    # The tests' own client calls go through the server's control endpoint (boto3 there);
    # the code under test uses the real aws CLI.
    def _call(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.control_port}{path}",
            data=json.dumps(body).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def create_bucket(self, bucket: str) -> None:
        self._call("/s3", {"op": "create", "bucket": bucket})

    def keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """key -> size of every object under ``prefix``."""
        found: dict[str, int] = self._call(
            "/s3", {"op": "list", "bucket": bucket, "prefix": prefix}
        )["keys"]
        return found

    def get(self, bucket: str, key: str) -> bytes:
        answer = self._call("/s3", {"op": "get", "bucket": bucket, "key": key})
        return base64.b64decode(answer["data"])

    def put(self, bucket: str, key: str, data: bytes) -> None:
        encoded = base64.b64encode(data).decode()
        self._call("/s3", {"op": "put", "bucket": bucket, "key": key, "data": encoded})

    def delete(self, bucket: str, key: str) -> None:
        self._call("/s3", {"op": "delete", "bucket": bucket, "key": key})

    def age(self, bucket: str, key: str, days: float) -> None:
        """Set the object's LastModified to ``days`` ago."""
        answer = self._call("/age", {"bucket": bucket, "key": key, "days": days})
        assert answer["changed"] >= 1


def client_env() -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "AWS_ACCESS_KEY_ID": "testing-access-key",
        "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@dataclass
class Container:
    """A generated container of a backup/restore pod, runnable as a local process."""

    name: str
    command: list[str]
    env: list[dict[str, Any]]


def pod_containers(cronjob: dict[str, Any]) -> list[Container]:
    """The init container(s) then the container(s) of a CronJob's pod, in run order."""
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return [
        Container(c["name"], list(c["command"]), list(c["env"]))
        for c in [*pod.get("initContainers", []), *pod["containers"]]
    ]


@dataclass
class LocalPod:
    """Runs generated containers locally: the shipped script, their env with secretKeyRefs
    resolved from ``secrets`` and ``overrides`` for the names that carry cluster addresses."""

    script_dir: Path
    """Where the ConfigMap's files are written (stands in for the mounted ConfigMap)."""
    mount_path: str
    """The ConfigMap's mount path in the pod."""
    path: str
    """PATH with pg_dump/pg_restore (the postgres image) and aws (the aws-cli image)."""
    secrets: dict[tuple[str, str], str]

    def env_of(self, container: Container, overrides: dict[str, str]) -> dict[str, str]:
        env: dict[str, str] = {"PATH": self.path, "LANG": "C.UTF-8"}
        names = set()
        for item in container.env:
            names.add(item["name"])
            if "value" in item:
                env[item["name"]] = item["value"]
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                env[item["name"]] = self.secrets[(ref["name"], ref["key"])]
        unknown = set(overrides) - names
        assert not unknown, f"{container.name} has no env {sorted(unknown)} to override"
        env.update(overrides)
        return env

    def run(
        self, container: Container, overrides: dict[str, str], timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        command = [
            part.replace(self.mount_path, str(self.script_dir)) for part in container.command
        ]
        return subprocess.run(
            command,
            env=self.env_of(container, overrides),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@contextlib.contextmanager
def running_postgres(bin_dir: Path, password: str) -> Iterator[Postgres]:
    server = Postgres(bin_dir, password).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def running_s3(tools: Path) -> Iterator[S3Server]:
    server = S3Server(tools).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class World:
    postgres: Postgres
    s3: S3Server
    pod: LocalPod
    backup: list[Container]
    restore: list[Container]
    work: Path

    def overrides(self, container: Container, **extra: str) -> dict[str, str]:
        """Loopback addresses for the env names that carry cluster addresses."""
        names = {item["name"] for item in container.env}
        values = {
            "BACKUP_DIR": str(self.work / "scratch"),
            "HOME": str(self.work / "home"),
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.postgres.port),
            "S3_ENDPOINT": self.s3.endpoint,
        }
        chosen = {k: v for k, v in values.items() if k in names}
        return {**chosen, **extra}

    def run_pod(self, containers: list[Container], **extra: str) -> list[Any]:
        """Containers in order, as the kubelet runs them: stop at the first failure."""
        results = []
        everywhere = {item["name"] for c in containers for item in c.env}
        assert set(extra) <= everywhere, f"no container has {sorted(set(extra) - everywhere)}"
        for container in containers:
            names = {item["name"] for item in container.env}
            mine = {k: v for k, v in extra.items() if k in names}
            result = self.pod.run(container, self.overrides(container, **mine))
            results.append(result)
            if result.returncode != 0:
                break
        return results


@contextlib.contextmanager
def data_tier_world(spec: dict[str, Any], work: Path, seed: str) -> Iterator[World]:
    """PostgreSQL seeded with ``seed`` and an S3 server with the backup bucket, and the
    generated backup/restore pods of instance ``rt`` (namespace ``data``) of ``spec``."""
    from tests.conftest import make_instance, synth_objects

    pg_dir = tool_dir("postgres.sh")
    s3_tools = tool_dir("s3-tools.sh")
    objects = synth_objects(make_instance(spec, name="rt", namespace="data"))
    bucket = spec["backup"]["s3"]["bucket"]
    scripts = work / "scripts"
    scripts.mkdir()
    for name, text in objects["ConfigMap/rt-db-scripts"]["data"].items():
        (scripts / name).write_text(text)
    (work / "home").mkdir()
    password = secrets.token_urlsafe(32)
    backup = pod_containers(objects["CronJob/rt-db-backup"])
    restore = pod_containers(objects["CronJob/rt-db-restore"])
    [volume] = [
        v
        for v in objects["CronJob/rt-db-backup"]["spec"]["jobTemplate"]["spec"]["template"]["spec"][
            "volumes"
        ]
        if v["name"] == "scripts"
    ]
    assert volume["configMap"]["name"] == "rt-db-scripts"
    pod = LocalPod(
        script_dir=scripts,
        mount_path="/opt/paperclip-db",
        path=f"{pg_dir / 'bin'}:{s3_tools / 'bin'}:/usr/bin:/bin",
        secrets={
            ("rt-db-credentials", "password"): password,
            ("backup-s3", "AWS_ACCESS_KEY_ID"): client_env()["AWS_ACCESS_KEY_ID"],
            ("backup-s3", "AWS_SECRET_ACCESS_KEY"): client_env()["AWS_SECRET_ACCESS_KEY"],
        },
    )
    with running_postgres(pg_dir / "bin", password) as postgres, running_s3(s3_tools) as s3:
        s3.create_bucket(bucket)
        postgres.psql(seed)
        yield World(postgres, s3, pod, backup, restore, work)
