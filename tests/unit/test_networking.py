"""networking.ingress and networking.httpRoute: the objects, the host names the server must
accept, and a server NetworkPolicy that admits the controller (the operator's policy drops
it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from constructs_lib.cli import main
from constructs_lib.constructs.build import plan
from tests.conftest import doc_yaml, make_instance, synth_objects

INGRESS = {
    "enabled": True,
    "ingressClassName": "nginx",
    "hosts": ["pc.example.com"],
    "tls": [{"hosts": ["pc.example.com"], "secretName": "pc-tls"}],
    "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "7200"},
}
ROUTE = {
    "enabled": True,
    "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
    "hostnames": ["pc.example.org"],
}


def ingress_sources(objects: dict[str, Any]) -> list[Any]:
    return [rule["from"] for rule in objects["NetworkPolicy/demo"]["spec"]["ingress"]]


def test_ingress_routes_every_host_to_the_service_and_admits_its_controller() -> None:
    objects = synth_objects(make_instance({"networking": {"ingress": INGRESS}}))
    ingress = objects["Ingress/demo"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["pc.example.com"], "secretName": "pc-tls"}]
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "pc.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"] == {
        "name": "demo",
        "port": {"number": 3100},
    }
    # websocket timeouts for the nginx class, the user's value wins
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "7200"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    assert [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ] in ingress_sources(objects)
    hosts = objects["ConfigMap/demo-config"]["data"]["PAPERCLIP_ALLOWED_HOSTNAMES"]
    assert hosts.endswith(",pc.example.com")


def test_http_route_attaches_to_its_gateways_whose_namespace_is_admitted() -> None:
    objects = synth_objects(make_instance({"networking": {"httpRoute": ROUTE}}))
    route = objects["HTTPRoute/demo"]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [
        {"name": "public", "namespace": "gateways", "sectionName": "https"}
    ]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "demo", "port": 3100}]
    assert [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateways"}}}
    ] in ingress_sources(objects)


def test_configured_controller_namespaces_replace_the_defaults() -> None:
    spec = {
        "networking": {"ingress": {**INGRESS, "ingressClassName": "internal"}},
        "security": {"networkPolicy": {"ingressControllerNamespaces": ["edge"]}},
    }
    sources = ingress_sources(synth_objects(make_instance(spec)))
    assert sources[-1] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "edge"}}}
    ]


def errors(spec: dict[str, Any]) -> list[str]:
    return [p.path for p in plan(make_instance(spec)).contribution.errors]


def test_an_unknown_ingress_class_without_namespaces_is_an_error() -> None:
    unknown = {"networking": {"ingress": {**INGRESS, "ingressClassName": "internal"}}}
    assert errors(unknown) == ["spec.security.networkPolicy.ingressControllerNamespaces"]
    no_policy = {**unknown, "security": {"networkPolicy": {"enabled": False}}}
    assert errors(no_policy) == []


def test_a_route_without_gateways_is_an_error() -> None:
    route = {**ROUTE, "parentRefs": []}
    assert errors({"networking": {"httpRoute": route}}) == ["spec.networking.httpRoute.parentRefs"]


def test_both_pass_strict_validation_in_the_pipeline(tmp_path: Path) -> None:
    app = tmp_path / "routes.yaml"
    app.write_text(doc_yaml({"networking": {"ingress": INGRESS, "httpRoute": ROUTE}}))
    result = CliRunner().invoke(main, ["validate", str(app)])
    assert result.exit_code == 0, result.output


def test_disabled_routes_build_nothing() -> None:
    spec = {"networking": {"ingress": {"enabled": False}, "httpRoute": {"enabled": False}}}
    objects = synth_objects(make_instance(spec))
    assert "Ingress/demo" not in objects and "HTTPRoute/demo" not in objects
