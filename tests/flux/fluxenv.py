"""Real Flux on the test control plane: source-, kustomize- and helm-controller as processes,
a git repository served over smart HTTP on loopback, and a stand-in kubelet/provisioner for
what kwok does not do (run the secrets bootstrap command, bind PersistentVolumeClaims).

Used by tests/flux/test_flux.py, and by `make flux` (`python -m tests.flux.fluxenv`) to run
the control plane with Flux and the git server in the foreground.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from tests.bootstrap_container import run_container
from tests.controlplane.cluster import (
    ControlPlane,
    ControlPlaneError,
    free_port,
    running,
)
from tests.processes import Supervised, built_dir, http_ok

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BUILD_SCRIPT = HERE.parent / "gobuild" / "build.sh"
NAMESPACE = "flux-system"
CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller")
TOKEN_SECONDS = 7 * 24 * 3600
FINISH_LABEL = "kwok-test/finish"
BOOTSTRAP_COMPONENT = "secrets-bootstrap"


class FluxError(RuntimeError):
    """Flux could not be built or started; the message says which part (with its log)."""


def flux_home() -> Path:
    """The build output (bin/, crds/): $PAPERCLIP_GO_BINARIES, else tests/gobuild/build.sh's
    cache."""
    path = built_dir("PAPERCLIP_GO_BINARIES", BUILD_SCRIPT, "building the Go binaries", FluxError)
    missing = [c for c in CONTROLLERS if not (path / "bin" / c).is_file()]
    if missing:
        raise FluxError(
            f"missing Flux binaries in {path}/bin: {', '.join(missing)}; run `make go-binaries`"
        )
    return path


def versions(home: Path) -> dict[str, str]:
    """controller -> version, as built (bin/<controller>.version)."""
    return {c: (home / "bin" / f"{c}.version").read_text().strip() for c in CONTROLLERS}


# -- git over smart HTTP ---------------------------------------------------------------------


class _GitHandler(BaseHTTPRequestHandler):
    """`git http-backend` as CGI: the smart HTTP protocol (upload-pack for fetch/clone)."""

    protocol_version = "HTTP/1.1"
    server: _GitHTTPServer

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def log_message(self, format: str, *args: Any) -> None:
        self.server.requests.append(f"{self.command} {self.path}")

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        body = self._body()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        raw = result.stdout
        split = raw.find(b"\r\n\r\n")
        head, payload = (
            (raw[:split], raw[split + 4 :]) if split >= 0 else raw.partition(b"\n\n")[::2]
        )
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        if result.returncode != 0 and not head:
            status, payload = 500, result.stderr[-2000:]
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", free_port()), _GitHandler)


class GitServer:
    """Serves the bare repositories under ``root`` at http://127.0.0.1:<port>/<name>.git."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._server = _GitHTTPServer(root)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def requests(self) -> list[str]:
        return self._server.requests

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.git"

    def __enter__(self) -> GitServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "paperclip-gitops tests",
    "GIT_AUTHOR_EMAIL": "tests@paperclip-gitops.invalid",
    "GIT_COMMITTER_NAME": "paperclip-gitops tests",
    "GIT_COMMITTER_EMAIL": "tests@paperclip-gitops.invalid",
}


class GitRepo:
    """A bare repository ``<server root>/<name>.git`` and a work tree that commits ``dist/``."""

    def __init__(self, server: GitServer, work: Path, name: str = "paperclip-gitops") -> None:
        self.server = server
        self.name = name
        self.bare = server.root / f"{name}.git"
        self.work = work
        self._git(server.root, "init", "--quiet", "--bare", "--initial-branch=main", str(self.bare))
        work.mkdir(parents=True, exist_ok=True)
        self._git(work, "init", "--quiet", "--initial-branch=main")
        self._git(work, "remote", "add", "origin", str(self.bare))

    @property
    def url(self) -> str:
        return self.server.url(self.name)

    def commit(self, dist: Path, message: str) -> str:
        """Make the work tree's ``dist/`` a copy of ``dist``, commit, push; the commit's sha."""
        target = self.work / "dist"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(dist, target)
        self._git(self.work, "add", "--all")
        self._git(self.work, "commit", "--quiet", "--allow-empty", "-m", message)
        self._git(self.work, "push", "--quiet", "origin", "main")
        return self._git(self.work, "rev-parse", "HEAD").strip()

    @staticmethod
    def _git(cwd: Path, *args: str) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env={**os.environ, **GIT_ENV},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise FluxError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout


# -- the Flux identity: what `flux install` grants ------------------------------------------


def identity_objects() -> list[dict[str, Any]]:
    """flux-system, a ServiceAccount per controller, the crd-controller ClusterRole (all
    controllers) and cluster-admin for the reconcilers (kustomize-, helm-controller), as the
    Flux install manifests grant them."""
    labels = {"app.kubernetes.io/part-of": "flux", "app.kubernetes.io/instance": NAMESPACE}
    toolkit = [
        "source.toolkit.fluxcd.io",
        "source.extensions.fluxcd.io",
        "kustomize.toolkit.fluxcd.io",
        "helm.toolkit.fluxcd.io",
        "notification.toolkit.fluxcd.io",
        "image.toolkit.fluxcd.io",
    ]
    rules: list[dict[str, Any]] = [
        {"apiGroups": [group], "resources": ["*"], "verbs": ["*"]} for group in toolkit
    ]
    rules += [
        {
            "apiGroups": [""],
            "resources": ["namespaces", "secrets", "configmaps", "serviceaccounts"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        {
            "apiGroups": [""],
            "resources": ["configmaps/status"],
            "verbs": ["get", "update", "patch"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
    ]

    def subject(name: str) -> dict[str, str]:
        return {"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}

    meta = {"labels": labels}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, **meta}},
        *(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": NAMESPACE, **meta},
            }
            for name in CONTROLLERS
        ),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"crd-controller-{NAMESPACE}", **meta},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"crd-controller-{NAMESPACE}", **meta},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"crd-controller-{NAMESPACE}",
            },
            "subjects": [subject(name) for name in CONTROLLERS],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"cluster-reconciler-{NAMESPACE}", **meta},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [subject("kustomize-controller"), subject("helm-controller")],
        },
    ]


def apply(plane: ControlPlane, obj: dict[str, Any], manager: str = "tests") -> None:
    from kubernetes import dynamic

    dyn = dynamic.DynamicClient(plane.api_client())
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    resource.server_side_apply(
        body=obj,
        namespace=obj["metadata"].get("namespace"),
        field_manager=manager,
        force_conflicts=True,
    )


def write_kubeconfig(plane: ControlPlane, token: str, path: Path) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "test",
                "cluster": {"server": plane.server, "certificate-authority": str(plane.ca_file)},
            }
        ],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "sa"}}],
        "current-context": "test",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


# -- the controllers -------------------------------------------------------------------------


@dataclass
class Flux(Supervised):
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    plane: ControlPlane
    home: Path
    root: Path
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def crd_files(self) -> list[Path]:
        return sorted((self.home / "crds").glob("*/*.yaml"))

    def _launch(self, timeout: float) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._install_crds(timeout)
        for obj in identity_objects():
            apply(self.plane, obj)
        for name in CONTROLLERS:
            for port in ("metrics", "health"):
                self.ports[f"{name}-{port}"] = free_port()
        self.ports["storage"] = free_port()
        for name in CONTROLLERS:
            token = self.plane.mint_token(NAMESPACE, name, TOKEN_SECONDS)
            kubeconfig = write_kubeconfig(self.plane, token, self.root / f"{name}.kubeconfig")
            self._run(name, kubeconfig)
        for name in CONTROLLERS:
            health = f"http://127.0.0.1:{self.ports[f'{name}-health']}/readyz"
            self.wait_ready(name, timeout, lambda url=health: http_ok(url))

    error = FluxError

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {n} ---\n{self.log(n, lines)}" for n in CONTROLLERS)

    def _install_crds(self, timeout: float) -> None:
        from kubernetes import client

        files = self.crd_files()
        if not files:
            raise FluxError(f"no CRDs in {self.home / 'crds'}; run `make go-binaries`")
        names = []
        for path in files:
            for crd in yaml.safe_load_all(path.read_text()):
                if crd:
                    apply(self.plane, crd)
                    names.append(crd["metadata"]["name"])
        api = client.ApiextensionsV1Api(self.plane.api_client())

        def established(name: str) -> bool:
            crd = api.read_custom_resource_definition(name)
            return any(
                c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
            )

        deadline = time.monotonic() + timeout
        for name in names:
            while not established(name):
                if time.monotonic() > deadline:
                    raise FluxError(f"CRD {name} was not Established within {timeout:.0f}s")
                time.sleep(0.2)

    def _args(self, name: str) -> list[str]:
        args = [
            f"--metrics-addr=127.0.0.1:{self.ports[f'{name}-metrics']}",
            f"--health-addr=127.0.0.1:{self.ports[f'{name}-health']}",
            "--events-addr=",  # no notification-controller
            "--watch-all-namespaces=true",
            "--log-level=debug",
            "--log-encoding=json",
            "--enable-leader-election=false",
        ]
        if name in ("kustomize-controller", "helm-controller"):
            # A dependency that is not ready yet is looked at again after 2 s, not Flux's
            # default 30 s: same behaviour, less waiting in the tests.
            args.append("--requeue-dependency=2s")
        if name == "source-controller":
            storage = self.ports["storage"]
            (self.root / "storage").mkdir(exist_ok=True)
            args += [
                f"--storage-path={self.root / 'storage'}",
                f"--storage-addr=127.0.0.1:{storage}",
                f"--storage-adv-addr=127.0.0.1:{storage}",
            ]
        return args

    def _run(self, name: str, kubeconfig: Path) -> None:
        tmp = self.root / f"{name}.tmp"
        tmp.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp),
            "TMPDIR": str(tmp),
            "KUBECONFIG": str(kubeconfig),
            "RUNTIME_NAMESPACE": NAMESPACE,
        }
        self.spawn(name, [str(self.home / "bin" / name), *self._args(name)], tmp, env)


# -- what kwok does not do -------------------------------------------------------------------


@dataclass
class BootstrapRun:
    namespace: str
    pod: str
    returncode: int
    output: str


@dataclass
class StandInKubelet:
    """A thread that plays the parts of a node kwok does not: it binds each Pending
    PersistentVolumeClaim to a new PersistentVolume (a provisioner), and runs the container of
    every secrets bootstrap pod as a local process (its command and args as generated, its
    ConfigMap's script, the Node of the Paperclip server image, a token of the pod's
    ServiceAccount), then marks the pod finished with the command's outcome."""

    plane: ControlPlane
    root: Path
    runs: list[BootstrapRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> StandInKubelet:
        self.root.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        from kubernetes import client

        core = client.CoreV1Api(self.plane.api_client())
        while not self._stop.wait(0.3):
            for step in (self._provision, self._bootstrap):
                try:
                    step(core)
                except Exception as exc:  # keep serving; the tests read the errors
                    self.errors.append(f"{step.__name__}: {exc}"[:500])

    def _provision(self, core: Any) -> None:
        for pvc in core.list_persistent_volume_claim_for_all_namespaces().items:
            if pvc.status.phase != "Pending" or pvc.spec.volume_name:
                continue
            name = f"pv-{pvc.metadata.namespace}-{pvc.metadata.name}"[:253]
            with contextlib.suppress(Exception):
                core.create_persistent_volume(
                    {
                        "apiVersion": "v1",
                        "kind": "PersistentVolume",
                        "metadata": {"name": name},
                        "spec": {
                            "capacity": {"storage": pvc.spec.resources.requests["storage"]},
                            "accessModes": pvc.spec.access_modes,
                            "persistentVolumeReclaimPolicy": "Retain",
                            "storageClassName": pvc.spec.storage_class_name or "",
                            "hostPath": {"path": f"/var/lib/stand-in/{name}"},
                            "claimRef": {
                                "namespace": pvc.metadata.namespace,
                                "name": pvc.metadata.name,
                                "uid": pvc.metadata.uid,
                            },
                        },
                    }
                )

    def _bootstrap(self, core: Any) -> None:
        selector = f"app.kubernetes.io/component={BOOTSTRAP_COMPONENT},!{FINISH_LABEL}"
        for pod in core.list_pod_for_all_namespaces(label_selector=selector).items:
            if pod.status.phase != "Running" or pod.metadata.deletion_timestamp:
                continue
            namespace, name = pod.metadata.namespace, pod.metadata.name
            spec = self.plane.api_client().sanitize_for_serialization(pod.spec)
            maps = {
                v["configMap"]["name"]: core.read_namespaced_config_map(
                    v["configMap"]["name"], namespace
                ).data
                for v in spec.get("volumes") or []
                if "configMap" in v
            }
            token = self.plane.mint_token(namespace, pod.spec.service_account_name, 600)
            result = run_container(self.plane, spec, maps, token, self.root / f"{namespace}.{name}")
            self.runs.append(
                BootstrapRun(namespace, name, result.returncode, result.stdout + result.stderr)
            )
            outcome = "succeeded" if result.returncode == 0 else "failed"
            core.patch_namespaced_pod(
                name, namespace, {"metadata": {"labels": {FINISH_LABEL: outcome}}}
            )


# -- everything together ---------------------------------------------------------------------


@dataclass
class FluxEnvironment:
    plane: ControlPlane
    flux: Flux
    git: GitServer
    repo: GitRepo
    kubelet: StandInKubelet


@contextlib.contextmanager
def flux_running(root: Path, plane: ControlPlane | None = None) -> Iterator[FluxEnvironment]:
    """Flux (and the git server, the stand-in kubelet) on ``plane`` or a new control plane."""
    home = flux_home()
    with contextlib.ExitStack() as stack:
        if plane is None:
            plane = stack.enter_context(running(root / "k8s"))
        git = stack.enter_context(GitServer(root / "git"))
        repo = GitRepo(git, root / "work")
        kubelet = stack.enter_context(StandInKubelet(plane, root / "kubelet"))
        flux = stack.enter_context(Flux(plane, home, root / "flux"))
        yield FluxEnvironment(plane, flux, git, repo, kubelet)


def wait_until(
    what: str, condition: Callable[[], Any], timeout: float, detail: Callable[[], str]
) -> Any:
    """Poll ``condition`` until it is truthy; on timeout fail with ``detail()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = condition()
            if value:
                return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{detail()}")


def main() -> int:
    """`make flux`: the control plane, Flux and the git server in the foreground."""
    root = Path(tempfile.mkdtemp(prefix="paperclip-flux-"))
    print(f"starting the control plane and Flux in {root} ...", flush=True)
    try:
        with flux_running(root) as env:
            work = env.repo.work
            versions_text = ", ".join(f"{k} {v}" for k, v in versions(env.flux.home).items())
            git = f"git -C {work} -c user.name=me -c user.email=me@example.invalid"
            print(
                f"control plane ready in {env.plane.timings['start_s']:.1f}s, "
                f"Flux ({versions_text}) in {env.flux.timings['start_s']:.1f}s\n"
                f"  export KUBECONFIG={env.plane.kubeconfig}\n"
                f"  export PATH=$(cat .venv/.tools-dir):$PATH  # kubectl, helm\n"
                f"  git repository {env.repo.url} (fetch only), pushed from {work}:\n"
                f"    make synth && rm -rf {work}/dist && cp -r dist {work}/\n"
                f"    {git} add -A && {git} commit -m dist && {git} push origin main\n"
                f"  the generated Flux objects, pointed at it:\n"
                f"    kubectl apply -k dist/gitops/flux\n"
                f"    kubectl -n {NAMESPACE} patch gitrepository paperclip-gitops --type merge "
                f'-p \'{{"spec":{{"url":"{env.repo.url}"}}}}\'\n'
                f"    kubectl -n {NAMESPACE} annotate --overwrite gitrepository paperclip-gitops "
                f"reconcile.fluxcd.io/requestedAt=$(date +%s)  # fetch now\n"
                f"    kubectl -n {NAMESPACE} get gitrepositories,kustomizations,helmreleases\n"
                f"  controller logs: {env.flux.root}/<controller>.log\n"
                "Secrets bootstrap pods are run locally; PVCs are bound to new PVs.\n"
                "Ctrl-C stops every process.",
                flush=True,
            )
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except (ControlPlaneError, FluxError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main())
