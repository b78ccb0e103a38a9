"""availability.autoScaling (HPA) and availability.podDisruptionBudget (PDB): objects, the
replica count left to the autoscaler, and the rules (PDBMayBlockDrains as a synth error)."""

from __future__ import annotations

from typing import Any

import pytest

from constructs_lib.spec import rules
from tests.conftest import make_instance, synth_objects

SCALABLE = {
    "deployment": {"mode": "authenticated"},
    "auth": {"secretRef": {"name": "a", "key": "k"}},
    "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}},
    "objectStorage": {"provider": "s3", "bucket": "files"},
    "heartbeat": {"schedulerGating": "lease"},
    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
    # the replicas share one data volume: a class that lets several nodes mount it
    "storage": {"persistence": {"accessModes": ["ReadWriteMany"], "storageClass": "nfs"}},
}
HPA = {"autoScaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 5}}


def problems(patch: dict[str, Any]) -> tuple[list[str], list[str]]:
    instance = make_instance({**SCALABLE, **patch})
    return [p.path for p in rules.errors(instance)], [p.path for p in rules.warnings(instance)]


def test_the_autoscaler_targets_the_workload_which_leaves_replicas_to_it() -> None:
    objects = synth_objects(make_instance({**SCALABLE, "availability": HPA}))
    hpa = objects["HorizontalPodAutoscaler/demo"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "demo"},
        "minReplicas": 2,
        "maxReplicas": 5,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ],
    }
    assert "replicas" not in objects["StatefulSet/demo"]["spec"]
    # off, or suspended: no autoscaler, and a fixed count
    plain = synth_objects(make_instance(SCALABLE))
    assert "HorizontalPodAutoscaler/demo" not in plain
    assert plain["StatefulSet/demo"]["spec"]["replicas"] == 1
    suspended = synth_objects(make_instance({**SCALABLE, "availability": HPA, "suspended": True}))
    assert "HorizontalPodAutoscaler/demo" not in suspended
    assert suspended["StatefulSet/demo"]["spec"]["replicas"] == 0


def test_max_replicas_zero_means_three_and_memory_targets_are_optional() -> None:
    scaling = {
        "enabled": True,
        "maxReplicas": 0,
        "targetCPUUtilizationPercentage": None,
        "targetMemoryUtilizationPercentage": 70,
    }
    objects = synth_objects(make_instance({**SCALABLE, "availability": {"autoScaling": scaling}}))
    spec = objects["HorizontalPodAutoscaler/demo"]["spec"]
    assert spec["maxReplicas"] == 3
    assert [m["resource"]["name"] for m in spec["metrics"]] == ["memory"]


def test_the_autoscaler_counts_as_several_replicas_for_the_multi_replica_rules() -> None:
    errors, _ = problems({"availability": HPA, "objectStorage": None})
    assert "spec.objectStorage" in errors
    embedded = {"availability": HPA, "database": {"mode": "embedded"}}
    errors, _ = problems(embedded)
    assert "spec.database.mode" in errors
    errors, _ = problems({"availability": HPA, "heartbeat": {"schedulerGating": "ordinal"}})
    assert errors == ["spec.heartbeat.schedulerGating"]
    objects = synth_objects(make_instance({**SCALABLE, "availability": HPA}))
    assert "Job/demo-secrets-bootstrap" in objects  # a shared master key for the replicas


def test_autoscaler_rules() -> None:
    errors, _ = problems(
        {"availability": {"autoScaling": {**HPA["autoScaling"], "minReplicas": 9}}}
    )
    assert errors == ["spec.availability.autoScaling.minReplicas"]
    errors, _ = problems({"availability": HPA, "resources": None})
    assert errors == ["spec.availability.autoScaling.targetCPUUtilizationPercentage"]


def test_the_budget_selects_the_server_pods() -> None:
    budget = {"enabled": True, "maxUnavailable": 1}
    objects = synth_objects(
        make_instance({**SCALABLE, "availability": {"replicas": 3, "podDisruptionBudget": budget}})
    )
    pdb = objects["PodDisruptionBudget/demo"]
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"] == {
        "selector": {
            "matchLabels": {
                "app.kubernetes.io/name": "paperclip",
                "app.kubernetes.io/instance": "demo",
                "app.kubernetes.io/component": "server",
            }
        },
        "maxUnavailable": 1,
    }


@pytest.mark.parametrize(
    ("availability", "error"),
    [
        ({"replicas": 1, "podDisruptionBudget": {"enabled": True, "minAvailable": 1}}, True),
        ({"replicas": 3, "podDisruptionBudget": {"enabled": True, "minAvailable": 3}}, True),
        ({"replicas": 3, "podDisruptionBudget": {"enabled": True, "maxUnavailable": 0}}, True),
        ({"replicas": 3, "podDisruptionBudget": {"enabled": True, "minAvailable": 2}}, False),
        ({"replicas": 2, "podDisruptionBudget": {"enabled": True}}, True),
        (
            {
                "replicas": 2,
                "podDisruptionBudget": {"enabled": True, "minAvailable": 1, "maxUnavailable": 1},
            },
            True,
        ),
        ({"replicas": 1, "podDisruptionBudget": {"enabled": False, "minAvailable": 1}}, False),
    ],
)
def test_a_budget_that_blocks_every_drain_is_an_error(
    availability: dict[str, Any], error: bool
) -> None:
    errors, _ = problems({"availability": availability})
    assert ("spec.availability.podDisruptionBudget" in errors) is error


def test_a_budget_that_blocks_drains_at_minimum_scale_is_a_warning() -> None:
    scaling = {"enabled": True, "minReplicas": 2, "maxReplicas": 5}
    budget = {"enabled": True, "minAvailable": 2}
    errors, warnings = problems(
        {"availability": {"autoScaling": scaling, "podDisruptionBudget": budget}}
    )
    assert "spec.availability.podDisruptionBudget" not in errors
    assert "spec.availability.podDisruptionBudget.minAvailable" in warnings
