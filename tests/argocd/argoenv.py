"""Real Argo CD on the test control plane: the application controller, the ApplicationSet
controller and the repo server (one binary, three roles) with a disposable Redis, as processes,
beside the loopback git server and the stand-in kubelet of tests/flux/fluxenv.py.

The application controller runs under a least-privilege ServiceAccount built from what the
AppProjects allow (:func:`controller_rules`), not cluster-admin. What kwok and this cluster
lack for the production-shaped apps is provided by :class:`StandInPlatform` (a load balancer
address for Ingresses, the admin bootstrap Job's run), :class:`StandInMetricsAPI` (the
resource metrics an HorizontalPodAutoscaler reads) and :func:`prerequisites` (the
PriorityClass, StorageClass, IngressClass and node labels their objects name).

Used by tests/argocd/test_argocd.py, and by `make argocd` (`python -m tests.argocd.argoenv`)
to run the control plane with Argo CD and the git server in the foreground.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml

from constructs_lib.spec.crds import is_pinned
from tests.controlplane.cluster import (
    NODE_NAME,
    ControlPlane,
    ControlPlaneError,
    free_port,
    running,
)
from tests.controlplane.crds import crd_manifests
from tests.flux.fluxenv import (
    FINISH_LABEL,
    GitRepo,
    GitServer,
    StandInKubelet,
    apply,
    write_kubeconfig,
)
from tests.processes import Supervised, built_dir, http_ok

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BUILD_SCRIPT = HERE / "build.sh"
TOOLS_SCRIPT = REPO / "tests" / "tools" / "kube-tools.sh"
NAMESPACE = "argocd"
CONTROLLER = "argocd-application-controller"
APPSET = "argocd-applicationset-controller"
REPO_SERVER = "argocd-repo-server"
TOKEN_SECONDS = 7 * 24 * 3600
PART_OF = {"app.kubernetes.io/part-of": "argocd"}
ADMIN_BOOTSTRAP_COMPONENT = "bootstrap"
ROOT = "paperclip-gitops"  # the root Application of dist/gitops/argocd
# Every verb a sync uses on an object it manages (apply, prune, hook deletion, cache).
SYNC_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]
ARGO_RESOURCES = ["applications", "applicationsets", "appprojects"]


class ArgoCDError(RuntimeError):
    """Argo CD could not be built or started; the message says which part (with its log)."""


def argocd_home() -> Path:
    """The build output (bin/, crds/): $PAPERCLIP_ARGOCD_DIR, else tests/argocd/build.sh's
    cache."""
    path = built_dir("PAPERCLIP_ARGOCD_DIR", BUILD_SCRIPT, "building Argo CD", ArgoCDError)
    missing = [
        name
        for name in ("argocd", "miniredis", "kustomize", "git-verify-wrapper.sh")
        if not (path / "bin" / name).is_file()
    ]
    if missing:
        raise ArgoCDError(
            f"missing in {path}/bin: {', '.join(missing)}; run `make argocd-binaries`"
        )
    return path


def tools_dir() -> Path:
    """helm (and kubectl): $PAPERCLIP_TOOLS_DIR, else tests/tools/kube-tools.sh's cache."""
    path = built_dir("PAPERCLIP_TOOLS_DIR", TOOLS_SCRIPT, "installing helm", ArgoCDError)
    if not (path / "helm").is_file():
        raise ArgoCDError(f"no helm in {path}; run `make setup`")
    return path


def version(home: Path) -> str:
    """`argocd --version`: the Argo CD and gitops-engine module versions compiled in."""
    result = subprocess.run(
        [str(home / "bin" / "argocd"), "--version"], capture_output=True, text=True, check=True
    )
    return result.stdout


def crd_documents(home: Path) -> list[dict[str, Any]]:
    """The Application, ApplicationSet and AppProject CRDs of the release built."""
    return [
        doc
        for path in sorted((home / "crds").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def install_crds(plane: ControlPlane, crds: list[dict[str, Any]], timeout: float = 120.0) -> None:
    """Apply ``crds`` and wait until the API server serves each of their kinds."""
    from kubernetes import dynamic
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    for crd in crds:
        apply(plane, crd)
    discovery = dynamic.DynamicClient(plane.api_client()).resources
    deadline = time.monotonic() + timeout
    for crd in crds:
        spec = crd["spec"]
        version = next(v["name"] for v in spec["versions"] if v.get("served", True))
        while True:
            try:
                discovery.get(api_version=f"{spec['group']}/{version}", kind=spec["names"]["kind"])
                break
            except ResourceNotFoundError:
                if time.monotonic() > deadline:
                    raise ArgoCDError(
                        f"CRD {crd['metadata']['name']} not served within {timeout:.0f}s"
                    ) from None
                time.sleep(0.2)
                discovery.invalidate_cache()


# -- the least-privilege identity ------------------------------------------------------------


def plural(api: Any, group: str, kind: str) -> str:
    """The resource name of ``group``/``kind`` from the API server's discovery."""
    from kubernetes import dynamic

    found = dynamic.DynamicClient(api).resources.search(group=group, kind=kind)
    names = sorted({r.name for r in found if "/" not in r.name})
    if len(names) != 1:
        raise ArgoCDError(f"discovery has no single resource for {group or 'core'}/{kind}")
    return names[0]


def controller_rules(
    api: Any, projects: Iterable[dict[str, Any]], roles: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The application controller's cluster-wide rules, from what the AppProjects allow:
    every sync verb on each kind of their cluster and namespace resource whitelists, and the
    rules of the Roles the apps apply (the API server lets a subject grant in a Role only what
    it holds itself; watch is added where those rules list, for the controller's cache).

    The namespaced kinds are granted in every namespace, not only the projects' destinations:
    a destination namespace is created by the sync itself (CreateNamespace=true), so a
    RoleBinding could not be there before it, and a newly committed app adds its namespace to
    the project. Argo CD keeps each Application inside its project's destinations."""
    kinds: set[tuple[str, str]] = set()
    for project in projects:
        spec = project["spec"]
        for entry in [
            *spec.get("clusterResourceWhitelist", []),
            *spec.get("namespaceResourceWhitelist", []),
        ]:
            if "*" in (entry["group"], entry["kind"]):
                raise ArgoCDError(f"{project['metadata']['name']}: a wildcard whitelist: {entry}")
            kinds.add((entry["group"], entry["kind"]))
    by_group: dict[str, set[str]] = {}
    for group, kind in sorted(kinds):
        by_group.setdefault(group, set()).add(plural(api, group, kind))
    rules: list[dict[str, Any]] = [
        {"apiGroups": [group], "resources": sorted(resources), "verbs": SYNC_VERBS}
        for group, resources in sorted(by_group.items())
    ]
    delegated: list[dict[str, Any]] = []
    for role in roles:
        for rule in role.get("rules", []):
            rule = {
                k: rule[k]
                for k in ("apiGroups", "resources", "verbs", "resourceNames")
                if k in rule
            }
            if "list" in rule["verbs"] and "watch" not in rule["verbs"]:
                rule = {**rule, "verbs": [*rule["verbs"], "watch"]}
            if rule not in delegated:
                delegated.append(rule)
    return rules + delegated


def identity_objects(controller_cluster_rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The argocd namespace, a ServiceAccount per controller and their RBAC. In the argocd
    namespace both read the settings (ConfigMaps, Secrets) and manage Argo CD's own objects;
    the application controller may also read those objects cluster-wide (its cache lists every
    kind it may list) and holds ``controller_cluster_rules`` everywhere. The repo server talks
    to no API server and has no identity."""
    meta = {"labels": PART_OF}
    settings = {
        "apiGroups": [""],
        "resources": ["configmaps", "secrets"],
        "verbs": ["get", "list", "watch"],
    }
    events = {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch", "list"]}

    def role(name: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": name, "namespace": NAMESPACE, **meta},
                "rules": rules,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": NAMESPACE, **meta},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}],
            },
        ]

    cluster_name = f"{CONTROLLER}-paperclip"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, **meta}},
        *(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": NAMESPACE, **meta},
            }
            for name in (CONTROLLER, APPSET)
        ),
        *role(
            CONTROLLER,
            [
                {"apiGroups": ["argoproj.io"], "resources": ARGO_RESOURCES, "verbs": SYNC_VERBS},
                settings,
                events,
            ],
        ),
        *role(
            APPSET,
            [
                {
                    "apiGroups": ["argoproj.io"],
                    "resources": [
                        *ARGO_RESOURCES,
                        "applicationsets/status",
                        "applicationsets/finalizers",
                    ],
                    "verbs": SYNC_VERBS,
                },
                settings,
                {**events, "verbs": ["create", "get", "list", "patch", "watch"]},
            ],
        ),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": cluster_name, **meta},
            "rules": [
                {
                    "apiGroups": ["argoproj.io"],
                    "resources": ARGO_RESOURCES,
                    "verbs": ["get", "list", "watch"],
                },
                *controller_cluster_rules,
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": cluster_name, **meta},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": cluster_name,
            },
            "subjects": [{"kind": "ServiceAccount", "name": CONTROLLER, "namespace": NAMESPACE}],
        },
    ]


def settings_objects() -> list[dict[str, Any]]:
    """What `kubectl apply -f install.yaml` and argocd-server would otherwise provide:
    argocd-cm, argocd-secret (a random server.secretkey) and the `default` AppProject."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "argocd-cm", "namespace": NAMESPACE, "labels": PART_OF},
            # a kind the controller may not list is left out of its cache instead of failing it
            "data": {"resource.respectRBAC": "normal"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "argocd-secret", "namespace": NAMESPACE, "labels": PART_OF},
            "stringData": {"server.secretkey": secrets.token_urlsafe(32)},
        },
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "default", "namespace": NAMESPACE},
            "spec": {
                "sourceRepos": ["*"],
                "destinations": [{"server": "*", "namespace": "*"}],
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            },
        },
    ]


# -- the processes ---------------------------------------------------------------------------


@dataclass
class ArgoCD(Supervised):
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    plane: ControlPlane
    home: Path
    tools: Path
    root: Path
    cluster_rules: list[dict[str, Any]]
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def _launch(self, timeout: float) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        install_crds(self.plane, crd_documents(self.home), timeout)
        for obj in [*identity_objects(self.cluster_rules), *settings_objects()]:
            apply(self.plane, obj)
        for name in ("redis", "repo", "repo-metrics", "controller-metrics"):
            self.ports[name] = free_port()
        for name in ("appset-metrics", "appset-probe", "appset-webhook"):
            self.ports[name] = free_port()
        self._run("redis", [str(self.home / "bin" / "miniredis"), f"--addr={self._redis}"])
        self.wait_ready("redis", timeout, lambda: self._connects(self.ports["redis"]))
        self._run(REPO_SERVER, self._argocd(REPO_SERVER))
        for name in (CONTROLLER, APPSET):
            token = self.plane.mint_token(NAMESPACE, name, TOKEN_SECONDS)
            kubeconfig = write_kubeconfig(self.plane, token, self.root / f"{name}.kubeconfig")
            self._run(name, self._argocd(name), kubeconfig)
        self.wait_ready(REPO_SERVER, timeout, lambda: self._healthy("repo-metrics", "/healthz"))
        self.wait_ready(
            CONTROLLER, timeout, lambda: self._healthy("controller-metrics", "/healthz")
        )
        # no health check is registered on its probe port; its metrics are served once it runs
        self.wait_ready(APPSET, timeout, lambda: self._healthy("appset-metrics", "/metrics"))

    error = ArgoCDError

    def logs(self, lines: int = 30) -> str:
        return "\n".join(
            f"--- {n} ---\n{self.log(n, lines)}" for n in (REPO_SERVER, CONTROLLER, APPSET)
        )

    @property
    def _redis(self) -> str:
        return f"127.0.0.1:{self.ports['redis']}"

    def _argocd(self, role: str) -> list[str]:
        binary = str(self.home / "bin" / "argocd")
        common = ["--loglevel=info", "--logformat=text"]
        repo = f"127.0.0.1:{self.ports['repo']}"
        if role == REPO_SERVER:
            return [
                binary,
                *common,
                "--address=127.0.0.1",
                f"--port={self.ports['repo']}",
                "--metrics-address=127.0.0.1",
                f"--metrics-port={self.ports['repo-metrics']}",
                "--disable-tls",
                "--client-ca-path=",  # with --disable-tls: no client certificates either
                f"--redis={self._redis}",
            ]
        if role == CONTROLLER:
            return [
                binary,
                *common,
                f"--namespace={NAMESPACE}",
                f"--repo-server={repo}",
                "--repo-server-plaintext",
                f"--redis={self._redis}",
                # binds 0.0.0.0 (no address flag); also serves /healthz
                f"--metrics-port={self.ports['controller-metrics']}",
                # self-heal and retry at once rather than after Argo CD's production back-off
                "--self-heal-timeout-seconds=1",
                "--self-heal-backoff-timeout-seconds=1",
            ]
        return [
            binary,
            *common,
            f"--namespace={NAMESPACE}",
            f"--argocd-repo-server={repo}",
            "--repo-server-plaintext",
            f"--metrics-addr=127.0.0.1:{self.ports['appset-metrics']}",
            f"--probe-addr=127.0.0.1:{self.ports['appset-probe']}",
            f"--webhook-addr=127.0.0.1:{self.ports['appset-webhook']}",
            "--enable-leader-election=false",
        ]

    def _run(self, name: str, command: list[str], kubeconfig: Path | None = None) -> None:
        tmp = self.root / f"{name}.tmp"
        tmp.mkdir(exist_ok=True)
        path = os.pathsep.join(
            [str(self.home / "bin"), str(self.tools), os.environ.get("PATH", "/usr/bin:/bin")]
        )
        env = {
            "PATH": path,  # git, helm, kustomize, git-verify-wrapper.sh, argocd (git askpass)
            "HOME": str(tmp),
            "TMPDIR": str(tmp),
            "ARGOCD_BINARY_NAME": name,
            "ARGOCD_GPG_ENABLED": "false",
        }
        if kubeconfig is not None:
            # the in-cluster destination (https://kubernetes.default.svc) is this kubeconfig
            env |= {"KUBECONFIG": str(kubeconfig), "ARGOCD_FAKE_IN_CLUSTER": "true"}
        self.spawn(name, command, tmp, env)

    @staticmethod
    def _connects(port: int) -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    def _healthy(self, port: str, path: str) -> bool:
        return http_ok(f"http://127.0.0.1:{self.ports[port]}{path}")


# -- what the production-shaped apps expect of a cluster --------------------------------------


def prerequisites(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stand-ins for what the apps' objects name but a platform provides: a PriorityClass per
    priorityClassName, a StorageClass per storageClassName (no provisioner: the stand-in
    kubelet binds claims) and an IngressClass per ingressClassName."""
    priority, storage, ingress = set(), set(), set()
    for obj in objects:
        spec = obj.get("spec") or {}
        pod = ((spec.get("jobTemplate") or {}).get("spec") or spec).get("template", {}).get("spec")
        if pod and pod.get("priorityClassName"):
            priority.add(pod["priorityClassName"])
        if obj["kind"] == "PersistentVolumeClaim" and spec.get("storageClassName"):
            storage.add(spec["storageClassName"])
        for claim in spec.get("volumeClaimTemplates", []):
            if claim["spec"].get("storageClassName"):
                storage.add(claim["spec"]["storageClassName"])
        if obj["kind"] == "Ingress" and spec.get("ingressClassName"):
            ingress.add(spec["ingressClassName"])
    meta = {"labels": {"app.kubernetes.io/managed-by": "paperclip-gitops-tests"}}
    return [
        *(
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": name, **meta},
                "value": 1000000,
            }
            for name in sorted(priority)
        ),
        *(
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": name, **meta},
                "provisioner": "kubernetes.io/no-provisioner",
                "volumeBindingMode": "Immediate",
            }
            for name in sorted(storage)
        ),
        *(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "IngressClass",
                "metadata": {"name": name, **meta},
                "spec": {"controller": "paperclip-gitops.invalid/stand-in-ingress"},
            }
            for name in sorted(ingress)
        ),
    ]


def node_labels(objects: Iterable[dict[str, Any]]) -> dict[str, str]:
    """The node labels the apps' pods select (nodeSelector), for the kwok node."""
    labels: dict[str, str] = {}
    for obj in objects:
        spec = obj.get("spec") or {}
        pod = spec.get("template", {}).get("spec") or {}
        labels.update(pod.get("nodeSelector") or {})
    return labels


@dataclass
class AdminBootstrapRun:
    namespace: str
    pod: str
    server_pods_ready: int


@dataclass
class StandInPlatform:
    """A thread for what a real cluster's add-ons would do: it gives each Ingress a load
    balancer address (an ingress controller), and plays the admin bootstrap Job's container,
    which waits for the server and then calls its API: it records how many server pods were
    Ready when the pod ran, and marks the pod succeeded (failed when none was)."""

    plane: ControlPlane
    admin_runs: list[AdminBootstrapRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> StandInPlatform:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        api = self.plane.api_client()
        while not self._stop.wait(0.3):
            for step in (self._ingress, self._admin_bootstrap):
                try:
                    step(api)
                except Exception as exc:  # keep serving; the tests read the errors
                    self.errors.append(f"{step.__name__}: {exc}"[:500])

    def _ingress(self, api: Any) -> None:
        from kubernetes import client

        networking = client.NetworkingV1Api(api)
        for ingress in networking.list_ingress_for_all_namespaces().items:
            balancer = ingress.status.load_balancer if ingress.status else None
            if balancer and balancer.ingress:
                continue
            networking.patch_namespaced_ingress_status(
                ingress.metadata.name,
                ingress.metadata.namespace,
                {"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}},
            )

    def _admin_bootstrap(self, api: Any) -> None:
        from kubernetes import client

        core = client.CoreV1Api(api)
        selector = f"app.kubernetes.io/component={ADMIN_BOOTSTRAP_COMPONENT},!{FINISH_LABEL}"
        for pod in core.list_pod_for_all_namespaces(label_selector=selector).items:
            if pod.status.phase != "Running" or pod.metadata.deletion_timestamp:
                continue
            namespace = pod.metadata.namespace
            instance = pod.metadata.labels["app.kubernetes.io/instance"]
            server = f"app.kubernetes.io/instance={instance},app.kubernetes.io/component=server"
            ready = sum(
                any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
                for p in core.list_namespaced_pod(namespace, label_selector=server).items
            )
            self.admin_runs.append(AdminBootstrapRun(namespace, pod.metadata.name, ready))
            core.patch_namespaced_pod(
                pod.metadata.name,
                namespace,
                {"metadata": {"labels": {FINISH_LABEL: "succeeded" if ready else "failed"}}},
            )


# -- a resource metrics API ------------------------------------------------------------------


METRICS_GROUP_VERSION = "metrics.k8s.io/v1beta1"
METRICS_SERVICE = ("kube-system", "paperclip-gitops-stand-in-metrics")


class _MetricsHandler(BaseHTTPRequestHandler):
    """metrics.k8s.io/v1beta1 as metrics-server serves it, for pods and nodes: every running
    container uses 50m CPU and 64Mi memory, measured just now."""

    protocol_version = "HTTP/1.1"
    server: _MetricsServer

    def log_message(self, format: str, *args: Any) -> None:
        self.server.requests.append(self.path)

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")
        base = ["apis", *METRICS_GROUP_VERSION.split("/")]
        body: dict[str, Any] | None = None
        if parts == base:
            body = {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": METRICS_GROUP_VERSION,
                "resources": [
                    {"name": n, "namespaced": ns, "kind": k, "verbs": ["get", "list"]}
                    for n, ns, k in (("pods", True, "PodMetrics"), ("nodes", False, "NodeMetrics"))
                ],
            }
        elif parts[: len(base)] == base and parts[-1] in ("pods", "nodes"):
            namespace = parts[len(base) + 1] if parts[len(base)] == "namespaces" else None
            selector = parse_qs(query).get("labelSelector", [""])[0]
            body = self.server.metrics(parts[-1], namespace, selector)
        payload = json.dumps(body or {"kind": "Status", "code": 404}).encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, plane: ControlPlane, root: Path) -> None:
        self.plane = plane
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", free_port()), _MetricsHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*_self_signed(root, "localhost"))
        self.socket = context.wrap_socket(self.socket, server_side=True)

    def metrics(self, resource: str, namespace: str | None, selector: str) -> dict[str, Any]:
        from kubernetes import client

        core = client.CoreV1Api(self.plane.api_client())
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        usage = {"cpu": "50m", "memory": "64Mi"}
        if resource == "nodes":
            items = [
                {
                    "metadata": {"name": n.metadata.name},
                    "timestamp": now,
                    "window": "1s",
                    "usage": usage,
                }
                for n in core.list_node(label_selector=selector).items
            ]
            return {"kind": "NodeMetricsList", "apiVersion": METRICS_GROUP_VERSION, "items": items}
        pods = (
            core.list_namespaced_pod(namespace, label_selector=selector)
            if namespace
            else core.list_pod_for_all_namespaces(label_selector=selector)
        ).items
        items = [
            {
                "metadata": {"name": p.metadata.name, "namespace": p.metadata.namespace},
                "timestamp": now,
                "window": "1s",
                "containers": [{"name": c.name, "usage": usage} for c in p.spec.containers],
            }
            for p in pods
            if p.status.phase == "Running"
        ]
        return {"kind": "PodMetricsList", "apiVersion": METRICS_GROUP_VERSION, "items": items}


def _self_signed(root: Path, host: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    root.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = root / "metrics.crt", root / "metrics.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return str(cert_file), str(key_file)


class StandInMetricsAPI:
    """The resource metrics API (metrics.k8s.io) a cluster's metrics-server provides, which the
    HorizontalPodAutoscaler controller reads: a TLS server on loopback registered as an
    APIService, reached by the API server through an ExternalName Service (`localhost`)."""

    def __init__(self, plane: ControlPlane, root: Path) -> None:
        self.plane = plane
        self._server = _MetricsServer(plane, root)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def requests(self) -> list[str]:
        return self._server.requests

    def __enter__(self) -> StandInMetricsAPI:
        self._thread.start()
        namespace, name = METRICS_SERVICE
        group, _, version = METRICS_GROUP_VERSION.partition("/")
        meta = {"labels": {"app.kubernetes.io/managed-by": "paperclip-gitops-tests"}}
        apply(
            self.plane,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": namespace, **meta},
                "spec": {"type": "ExternalName", "externalName": "localhost"},
            },
        )
        apply(
            self.plane,
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": f"{version}.{group}", **meta},
                "spec": {
                    "group": group,
                    "version": version,
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                    "insecureSkipTLSVerify": True,  # its certificate is self-signed
                    "service": {
                        "namespace": namespace,
                        "name": name,
                        "port": int(self._server.server_address[1]),
                    },
                },
            },
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- everything together ---------------------------------------------------------------------


@dataclass
class ArgoEnvironment:
    plane: ControlPlane
    argocd: ArgoCD
    git: GitServer
    repo: GitRepo
    kubelet: StandInKubelet
    platform: StandInPlatform


def tree_objects(tree: Path) -> list[dict[str, Any]]:
    """Every object of every app's Kustomize directory in a synthesized tree."""
    return [
        doc
        for path in sorted(tree.glob("*/kustomize/*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def tree_projects(tree: Path) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((tree / "gitops").glob("argocd*/appproject-*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


@contextlib.contextmanager
def argocd_running(
    root: Path, trees: Callable[[str], list[Path]], plane: ControlPlane | None = None
) -> Iterator[ArgoEnvironment]:
    """Argo CD (and the git server, the stand-in kubelet and platform) on ``plane`` or a new
    control plane, prepared for the apps of the synthesized dist/ trees that ``trees`` returns
    when given the git repository's URL (it runs while the control plane starts): their
    non-core CRDs, the stand-in prerequisites, and the controller's RBAC from their
    AppProjects and Roles."""
    home, tools = argocd_home(), tools_dir()
    with contextlib.ExitStack() as stack:
        git = stack.enter_context(GitServer(root / "git"))
        repo = GitRepo(git, root / "work")
        with ThreadPoolExecutor(max_workers=1) as pool:
            synthesized = pool.submit(trees, repo.url)
            if plane is None:
                plane = stack.enter_context(running(root / "k8s"))
            prepared = synthesized.result()
        objects = [o for tree in prepared for o in tree_objects(tree)]
        used = sorted(
            {(o["apiVersion"], o["kind"]) for o in objects if is_pinned(o["apiVersion"], o["kind"])}
        )
        install_crds(plane, crd_manifests(used))
        for obj in prerequisites(objects):
            apply(plane, obj)
        _label_node(plane, node_labels(objects))
        rules = controller_rules(
            plane.api_client(),
            [p for tree in prepared for p in tree_projects(tree)],
            [o for o in objects if o["kind"] == "Role"],
        )
        kubelet = stack.enter_context(StandInKubelet(plane, root / "kubelet"))
        platform = stack.enter_context(StandInPlatform(plane))
        stack.enter_context(StandInMetricsAPI(plane, root / "metrics"))
        argocd = stack.enter_context(ArgoCD(plane, home, tools, root / "argocd", rules))
        yield ArgoEnvironment(plane, argocd, git, repo, kubelet, platform)


def _label_node(plane: ControlPlane, labels: dict[str, str]) -> None:
    from kubernetes import client

    if labels:
        client.CoreV1Api(plane.api_client()).patch_node(NODE_NAME, {"metadata": {"labels": labels}})


def main() -> int:
    """`make argocd`: the control plane, Argo CD and the git server in the foreground, prepared
    for the apps of dist/ (the controller's RBAC from dist/gitops/argocd's AppProject)."""
    root = Path(tempfile.mkdtemp(prefix="paperclip-argocd-"))
    print(f"starting the control plane and Argo CD in {root} ...", flush=True)
    try:
        with argocd_running(root, lambda url: [REPO / "dist"]) as env:
            work = env.repo.work
            git = f"git -C {work} -c user.name=me -c user.email=me@example.invalid"
            built = version(env.argocd.home).splitlines()[0]
            refresh = "argocd.argoproj.io/refresh=normal"
            print(
                f"control plane ready in {env.plane.timings['start_s']:.1f}s, "
                f"{built} in {env.argocd.timings['start_s']:.1f}s\n"
                f"  export KUBECONFIG={env.plane.kubeconfig}\n"
                f"  export PATH=$(cat .venv/.tools-dir):$PATH  # kubectl, helm\n"
                f"  git repository {env.repo.url} (fetch only), pushed from {work}:\n"
                f"    cp -r apps /tmp/apps && sed -i 's|^repoURL: [^ ]*|repoURL: "
                f"{env.repo.url}|' /tmp/apps/_gitops.yaml\n"
                f"    .venv/bin/paperclip-gitops synth --apps-dir /tmp/apps --out {work}/dist\n"
                f"    {git} add -A && {git} commit -m dist && {git} push origin main\n"
                f"  the one object applied by hand, the self-managing root:\n"
                f"    kubectl apply -f {work}/dist/gitops/argocd/application-{ROOT}.yaml\n"
                f"    kubectl -n {NAMESPACE} annotate --overwrite applications --all {refresh}"
                "  # after a push\n"
                f"    kubectl -n {NAMESPACE} get applications,applicationsets,appprojects\n"
                f"  logs: {env.argocd.root}/<component>.log\n"
                "Secrets bootstrap pods are run locally; PVCs are bound to new PVs; Ingresses "
                "get 127.0.0.1; admin bootstrap pods succeed once the server is ready.\n"
                "Ctrl-C stops every process.",
                flush=True,
            )
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except (ControlPlaneError, ArgoCDError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main())
