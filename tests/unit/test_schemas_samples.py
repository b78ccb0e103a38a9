"""Samples, no tests: a valid object of every pinned non-core kind, and variants of some.

Shared by the unit tests (our validator) and the control-plane tests (the real API server
with the real CRDs installed), so both judge exactly the same objects.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

NAMESPACE = "crd-samples"
REPO_URL = "https://github.com/example/paperclip-gitops.git"


def _object(api_version: str, kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "paperclip"}},
        "spec": spec,
    }


SAMPLES: list[dict[str, Any]] = [
    _object(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        "paperclip",
        {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "paperclip"}},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
    ),
    _object(
        "monitoring.coreos.com/v1",
        "PodMonitor",
        "paperclip",
        {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "paperclip"}},
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics"}],
        },
    ),
    _object(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        "paperclip",
        {
            "groups": [
                {
                    "name": "paperclip",
                    "rules": [
                        {
                            "alert": "PaperclipDown",
                            "expr": 'up{job="paperclip"} == 0',
                            "for": "5m",
                            "labels": {"severity": "critical"},
                            "annotations": {"summary": "Paperclip is down"},
                        }
                    ],
                }
            ]
        },
    ),
    _object(
        "gateway.networking.k8s.io/v1",
        "HTTPRoute",
        "paperclip",
        {
            "parentRefs": [{"name": "public", "namespace": "gateways"}],
            "hostnames": ["paperclip.example.com"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": "paperclip", "port": 3100}],
                }
            ],
        },
    ),
    _object(
        "argoproj.io/v1alpha1",
        "Application",
        "paperclip",
        {
            "project": "default",
            "source": {
                "repoURL": REPO_URL,
                "path": "dist/quickstart/kustomize",
                "targetRevision": "main",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "paperclip"},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    ),
    _object(
        "argoproj.io/v1alpha1",
        "ApplicationSet",
        "paperclip",
        {
            "generators": [
                {
                    "git": {
                        "repoURL": REPO_URL,
                        "revision": "main",
                        "directories": [{"path": "dist/*/kustomize"}],
                    }
                }
            ],
            "template": {
                "metadata": {"name": "{{path[1]}}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": REPO_URL, "path": "{{path}}", "targetRevision": "main"},
                    "destination": {
                        "server": "https://kubernetes.default.svc",
                        "namespace": "paperclip",
                    },
                },
            },
        },
    ),
    _object(
        "argoproj.io/v1alpha1",
        "AppProject",
        "paperclip",
        {
            "sourceRepos": [REPO_URL],
            "destinations": [
                {"namespace": "paperclip", "server": "https://kubernetes.default.svc"}
            ],
            "namespaceResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    ),
    _object(
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        "paperclip",
        {"interval": "1m", "url": REPO_URL, "ref": {"branch": "main"}},
    ),
    _object(
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        "paperclip",
        {
            "interval": "10m",
            "path": "./dist/quickstart/kustomize",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "paperclip"},
        },
    ),
    _object(
        "helm.toolkit.fluxcd.io/v2",
        "HelmRelease",
        "paperclip",
        {
            "interval": "10m",
            "chart": {
                "spec": {
                    "chart": "./dist/quickstart/helm",
                    "reconcileStrategy": "Revision",
                    "sourceRef": {"kind": "GitRepository", "name": "paperclip"},
                }
            },
            "values": {"replicas": 2, "image": {"tag": "2026.1106.0"}},
        },
    ),
    _object(
        "image.toolkit.fluxcd.io/v1",
        "ImageRepository",
        "paperclip",
        {"image": "ghcr.io/paperclipai/paperclip", "interval": "5m"},
    ),
    _object(
        "image.toolkit.fluxcd.io/v1",
        "ImagePolicy",
        "paperclip",
        {"imageRepositoryRef": {"name": "paperclip"}, "policy": {"semver": {"range": ">=1.0.0"}}},
    ),
    _object(
        "image.toolkit.fluxcd.io/v1",
        "ImageUpdateAutomation",
        "paperclip",
        {
            "interval": "30m",
            "sourceRef": {"kind": "GitRepository", "name": "paperclip"},
            "git": {
                "checkout": {"ref": {"branch": "main"}},
                "commit": {"author": {"email": "bot@example.com", "name": "paperclip-bot"}},
                "push": {"branch": "image-updates"},
            },
            "update": {"path": "./dist", "strategy": "Setters"},
        },
    ),
]


def sample(kind: str) -> dict[str, Any]:
    """A fresh copy of the sample of one kind."""
    [found] = [s for s in SAMPLES if s["kind"] == kind]
    return copy.deepcopy(found)


def _changed(kind: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    obj = sample(kind)
    change(obj)
    return obj


def _cors(max_age: int) -> list[dict[str, Any]]:
    return [
        {"type": "CORS", "cors": {"allowOrigins": ["https://app.example.com"], "maxAge": max_age}}
    ]


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = obj
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value


# (what is wrong, the object): our validator and the API server must both reject each one.
INVALID: list[tuple[str, dict[str, Any]]] = [
    (  # the API server checks CRD int32/int64 formats since Kubernetes 1.36
        "an int32 field above 2^31-1",
        _changed("HTTPRoute", lambda o: _set(o, "spec.rules.0.filters", _cors(2**31))),
    ),
    (
        "unknown field in a ServiceMonitor endpoint",
        _changed("ServiceMonitor", lambda o: _set(o, "spec.endpoints.0.portt", "http")),
    ),
    (
        "a number where GitRepository wants a string",
        _changed("GitRepository", lambda o: _set(o, "spec.ref.branch", 123)),
    ),
    (
        "an HTTPRoute backend port above 65535",
        _changed("HTTPRoute", lambda o: _set(o, "spec.rules.0.backendRefs.0.port", 70000)),
    ),
    (
        "a Kustomization sourceRef kind outside the enum",
        _changed("Kustomization", lambda o: _set(o, "spec.sourceRef.kind", "Git")),
    ),
    (
        "an unknown metadata field",
        _changed("PrometheusRule", lambda o: _set(o, "metadata.labelz", {"a": "b"})),
    ),
    (
        "a missing required field",
        _changed("ImagePolicy", lambda o: o["spec"].pop("imageRepositoryRef")),
    ),
]

# Refused by our validator on purpose, accepted by the API server: the server does not check
# the range of `format: int32` fields (the controller's Go int32 then fails to decode the
# object at run time), and it silently drops a null given to a non-nullable field.
STRICTER: list[tuple[str, dict[str, Any]]] = [
    (
        "a null for a non-nullable field",
        _changed("GitRepository", lambda o: _set(o, "spec.ref.branch", None)),
    ),
]

# Variants that both must accept (the valid twins of some invalid ones, and special types).
VALID_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    (
        "an int32 field at a normal value",
        _changed("HTTPRoute", lambda o: _set(o, "spec.rules.0.filters", _cors(600))),
    ),
    (
        "preserved unknown fields (HelmRelease values)",
        _changed("HelmRelease", lambda o: _set(o, "spec.values", {"any": {"thing": [1, "a"]}})),
    ),
    (
        "an int-or-string port given as a name",
        _changed("ServiceMonitor", lambda o: _set(o, "spec.endpoints.0", {"targetPort": "http"})),
    ),
]

# Valid for our validator (CEL rules cannot be evaluated in Python), refused by the API
# server's x-kubernetes-validations: the control-plane tests are where CEL is checked.
CEL_ONLY: list[tuple[str, dict[str, Any]]] = [
    (
        "an HTTPRoute PathPrefix match that does not start with '/'",
        _changed("HTTPRoute", lambda o: _set(o, "spec.rules.0.matches.0.path.value", "no-slash")),
    ),
]
