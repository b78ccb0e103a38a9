"""The ServiceMonitor and PrometheusRule (with the real pinned prometheus-operator CRDs
installed), the Grafana dashboard ConfigMaps, and the Tailscale ConfigMap, native sidecar and
NetworkPolicy the generator writes pass server-side dry-run on the real API server."""

from __future__ import annotations

import pytest

from tests.conftest import make_instance, synth_objects
from tests.controlplane.cluster import ControlPlane
from tests.k8s.test_controlplane import apply, ensure_namespace, install_crds

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(180)]

NAMESPACE = "observability-test"
SPEC = {
    "deployment": {
        "mode": "authenticated",
        "exposure": "public",
        "publicURL": "https://obs.tail1234.ts.net",
    },
    "auth": {"secretRef": {"name": "obs-auth", "key": "secret"}},
    "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}},
    "observability": {
        "metrics": {
            "enabled": True,
            "serviceMonitor": {"enabled": True, "interval": "1m", "labels": {"release": "kps"}},
            "prometheusRule": {"enabled": True, "labels": {"release": "kps"}},
            "grafanaDashboard": {"enabled": True, "folder": "Paperclip"},
        }
    },
    "tailscale": {
        "enabled": True,
        "mode": "funnel",
        "image": {"tag": "v1.84.3"},
        "authKey": {"secretRef": {"name": "ts-auth"}},
    },
}
CHOSEN = (
    "ServiceMonitor/obs",
    "PrometheusRule/obs-alerts",
    "ConfigMap/obs-dashboard-operator",
    "ConfigMap/obs-dashboard-instance",
    "ConfigMap/obs-tailscale",
    "ConfigMap/obs-config",
    "NetworkPolicy/obs",
    "StatefulSet/obs",
)


@pytest.mark.parametrize("persistence", [True, False], ids=["persistent", "ephemeral"])
def test_metrics_and_tailscale_objects_pass_server_side_dry_run(
    control_plane: ControlPlane, persistence: bool
) -> None:
    spec = {**SPEC, "storage": {"persistence": {"enabled": persistence}}}
    objects = synth_objects(make_instance(spec, name="obs", namespace=NAMESPACE))
    chosen = [objects[k] for k in CHOSEN]
    install_crds(control_plane, chosen)
    ensure_namespace(control_plane, NAMESPACE)
    for obj in chosen:
        answer = apply(control_plane, obj, dry_run=True)
        assert answer.metadata.name == obj["metadata"]["name"]
    # the API server kept the native sidecar's restartPolicy (it would drop an unknown field)
    answer = apply(control_plane, objects["StatefulSet/obs"], dry_run=True)
    [tailscale] = [c for c in answer.spec.template.spec.initContainers if c.name == "tailscale"]
    assert tailscale.restartPolicy == "Always"
