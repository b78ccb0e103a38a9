"""Availability: a HorizontalPodAutoscaler and a PodDisruptionBudget for the server pods."""

from __future__ import annotations

from typing import Any

from constructs_lib.constructs.feature import Feature
from constructs_lib.constructs.names import server_name, server_selector
from constructs_lib.spec import Instance
from constructs_lib.spec.platform import AutoScalingSpec, PodDisruptionBudgetSpec
from constructs_lib.spec.rules import effective_workload


def autoscaler_body(instance: Instance, scaling: AutoScalingSpec) -> dict[str, Any]:
    metrics = [
        {
            "type": "Resource",
            "resource": {
                "name": name,
                "target": {"type": "Utilization", "averageUtilization": target},
            },
        }
        for name, target in (
            ("cpu", scaling.target_cpu_utilization_percentage),
            ("memory", scaling.target_memory_utilization_percentage),
        )
        if target is not None
    ]
    spec: dict[str, Any] = {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": effective_workload(instance.spec).value,
            "name": server_name(instance),
        },
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.effective_max,
    }
    if metrics:
        spec["metrics"] = metrics
    return {"spec": spec}


def disruption_budget_body(instance: Instance, budget: PodDisruptionBudgetSpec) -> dict[str, Any]:
    limits = {"minAvailable": budget.min_available, "maxUnavailable": budget.max_unavailable}
    selector = {"matchLabels": server_selector(instance)}
    return {"spec": {"selector": selector, **{k: v for k, v in limits.items() if v is not None}}}


class AvailabilityFeature(Feature):
    """``availability.autoScaling`` and ``availability.podDisruptionBudget``."""

    id = "availability"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        availability = instance.spec.availability
        budget = availability.pod_disruption_budget
        return availability.autoscaler is not None or (budget is not None and budget.enabled)

    def add_objects(self) -> None:
        instance = self.context.instance
        availability = instance.spec.availability
        name = server_name(instance)
        scaling = availability.autoscaler
        if scaling is not None and not instance.spec.suspended:
            self.add("HorizontalPodAutoscaler", name, autoscaler_body(instance, scaling))
        budget = availability.pod_disruption_budget
        if budget is not None and budget.enabled:
            self.add("PodDisruptionBudget", name, disruption_budget_body(instance, budget))
