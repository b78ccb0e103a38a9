"""The Ingress, HTTPRoute (with the real pinned Gateway API CRD installed) and the server
NetworkPolicy the generator writes pass server-side dry-run on the real API server."""

from __future__ import annotations

import pytest

from tests.conftest import make_instance, synth_objects
from tests.controlplane.cluster import ControlPlane
from tests.k8s.test_controlplane import apply, ensure_namespace, install_crds

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(180)]

SPEC = {
    "networking": {
        "ingress": {
            "enabled": True,
            "ingressClassName": "nginx",
            "hosts": ["pc.example.com"],
            "tls": [{"hosts": ["pc.example.com"], "secretName": "pc-tls"}],
        },
        "httpRoute": {
            "enabled": True,
            "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
            "hostnames": ["pc.example.org"],
        },
    }
}


def test_routes_and_policy_pass_server_side_dry_run(control_plane: ControlPlane) -> None:
    objects = synth_objects(make_instance(SPEC, name="net", namespace="networking-test"))
    chosen = [objects[k] for k in ("Ingress/net", "HTTPRoute/net", "NetworkPolicy/net")]
    install_crds(control_plane, chosen)
    ensure_namespace(control_plane, "networking-test")
    for obj in chosen:
        answer = apply(control_plane, obj, dry_run=True)
        assert answer.metadata.name == "net"
