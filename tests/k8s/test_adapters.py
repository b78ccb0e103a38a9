"""The sandbox and execution RBAC (namespaced in the sandbox namespace and cluster-scoped),
the Flux image automation objects (with the real pinned CRDs installed) and the server pod
with the adapters' env pass server-side dry-run on the real API server."""

from __future__ import annotations

import pytest

from tests.conftest import make_instance, synth_objects
from tests.controlplane.cluster import ControlPlane
from tests.k8s.test_controlplane import apply, ensure_namespace, install_crds

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(180)]

SPEC = {
    "image": {"autoUpdate": {"enabled": True, "interval": "10m"}},
    "branding": {"cssConfigMapRef": {"name": "brand"}},
    "connections": {
        "credentialsSecretRef": {"name": "oauth"},
        "providersConfigRef": {"name": "providers"},
    },
    "adapters": {
        "apiKeysSecretRef": {"name": "llm"},
        "cloudSandbox": {
            "enabled": True,
            "namespace": "adapters-sandboxes",
            "multiNamespace": True,
            "persistence": {"enabled": True},
        },
        "execution": {
            "mode": "kubernetes",
            "kubernetes": {
                "backend": "sandbox-cr",
                "egressMode": "cilium",
                "runtimeClassName": "gvisor",
            },
        },
        "registry": [{"adapterType": "opencode_k8s", "envKeys": ["ANTHROPIC_API_KEY"]}],
    },
}

NEW_KINDS = (
    "Role/ad-sandbox",
    "RoleBinding/ad-sandbox",
    "ClusterRole/adapters-test.ad-sandbox",
    "ClusterRoleBinding/adapters-test.ad-sandbox",
    "ClusterRole/adapters-test.ad-execution",
    "ClusterRoleBinding/adapters-test.ad-execution",
    "ImageRepository/ad",
    "ImagePolicy/ad",
    "ConfigMap/ad-config",
    "NetworkPolicy/ad",
    "StatefulSet/ad",
)


def test_adapter_objects_pass_server_side_dry_run(control_plane: ControlPlane) -> None:
    objects = synth_objects(make_instance(SPEC, name="ad", namespace="adapters-test"))
    chosen = [objects[key] for key in NEW_KINDS]
    install_crds(control_plane, chosen)
    ensure_namespace(control_plane, "adapters-test")
    ensure_namespace(control_plane, "adapters-sandboxes")
    for obj in chosen:
        answer = apply(control_plane, obj, dry_run=True)
        assert answer.metadata.name == obj["metadata"]["name"]
        assert answer.metadata.namespace == obj["metadata"].get("namespace")
    pod = objects["StatefulSet/ad"]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True


def test_the_documented_image_update_automation_passes_dry_run(
    control_plane: ControlPlane,
) -> None:
    """The one object docs/instances.md ("`image.autoUpdate`") tells users to add next to the
    generated ImagePolicy."""
    automation = {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageUpdateAutomation",
        "metadata": {"name": "paperclip", "namespace": "adapters-test"},
        "spec": {
            "interval": "10m",
            "sourceRef": {
                "kind": "GitRepository",
                "name": "paperclip-gitops-push",
                "namespace": "flux-system",
            },
            "git": {
                "checkout": {"ref": {"branch": "main"}},
                "commit": {"author": {"name": "fluxcdbot", "email": "flux@example.com"}},
                "push": {"branch": "image-updates"},
            },
            "update": {"strategy": "Setters", "path": "./dist"},
            "policySelector": {"matchLabels": {"app.kubernetes.io/managed-by": "paperclip-gitops"}},
        },
    }
    install_crds(control_plane, [automation])
    ensure_namespace(control_plane, "adapters-test")
    answer = apply(control_plane, automation, dry_run=True)
    assert answer.metadata.name == "paperclip"
