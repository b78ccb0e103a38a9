"""A real local Kubernetes control plane: etcd, kube-apiserver (TLS, token authentication,
RBAC, service-account signing), kube-controller-manager, kube-scheduler and kwok with fake
nodes, all on free loopback ports in one temporary directory.

Used by the session fixture in tests/conftest.py, and by `make cluster`
(`python -m tests.controlplane.cluster`) to run it in the foreground.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.processes import Supervised, built_dir

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE.parent / "gobuild" / "build.sh"
STAGES = HERE / "kwok.yaml"
NODE_NAME = "kwok-node-0"
# Namespaces whose pod logs kwok serves from <root>/logs/<namespace>.log (CRI format).
LOG_NAMESPACES = tuple(f"logs-{i}" for i in range(16))
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


class ControlPlaneError(RuntimeError):
    """The control plane could not be built or started; the message says which part."""


def binaries() -> Path:
    """The directory of built binaries: $PAPERCLIP_CONTROLPLANE_BIN, else the bin/ of
    tests/gobuild/build.sh's cache."""
    configured = os.environ.get("PAPERCLIP_CONTROLPLANE_BIN")
    path = (
        Path(configured)
        if configured
        else built_dir(
            "PAPERCLIP_GO_BINARIES", BUILD_SCRIPT, "building the Go binaries", ControlPlaneError
        )
        / "bin"
    )
    missing = [c for c in COMPONENTS if not (path / c).is_file()]
    if missing:
        raise ControlPlaneError(
            f"missing binaries in {path}: {', '.join(missing)}; run `make go-binaries`"
        )
    return path


def pinned_versions(bin_dir: Path) -> dict[str, str]:
    """The versions the build pinned (``<output>/manifest``, written by tests/gobuild/build.sh
    beside ``bin/``): component -> version."""
    text = (bin_dir.parent / "manifest").read_text()
    return dict(item.split("=", 1) for item in text.split())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _signing_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _insecure_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass
class ControlPlane(Supervised):
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    bin_dir: Path
    root: Path
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    admin_token: str = field(default_factory=lambda: secrets.token_hex(24))
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig.yaml"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def ca_file(self) -> Path:
        """The API server's self-signed serving certificate (its own CA)."""
        return self.root / "apiserver-certs" / "apiserver.crt"

    def log_file(self, namespace: str) -> Path:
        """The CRI-format file kwok serves as the log of every container in ``namespace``."""
        if namespace not in LOG_NAMESPACES:
            raise ValueError(f"kwok serves logs only in {LOG_NAMESPACES}")
        return self.root / "logs" / f"{namespace}.log"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 120.0, attempts: int = 3) -> ControlPlane:
        """Start every component on free loopback ports. A port is free when chosen but may be
        taken by another process before the component binds it (several suites run at once):
        then the whole start is tried again on new ports, up to ``attempts`` times."""
        for attempt in range(1, attempts + 1):
            try:
                return super().start(timeout)
            except ControlPlaneError as exc:
                if attempt == attempts or "address already in use" not in str(exc):
                    raise
                self.ports.clear()

        raise AssertionError("unreachable")

    def _launch(self, timeout: float) -> None:
        for name in ("etcd", "etcd-peer", "apiserver", "kcm", "scheduler", "kwok"):
            self.ports[name] = free_port()
        self._prepare()
        self._run("etcd", self._etcd_args())
        self.wait_ready("etcd", timeout, self._etcd_healthy)
        self._run("kube-apiserver", self._apiserver_args())
        self.wait_ready("kube-apiserver", timeout, self._apiserver_ready)
        self._write_kubeconfig()
        self._run("kube-controller-manager", self._kcm_args())
        self._run("kube-scheduler", self._scheduler_args())
        self._run("kwok", self._kwok_args())
        self.wait_ready(
            "kube-controller-manager", timeout, lambda: self._serving(self.ports["kcm"])
        )
        self.wait_ready("kube-scheduler", timeout, lambda: self._serving(self.ports["scheduler"]))
        self._create_node()
        self.wait_ready("kwok", timeout, self._node_ready)

    error = ControlPlaneError

    # -- helpers for tests -------------------------------------------------------------

    def api_client(self, token: str | None = None) -> Any:
        """A kubernetes.client.ApiClient for the admin, or for ``token``."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.server
        configuration.ssl_ca_cert = str(self.ca_file)
        configuration.api_key = {"authorization": f"Bearer {token or self.admin_token}"}
        return client.ApiClient(configuration)

    def mint_token(self, namespace: str, service_account: str, seconds: int = 3600) -> str:
        """A bound token for a ServiceAccount, through the TokenRequest API."""
        from kubernetes import client

        core = client.CoreV1Api(self.api_client())
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
        )
        answer = core.create_namespaced_service_account_token(service_account, namespace, request)
        return str(answer.status.token)

    # -- internals ---------------------------------------------------------------------

    def _prepare(self) -> None:
        shutil.rmtree(self.root / "etcd", ignore_errors=True)  # a start tried again begins anew
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        for namespace in LOG_NAMESPACES:
            self.log_file(namespace).touch()
        _signing_key(self.root / "sa.key")
        (self.root / "tokens.csv").write_text(
            f'{self.admin_token},admin,admin-uid,"system:masters"\n'
        )
        documents = list(yaml.safe_load_all(STAGES.read_text()))
        for namespace in LOG_NAMESPACES:
            documents.append(
                {
                    "apiVersion": "kwok.x-k8s.io/v1alpha1",
                    "kind": "ClusterLogs",
                    "metadata": {"name": namespace},
                    "spec": {
                        "selector": {"matchNamespaces": [namespace]},
                        "logs": [{"logsFile": str(self.log_file(namespace)), "follow": True}],
                    },
                }
            )
        (self.root / "kwok.yaml").write_text(yaml.safe_dump_all(documents))

    def _run(self, name: str, args: list[str]) -> None:
        self.spawn(name, [str(self.bin_dir / name), *args], self.root)

    def _get(self, url: str, token: str | None = None) -> int:
        request = urllib.request.Request(url)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=2, context=_insecure_context()) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def _etcd_healthy(self) -> bool:
        return self._get(f"http://127.0.0.1:{self.ports['etcd']}/health") == 200

    def _apiserver_ready(self) -> bool:
        return self._get(f"{self.server}/readyz", self.admin_token) == 200

    def _serving(self, port: int) -> bool:
        return self._get(f"https://127.0.0.1:{port}/healthz") in (200, 401, 403)

    def _node_ready(self) -> bool:
        from kubernetes import client

        node = client.CoreV1Api(self.api_client()).read_node(NODE_NAME)
        return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))

    def _create_node(self) -> None:
        from kubernetes import client

        client.CoreV1Api(self.api_client()).create_node(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": NODE_NAME,
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                    "labels": {
                        "kubernetes.io/hostname": NODE_NAME,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                    },
                },
            }
        )

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {"server": self.server, "insecure-skip-tls-verify": True},
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.admin_token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
            "current-context": "test",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    def _etcd_args(self) -> list[str]:
        client_url = f"http://127.0.0.1:{self.ports['etcd']}"
        peer_url = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        return [
            "--name=node0",
            f"--data-dir={self.root / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=node0={peer_url}",
            "--unsafe-no-fsync",
            "--quota-backend-bytes=1073741824",
            "--log-level=warn",
        ]

    def _apiserver_args(self) -> list[str]:
        key = self.root / "sa.key"
        return [
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports['apiserver']}",
            "--advertise-address=127.0.0.1",
            f"--cert-dir={self.root / 'apiserver-certs'}",
            f"--token-auth-file={self.root / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={key}",
            f"--service-account-signing-key-file={key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            "--enable-priority-and-fairness=false",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
        ]

    def _kcm_args(self) -> list[str]:
        return [
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports['kcm']}",
            "--node-monitor-grace-period=3m20s",
            "--node-monitor-period=25s",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
            f"--service-account-private-key-file={self.root / 'sa.key'}",
            "--use-service-account-credentials=true",
            f"--root-ca-file={self.ca_file}",
        ]

    def _scheduler_args(self) -> list[str]:
        return [
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports['scheduler']}",
        ]

    def _kwok_args(self) -> list[str]:
        port = self.ports["kwok"]
        return [
            f"--kubeconfig={self.kubeconfig}",
            f"--config={self.root / 'kwok.yaml'}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-ip=127.0.0.1",
            "--node-name=localhost",
            f"--node-port={port}",
            f"--server-address=127.0.0.1:{port}",
            "--node-lease-duration-seconds=40",
        ]


@contextlib.contextmanager
def running(root: Path | None = None) -> Iterator[ControlPlane]:
    """A started control plane in ``root`` (a fresh temporary directory by default)."""
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="k8s-")))
        plane = ControlPlane(bin_dir=binaries(), root=root)
        with plane:
            yield plane


def main() -> int:
    """`make cluster`: run in the foreground until Ctrl-C."""
    root = Path(tempfile.mkdtemp(prefix="paperclip-cluster-"))
    print(f"starting the control plane in {root} ...", flush=True)
    try:
        with running(root) as plane:
            print(
                f"ready in {plane.timings['start_s']:.1f}s\n"
                f"  export KUBECONFIG={plane.kubeconfig}\n"
                f"  kubectl get nodes\n"
                f"pod logs for namespaces logs-0..logs-15 come from {root}/logs/<ns>.log\n"
                "Ctrl-C stops every process.",
                flush=True,
            )
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main())
