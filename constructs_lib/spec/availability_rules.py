"""Rules for availability.autoScaling and availability.podDisruptionBudget.

The operator reports PDBMayBlockDrains as an event at run time; here a budget that blocks
every node drain stops synthesis, and one that blocks drains only at the autoscaler's
minimum is a warning.
"""

from __future__ import annotations

from collections.abc import Iterator

from constructs_lib.errors import Problem
from constructs_lib.spec.instance import Instance
from constructs_lib.spec.platform import AvailabilitySpec, PodDisruptionBudgetSpec, WorkloadKind

AS = "spec.availability.autoScaling"
PDB = "spec.availability.podDisruptionBudget"


def errors(instance: Instance) -> Iterator[Problem]:
    spec = instance.spec
    availability = spec.availability
    scaling = availability.autoscaler
    if scaling is not None:
        if scaling.min_replicas > scaling.effective_max:
            yield Problem(
                f"{scaling.min_replicas} is more than maxReplicas ({scaling.effective_max}).",
                f"{AS}.minReplicas",
                "lower minReplicas or raise maxReplicas.",
            )
        # (on a Deployment the general ordinal rule in rules.py already reports it)
        from constructs_lib.spec.rules import effective_workload  # (rules imports this module)

        stateful = effective_workload(spec) is not WorkloadKind.DEPLOYMENT
        if spec.heartbeat.ordinal and stateful:
            yield Problem(
                "resolves to ordinal, which is decided when the manifests are written from "
                "a fixed replica count; with an autoscaler the count changes at run time.",
                "spec.heartbeat.schedulerGating",
                "set spec.heartbeat.schedulerGating: lease.",
            )
        requests = (spec.resources or {}).get("requests") or {}
        targets = (
            ("cpu", scaling.target_cpu_utilization_percentage, "targetCPUUtilizationPercentage"),
            (
                "memory",
                scaling.target_memory_utilization_percentage,
                "targetMemoryUtilizationPercentage",
            ),
        )
        for resource, target, field in targets:
            if target is not None and resource not in requests:
                yield Problem(
                    f"aims at {target}% {resource} utilization, which is measured against "
                    f"the container's {resource} request, and the server has none: the "
                    "autoscaler would report FailedGetResourceMetric and never scale.",
                    f"{AS}.{field}",
                    f"set spec.resources.requests.{resource}, or remove the target.",
                )
    budget = availability.pod_disruption_budget
    if budget is not None and budget.enabled:
        if (budget.min_available is None) == (budget.max_unavailable is None):
            yield Problem(
                "sets both minAvailable and maxUnavailable (the API server refuses that)."
                if budget.min_available is not None
                else "sets neither minAvailable nor maxUnavailable.",
                PDB,
                "set exactly one of minAvailable or maxUnavailable.",
            )
        elif not spec.suspended and _blocks_every_drain(budget, availability):
            allowed = (
                "maxUnavailable 0"
                if budget.max_unavailable is not None
                else f"minAvailable {budget.min_available} with at most "
                f"{availability.max_replicas} replica(s)"
            )
            yield Problem(
                f"allows no voluntary disruption at all ({allowed}): every node drain and "
                "cluster upgrade would wait on this pod forever (the operator's "
                "PDBMayBlockDrains).",
                PDB,
                "lower minAvailable below the replica count, set maxUnavailable to at "
                "least 1, or run more replicas.",
            )


def warnings(instance: Instance) -> Iterator[Problem]:
    spec = instance.spec
    availability = spec.availability
    budget = availability.pod_disruption_budget
    scaling = availability.autoscaler
    if budget is None or not budget.enabled or spec.suspended or scaling is None:
        return
    if (
        budget.min_available is not None
        and budget.min_available >= scaling.min_replicas
        and not _blocks_every_drain(budget, availability)
    ):
        yield Problem(
            f"minAvailable {budget.min_available} is not below the autoscaler's "
            f"minReplicas {scaling.min_replicas}: at minimum scale the budget allows no "
            "disruption, so node drains may block (the operator's PDBMayBlockDrains).",
            f"{PDB}.minAvailable",
            "lower minAvailable, or raise autoScaling.minReplicas.",
        )


def _blocks_every_drain(budget: PodDisruptionBudgetSpec, availability: AvailabilitySpec) -> bool:
    if budget.max_unavailable is not None:
        return budget.max_unavailable == 0
    return budget.min_available is not None and budget.min_available >= availability.max_replicas
