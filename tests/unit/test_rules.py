"""Synth-time rules (CEL rules and the operator's run-time advisories) and decisions."""

from __future__ import annotations

from typing import Any

import pytest

from constructs_lib.spec import WorkloadKind
from constructs_lib.spec.rules import (
    drain_seconds,
    effective_workload,
    errors,
    ordinal_gating,
    replicas,
    warnings,
)
from tests.conftest import make_instance

HA = {
    "deployment": {"mode": "authenticated"},
    "auth": {"secretRef": {"name": "a", "key": "k"}},
    "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}},
    "objectStorage": {"provider": "s3", "bucket": "files"},
    "secrets": {"masterKeySecretRef": {"name": "mk", "key": "k"}},
    "storage": {"persistence": {"enabled": False}},
    "availability": {"replicas": 3},
}


def paths(patch: dict[str, Any]) -> list[str]:
    return sorted(p.path for p in errors(make_instance(patch)))


@pytest.mark.parametrize(
    ("workload", "persistence", "database", "expected"),
    [
        ("StatefulSet", True, "embedded", WorkloadKind.STATEFUL_SET),
        ("StatefulSet", False, "external", WorkloadKind.STATEFUL_SET),
        ("Deployment", False, "external", WorkloadKind.DEPLOYMENT),
        ("Deployment", False, "embedded", WorkloadKind.DEPLOYMENT),
        ("auto", False, "external", WorkloadKind.DEPLOYMENT),
        ("auto", False, "embedded", WorkloadKind.STATEFUL_SET),
        ("auto", True, "external", WorkloadKind.STATEFUL_SET),
        ("auto", True, "embedded", WorkloadKind.STATEFUL_SET),
    ],
)
def test_workload_decision_table(
    workload: str, persistence: bool, database: str, expected: WorkloadKind
) -> None:
    db: dict[str, Any] = {"mode": database}
    if database == "external":
        db["externalURLSecretRef"] = {"name": "db", "key": "url"}
    instance = make_instance(
        {"workload": workload, "database": db, "storage": {"persistence": {"enabled": persistence}}}
    )
    assert effective_workload(instance.spec) is expected


def test_deployment_with_persistence_stops_synth_instead_of_silently_keeping_statefulset() -> None:
    problems = errors(make_instance({"workload": "Deployment"}))
    [problem] = problems
    assert problem.path == "spec.workload"
    assert "persistence.enabled: false" in problem.fix


def test_valid_high_availability_spec_has_no_errors() -> None:
    assert paths({**HA, "heartbeat": {"schedulerGating": "lease"}, "workload": "Deployment"}) == []


def test_multi_replica_preconditions() -> None:
    patch = {
        **HA,
        "database": {"mode": "embedded"},
        "objectStorage": None,
        "secrets": {"strictMode": True},
    }
    assert paths(patch) == ["spec.database.mode", "spec.objectStorage"]


def test_ordinal_gating_on_a_multi_replica_deployment_is_an_error() -> None:
    assert paths({**HA, "workload": "Deployment"}) == ["spec.heartbeat.schedulerGating"]
    assert paths({**HA, "workload": "Deployment", "heartbeat": {"schedulerGating": "auto"}}) == [
        "spec.heartbeat.schedulerGating"
    ]
    assert paths({**HA, "workload": "Deployment", "heartbeat": {"enabled": False}}) == []


def test_ordinal_gating_applies_to_multi_replica_statefulsets_only() -> None:
    assert ordinal_gating(make_instance({**HA, "workload": "StatefulSet"}).spec)
    assert not ordinal_gating(
        make_instance(
            {**HA, "workload": "StatefulSet", "heartbeat": {"schedulerGating": "lease"}}
        ).spec
    )
    assert not ordinal_gating(
        make_instance({**HA, "workload": "StatefulSet", "availability": {"replicas": 1}}).spec
    )
    assert not ordinal_gating(
        make_instance({**HA, "workload": "StatefulSet", "heartbeat": {"enabled": False}}).spec
    )


def test_cel_rules() -> None:
    assert paths({"image": {"tag": None}}) == ["spec.image"]
    local_public = {"deployment": {"mode": "local_trusted", "exposure": "public"}}
    assert paths(local_public) == ["spec.deployment.exposure"]


def test_authenticated_mode_needs_the_auth_secret_only_where_the_onboarded_one_fails() -> None:
    # one pod on a persistent volume: the secret the onboard step writes there is enough
    assert paths({"deployment": {"mode": "authenticated"}}) == []
    no_volume = {"storage": {"persistence": {"enabled": False}}}
    assert paths(no_volume) == ["spec.auth.secretRef"]
    several = {
        "database": {"mode": "external", "externalURLSecretRef": {"name": "d", "key": "u"}},
        "objectStorage": {"provider": "s3", "bucket": "files"},
        "heartbeat": {"schedulerGating": "lease"},
        "availability": {"replicas": 2},
        "storage": {"persistence": {"accessModes": ["ReadWriteMany"]}},
    }
    assert paths(several) == ["spec.auth.secretRef"]
    assert paths({**several, "auth": {"secretRef": {"name": "a", "key": "k"}}}) == []


def test_several_replicas_on_one_claim_need_a_shared_access_mode() -> None:
    several = {
        "database": {"mode": "external", "externalURLSecretRef": {"name": "d", "key": "u"}},
        "objectStorage": {"provider": "s3", "bucket": "files"},
        "heartbeat": {"schedulerGating": "lease"},
        "auth": {"secretRef": {"name": "a", "key": "k"}},
        "availability": {"replicas": 3},
    }
    assert paths(several) == ["spec.storage.persistence.accessModes"]
    for modes in (["ReadWriteOnce"], ["ReadWriteOncePod"]):
        assert paths({**several, "storage": {"persistence": {"accessModes": modes}}}) == [
            "spec.storage.persistence.accessModes"
        ]
    shared = {"persistence": {"accessModes": ["ReadWriteMany"]}}
    assert paths({**several, "storage": shared}) == []
    assert paths({**several, "storage": {"persistence": {"enabled": False}}}) == []
    assert paths({**several, "availability": {"replicas": 1}}) == []


def test_local_trusted_binds_loopback_so_nothing_outside_the_pod_can_be_wired_to_it() -> None:
    local = {"deployment": {"mode": "local_trusted"}}
    assert paths(local) == []
    assert paths({**local, "agents": {"enabled": True}}) == ["spec.agents.enabled"]
    assert paths({**local, "networking": {"service": {"type": "LoadBalancer"}}}) == [
        "spec.networking.service.type"
    ]
    assert paths({**local, "probes": {"type": "http"}}) == ["spec.probes.type"]


def test_database_rules() -> None:
    assert paths({"database": {"mode": None}}) == []  # unset means managed, as in the CRD
    assert paths({"database": {"mode": "external"}}) == ["spec.database"]
    assert paths({"database": {"mode": "embedded", "externalURL": "postgres://h/db"}}) == [
        "spec.database.mode"
    ]


def test_suspended_scales_to_zero() -> None:
    assert replicas(make_instance({"suspended": True}).spec) == 0
    assert replicas(make_instance().spec) == 1


def test_drain_is_clamped_below_the_grace_period() -> None:
    assert drain_seconds(make_instance().spec) == 15
    clamped = make_instance(
        {
            "availability": {
                "terminationGracePeriodSeconds": 10,
                "serverDrain": {"timeoutSeconds": 60},
            }
        }
    )
    assert drain_seconds(clamped.spec) == 9
    assert [w.path for w in warnings(clamped)] == ["spec.availability.serverDrain.timeoutSeconds"]
    off = make_instance({"availability": {"serverDrain": {"enabled": False}}})
    assert drain_seconds(off.spec) == 0


@pytest.mark.parametrize("grace", [0, 1])
def test_a_grace_period_that_leaves_no_drain_is_a_warning(grace: int) -> None:
    """With a grace period of 0 or 1 s the drain is clamped to nothing: the preStop hook goes,
    and the user is told so (a grace period of 0 said nothing)."""
    instance = make_instance({"availability": {"terminationGracePeriodSeconds": grace}})
    assert drain_seconds(instance.spec) == 0
    (warning,) = [w for w in warnings(instance) if w.path.endswith("serverDrain.timeoutSeconds")]
    assert "no preStop drain at all" in warning.message


def test_warnings() -> None:
    assert [w.path for w in warnings(make_instance({"image": {"tag": "latest"}}))] == [
        "spec.image.tag"
    ]
    ephemeral = make_instance({"storage": {"persistence": {"enabled": False}}})
    assert [w.path for w in warnings(ephemeral)] == ["spec.storage.persistence.enabled"]
    assert warnings(make_instance()) == []
