"""The autoscaler and the disruption budget the generator writes are accepted by the real API
server (server-side dry-run), and the HPA controller in kube-controller-manager picks the
autoscaler up for the generated workload."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client, dynamic

from tests.conftest import make_instance, synth_objects
from tests.controlplane.cluster import ControlPlane
from tests.k8s.harness import wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(180)]

NAMESPACE = "availability-test"
SPEC = {
    "deployment": {"mode": "authenticated"},
    "auth": {"secretRef": {"name": "a", "key": "k"}},
    "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}},
    "objectStorage": {"provider": "s3", "bucket": "files"},
    "heartbeat": {"schedulerGating": "lease"},
    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
    "availability": {
        "autoScaling": {
            "enabled": True,
            "minReplicas": 2,
            "maxReplicas": 4,
            "targetMemoryUtilizationPercentage": 75,
        },
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
    },
}


def _apply(plane: ControlPlane, obj: dict[str, Any], dry_run: bool) -> Any:
    dyn = dynamic.DynamicClient(plane.api_client())
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    kwargs: dict[str, Any] = {"field_manager": "availability-test", "force_conflicts": True}
    if dry_run:
        kwargs["dry_run"] = "All"
    return resource.server_side_apply(body=obj, namespace=NAMESPACE, **kwargs)


def test_autoscaler_and_budget_are_accepted_and_the_hpa_controller_takes_the_workload(
    control_plane: ControlPlane,
) -> None:
    core = client.CoreV1Api(control_plane.api_client())
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    wait_for("default SA", lambda: core.read_namespaced_service_account("default", NAMESPACE))
    objects = synth_objects(make_instance(SPEC, name="av", namespace=NAMESPACE))
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "StatefulSet"):
        answer = _apply(control_plane, objects[f"{kind}/av"], dry_run=True)
        assert answer.metadata.name == "av"
    # for real: the HPA controller scales the StatefulSet (which carries no replica count)
    # up to minReplicas
    for kind in ("ServiceAccount", "ConfigMap", "StatefulSet", "HorizontalPodAutoscaler"):
        name = "av-config" if kind == "ConfigMap" else "av"
        _apply(control_plane, objects[f"{kind}/{name}"], dry_run=False)
    apps = client.AppsV1Api(control_plane.api_client())
    wait_for(
        "the HPA controller to scale the StatefulSet to minReplicas",
        lambda: apps.read_namespaced_stateful_set("av", NAMESPACE).spec.replicas == 2,
        timeout=90,
    )
