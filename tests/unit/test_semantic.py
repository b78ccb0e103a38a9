"""The API server's semantic rules as pure functions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from constructs_lib.spec import semantic as s


@pytest.mark.parametrize(
    ("value", "ok"),
    [("a", True), ("a-1", True), ("1a", True), ("-a", False), ("A", False), ("a" * 64, False)],
)
def test_dns_label(value: str, ok: bool) -> None:
    assert (s.dns_label(value) is None) is ok


def test_dns1035_label_starts_with_a_letter() -> None:
    assert s.dns1035_label("a1") is None
    assert s.dns1035_label("1a") is not None


def test_dns_subdomain() -> None:
    assert s.dns_subdomain("a.b-c") is None
    for bad in ("", "a..b", "A", "a_b", "a" * 254, ".a"):
        assert s.dns_subdomain(bad) is not None, bad


def test_qualified_names_and_label_values() -> None:
    assert s.qualified_name("example.com/a_b.c") is None
    assert s.qualified_name("Example.com/a") is not None
    assert s.qualified_name("Example.com/a", lower_prefix_only=True) is None
    assert s.qualified_name("a/b/c") is not None
    assert s.qualified_name("/a") is not None
    assert s.label_value("") is None
    assert s.label_value("x" * 64) is not None
    assert s.label_value("a\nb") is not None


@pytest.mark.parametrize(
    ("check", "valid"),
    [
        (s.dns_label, "a"),
        (s.dns1035_label, "a"),
        (s.dns_subdomain, "a.b"),
        (s.qualified_name, "example.com/a"),
        (s.label_value, "a"),
        (s.port_name, "http"),
        (s.config_key, "a.b"),
        (lambda v: s.env_var_name(v, "1.33"), "A"),
        (lambda v: s.env_var_name(v, "1.31"), "A"),
        (s.quantity, "1Gi"),
    ],
)
def test_a_trailing_line_break_is_refused(check: Any, valid: str) -> None:
    """Python's ``$`` also matches before a last line break; the API server's grammars do
    not, so neither do these."""
    assert check(valid) is None
    assert check(valid + "\n") is not None


@pytest.mark.parametrize(
    ("name", "relaxed", "strict"),
    [
        ("PATH", True, True),
        ("my var", True, False),
        ("1ABC", True, False),
        ("", False, False),
        ("A=B", False, False),
        ("A\nB", False, False),
        ("\u00c9", False, False),
    ],
)
def test_env_var_names_by_version(name: str, relaxed: bool, strict: bool) -> None:
    assert (s.env_var_name(name, "1.33") is None) is relaxed
    assert (s.env_var_name(name, "1.31") is None) is strict


def test_port_names() -> None:
    assert s.port_name("http-2") is None
    for bad in ("HTTP", "80", "a--b", "-a", "a" * 16, ""):
        assert s.port_name(bad) is not None, bad


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5Gi", Decimal(5 * 2**30)),
        ("500m", Decimal("0.5")),
        ("1e3", Decimal(1000)),
        (".5", Decimal("0.5")),
        (2, Decimal(2)),
        ("5 GB", None),
        ("1e1001", None),
        (True, None),
        ("", None),
    ],
)
def test_quantities_parse(text: object, value: Decimal | None) -> None:
    assert s.parse_quantity(text) == value


def test_quantity_signs() -> None:
    assert s.quantity("0") is None
    assert s.quantity("0", positive=True) is not None
    assert s.quantity("-1m") is not None
    assert s.quantity("1e30") is not None  # over int64


def test_annotations_total_size() -> None:
    assert s.annotations_problems({"a": "x" * 1000}, "a") == []
    [(path, message)] = s.annotations_problems({"a": "x" * 262144}, "m.annotations")
    assert path == "m.annotations" and "256 KiB" in message


def test_int_ranges_follow_the_openapi_format() -> None:
    found = s.pass_through_problems(
        "io.k8s.api.core.v1.PodSecurityContext", {"runAsUser": 2**63, "fsGroup": 1.5}
    )
    paths = [p for p, _ in found]
    assert "runAsUser" in paths and "fsGroup" in paths


def test_object_checks_by_kind() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1svc"}, "spec": {}}
    assert [p for p, _ in s.object_problems(service)] == ["metadata.name"]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "Any:Name"},
    }
    assert s.object_problems(role) == []
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "c"},
        "spec": {"resources": {"requests": {"storage": "0"}}},
    }
    assert [p for p, _ in s.object_problems(claim)] == ["spec.resources.requests.storage"]
    big = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"k": "x" * (2 * 1024 * 1024)},
    }
    assert {p for p, _ in s.object_problems(big)} == {"data", ""}


def test_pod_spec_cross_checks() -> None:
    spec = {
        "containers": [
            {"name": "a", "image": "x", "volumeMounts": [{"name": "nope", "mountPath": "/d"}]},
            {"name": "a", "image": "x"},
        ],
        "priorityClassName": "Bad Class",
    }
    paths = [p for p, _ in s.pod_spec_problems(spec, "spec", "1.33")]
    assert paths == [
        "spec.containers[1].name",
        "spec.containers[0].volumeMounts[0].name",
        "spec.priorityClassName",
    ]


def test_objects_over_the_api_size_limit_are_refused_with_or_without_a_size_hint() -> None:
    from constructs_lib.render.validate import check_and_dump

    big = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "big", "namespace": "team"},
        "data": {"blob": "x" * (1600 * 1024)},
    }
    assert any("stores at most" in message for _, message in s.object_problems(big))
    problems, [text] = check_and_dump([big], "1.33", "f.yaml", "demo")
    assert any("stores at most" in p.message for p in problems)
    assert len(text) > 1600 * 1024
    small = {**big, "data": {"blob": "x" * 1000}}
    assert s.object_problems(small, size_hint=1100) == []


def _repeats(definition: str, field: str, items: list[Any]) -> bool:
    return bool(s.duplicate_items(items, f"io.k8s.api.core.v1.{definition}", field))


def test_merge_keys_come_from_the_bundled_openapi_schemas() -> None:
    env = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    assert _repeats("Container", "env", env)
    assert not _repeats("Container", "env", [env[0], {"name": "B"}])
    port = {"containerPort": 80, "protocol": "TCP"}
    assert _repeats("Container", "ports", [port, dict(port)])  # containerPort and protocol
    assert not _repeats("Container", "ports", [port, {**port, "protocol": "UDP"}])
    spread = {"topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "maxSkew": 1}
    assert _repeats("PodSpec", "topologySpreadConstraints", [spread, {**spread, "maxSkew": 2}])
    other = {**spread, "whenUnsatisfiable": "ScheduleAnyway"}
    assert not _repeats("PodSpec", "topologySpreadConstraints", [spread, other])
    assert _repeats("PodSpec", "imagePullSecrets", [{"name": "a"}, {"name": "a"}])
    meta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert s.duplicate_items(["a", "a"], meta, "finalizers")  # a set: the value is the key
    assert not s.duplicate_items(["a", "b"], meta, "finalizers")
    assert not _repeats("Container", "args", ["a", "a"])  # atomic: not merged
    toleration = {"key": "k", "operator": "Exists"}
    assert not _repeats("PodSpec", "tolerations", [toleration, dict(toleration)])  # atomic


def test_a_repeated_merge_key_is_found_at_any_depth_of_an_object() -> None:
    container = {
        "name": "c",
        "image": "busybox:1.36",
        "env": [{"name": "A", "value": "1"}, {"name": "B"}, {"name": "A", "value": "2"}],
        # a port's protocol defaults to TCP (the schema's description says so)
        "ports": [{"containerPort": 80}, {"containerPort": 80, "protocol": "TCP"}],
    }
    other = {  # the same number with another protocol is another key: fine
        "name": "d",
        "image": "busybox:1.36",
        "ports": [{"containerPort": 53}, {"containerPort": 53, "protocol": "UDP"}],
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "finalizers": ["x", "x"]},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [container, other]}}
        },
    }
    found = {path: message for path, message in s.object_problems(job)}
    env = "spec.template.spec.containers[0].env[2].name"
    assert "repeats the key name='A' of item [0]" in found[env]
    assert "containerPort=80, protocol='TCP'" in found["spec.template.spec.containers[0].ports[1]"]
    assert "metadata.finalizers[1]" in found
    assert not [p for p in found if p.startswith("spec.template.spec.containers[1]")]
    assert s.duplicate_items(
        [{"name": "r"}, {"name": "r"}], "io.k8s.api.core.v1.PodSpec", "imagePullSecrets"
    ) == [("[1].name", found[env].replace("name='A' of item [0]", "name='r' of item [0]"))]


def test_an_env_source_problem_names_every_source_the_api_server_counts() -> None:
    """fileKeyRef counts as a source: the message must offer it too."""
    ((path, message),) = s.env_var_problems({"name": "A", "valueFrom": {}}, "env[0]", "1.33")
    assert path == "env[0].valueFrom"
    assert "fileKeyRef" in message and "secretKeyRef" in message
