"""The Instance spec model: defaults, aliases and validation."""

from __future__ import annotations

import json

import pytest

from constructs_lib.errors import UserError
from constructs_lib.spec import DeploymentMode, Instance, PullPolicy, SchedulerGating, WorkloadKind
from constructs_lib.spec.loader import load_yaml, parse_instance
from launcher.schema_docs import json_schema
from tests.conftest import MINIMAL, make_instance, merge


def test_defaults_follow_the_operator() -> None:
    spec = make_instance().spec
    assert spec.image.repository == "ghcr.io/paperclipai/paperclip"
    assert spec.image.pull_policy is PullPolicy.IF_NOT_PRESENT
    assert spec.workload is WorkloadKind.STATEFUL_SET
    assert spec.availability.replicas == 1
    assert spec.availability.termination_grace_period_seconds == 1800
    assert spec.availability.server_drain.timeout_seconds == 15
    assert spec.heartbeat.interval_ms == 60000
    assert spec.heartbeat.scheduler_gating is SchedulerGating.ORDINAL
    assert spec.storage.persistence.size == "5Gi"
    assert spec.networking.service.port == 3100
    assert spec.share_process_namespace is True
    assert spec.security.network_policy.enabled is True
    assert spec.security.se_linux_relabel is False  # opt-in, unlike the operator


def test_camel_case_aliases_and_uppercase_acronyms() -> None:
    instance = make_instance(
        {
            "deployment": {"mode": "authenticated", "publicURL": "https://pc.example.com"},
            "auth": {"secretRef": {"name": "auth", "key": "secret"}},
            "heartbeat": {"intervalMS": 30000},
            "security": {"networkPolicy": {"allowIngressCIDRs": ["10.0.0.0/8"]}},
        }
    )
    assert str(instance.spec.deployment.public_url) == "https://pc.example.com"
    assert instance.spec.deployment.mode is DeploymentMode.AUTHENTICATED
    assert instance.spec.heartbeat.interval_ms == 30000
    assert instance.spec.security.network_policy.allow_ingress_cidrs == ["10.0.0.0/8"]


def test_exported_custom_resource_loads_as_it_is() -> None:
    exported = merge(
        MINIMAL,
        {
            "metadata": {
                "uid": "1234",
                "resourceVersion": "77",
                "generation": 3,
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
            "status": {"phase": "Running"},
        },
    )
    assert parse_instance(exported).name == "demo"


def test_multi_document_yaml() -> None:
    text = "\n---\n".join(
        json.dumps(merge(MINIMAL, {"metadata": {"name": name}})) for name in ("a", "b")
    )
    assert [i.name for i in load_yaml(text, "apps/x.yaml")] == ["a", "b"]


def test_python_construction_uses_snake_case() -> None:
    from constructs_lib.spec import DatabaseSpec, ImageSpec, InstanceSpec, ObjectMetadata

    instance = Instance(
        metadata=ObjectMetadata(name="py"),
        spec=InstanceSpec(
            image=ImageSpec(digest="sha256:" + "a" * 64), database=DatabaseSpec(mode="embedded")
        ),
    )
    assert instance.spec.image.reference == "ghcr.io/paperclipai/paperclip@sha256:" + "a" * 64
    assert instance.namespace == "default"


@pytest.mark.parametrize("namespace", ["2024-prod", "0", "team-a"])
def test_a_namespace_is_a_dns_1123_label_and_may_start_with_a_digit(namespace: str) -> None:
    """Kubernetes names namespaces by DNS-1123 labels: an existing 2024-prod is usable."""
    assert make_instance({}, namespace=namespace).namespace == namespace


@pytest.mark.parametrize("namespace", ["-prod", "prod-", "Prod", "2024_prod", "a" * 64])
def test_a_namespace_that_is_no_dns_1123_label_is_refused(namespace: str) -> None:
    with pytest.raises(UserError) as caught:
        make_instance({}, namespace=namespace)
    assert [p.path for p in caught.value.problems] == ["metadata.namespace"]
    assert "starting with a letter or digit" in caught.value.problems[0].message


def test_every_problem_in_a_document_is_reported_at_once() -> None:
    with pytest.raises(UserError) as caught:
        make_instance(
            {
                "image": {"pullPolicy": "Sometimes"},
                "workload": "DaemonSet",
                "availability": {"replicas": 0},
            }
        )
    assert sorted(p.path for p in caught.value.problems) == [
        "spec.availability.replicas",
        "spec.image.pullPolicy",
        "spec.workload",
    ]


def test_unknown_field_suggests_the_closest_name() -> None:
    with pytest.raises(UserError) as caught:
        make_instance({"availabilty": {}})
    [problem] = caught.value.problems
    assert problem.path == "spec.availabilty"
    assert "'availability'" in problem.fix


def test_pass_through_kubernetes_fields_are_schema_checked_at_their_path() -> None:
    with pytest.raises(UserError) as caught:
        make_instance({"sidecars": [{"name": "s", "image": "busybox:1", "imagePullPolicyy": "x"}]})
    [problem] = caught.value.problems
    assert problem.path == "spec.sidecars[0]"
    assert "imagePullPolicyy" in problem.message


def test_json_schema_uses_crd_names() -> None:
    schema = json_schema(Instance)
    spec = schema["$defs"]["InstanceSpec"]["properties"]
    assert {"image", "objectStorage", "shareProcessNamespace", "podAnnotations"} <= set(spec)
    assert {"backup", "restoreFrom", "tailscale", "adapters", "connections"} <= set(spec)
    assert "publicURL" in schema["$defs"]["DeploymentSpec"]["properties"]


def test_the_spec_exports_its_models() -> None:
    """``constructs_lib.spec`` exports every name of its ``__all__``: the model of that name."""
    import constructs_lib.spec as spec

    assert all(getattr(spec, name).__name__ == name for name in spec.__all__)
