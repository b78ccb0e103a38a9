"""networking.ingress and networking.httpRoute: the objects, the host names the server must
accept, and a server NetworkPolicy that admits the controller (the operator's policy drops
it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
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


# --- the data tier's policies: who they select and where they let the pods go ------------

ADMIN = {"email": "admin@example.com", "passwordSecretRef": {"name": "admin", "key": "password"}}
BACKUPS = {
    "schedule": "0 3 * * *",
    "s3": {"bucket": "pc-backups", "region": "eu-west-1", "credentialsSecretRef": {"name": "s3"}},
}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions with In) selects ``labels``."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    labels: dict[str, str] = spec["template"]["metadata"]["labels"]
    return labels


def test_the_backup_policy_selects_only_the_backup_and_restore_pods() -> None:
    """The admin bootstrap Job's pods must reach the server Service (the script waits at
    $SVC_URL, port 3100): the backup policy, which allows DNS, HTTPS and the database only,
    must not select them (it did, through the database's peer selector)."""
    spec = {
        "auth": {"secretRef": {"name": "auth", "key": "BETTER_AUTH_SECRET"}, "adminUser": ADMIN},
        "database": {"mode": "managed"},
        "backup": BACKUPS,
    }
    objects = synth_objects(make_instance(spec))
    backup_policy = objects["NetworkPolicy/demo-db-backup"]["spec"]["podSelector"]
    assert selects(backup_policy, pod_labels(objects["CronJob/demo-db-backup"]))
    assert selects(backup_policy, pod_labels(objects["CronJob/demo-db-restore"]))
    bootstrap = pod_labels(objects["Job/demo-bootstrap"])
    assert not selects(backup_policy, bootstrap)
    # no policy of the instance limits the bootstrap's egress to less than the server port
    selecting = [
        key
        for key, o in objects.items()
        if o["kind"] == "NetworkPolicy" and selects(o["spec"]["podSelector"], bootstrap)
    ]
    assert selecting == []
    # the database still admits it (the CLI creates the CEO invite in the database)
    [rule] = objects["NetworkPolicy/demo-db"]["spec"]["ingress"]
    assert any(selects(peer["podSelector"], bootstrap) for peer in rule["from"])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://app@db.example.com:25060/app", [25060]),
        ("postgres://app@db.example.com/app", [5432]),
        ("postgresql://app@[2001:db8::5]:6543/app", [6543]),
        ("postgresql://app@db-1:5433,db-2/app", [5433, 5432]),  # libpq's multi-host form
    ],
)
def test_the_backup_policy_opens_the_port_of_a_literal_external_url(
    url: str, expected: list[int]
) -> None:
    """pg_dump connects to the port of DATABASE_URL; the backup policy allowed 5432 only."""
    spec = {"database": {"mode": "external", "externalURL": url}, "backup": BACKUPS}
    objects = synth_objects(make_instance(spec))
    egress = objects["NetworkPolicy/demo-db-backup"]["spec"]["egress"]
    assert egress[-1] == {"ports": [{"port": p, "protocol": "TCP"} for p in expected]}


def test_the_server_policy_opens_the_ports_of_its_external_database_and_object_storage() -> None:
    """The server connects to the port of a literal externalURL and to the objectStorage
    endpoint's port: its policy allowed 5432 and 443 only."""
    spec = {
        "database": {"mode": "external", "externalURL": "postgresql://app@db.example.com:25060/a"},
        "objectStorage": {
            "provider": "s3",
            "bucket": "files",
            "endpoint": "http://minio.storage:9000",
            "credentialsSecretRef": {"name": "s3"},
        },
    }
    egress = synth_objects(make_instance(spec))["NetworkPolicy/demo"]["spec"]["egress"]
    assert {"ports": [{"port": 25060, "protocol": "TCP"}]} in egress
    assert {"ports": [{"port": 9000, "protocol": "TCP"}]} in egress
    assert {"ports": [{"port": 5432, "protocol": "TCP"}]} not in egress
