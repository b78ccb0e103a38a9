"""observability.metrics: the OTEL env in the operator's order, the ServiceMonitor the
operator's README promises, alerts that work without an operator, Grafana dashboards that
are valid and unique per instance, and the NetworkPolicy rule that lets Prometheus scrape."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from constructs_lib.cli import main
from constructs_lib.constructs.admin_bootstrap import bootstrap_name
from constructs_lib.constructs.build import plan
from constructs_lib.constructs.observability import pod_regex
from tests.conftest import doc_yaml, make_instance, synth_objects

ALL = {
    "enabled": True,
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True, "labels": {"release": "kps"}},
    "grafanaDashboard": {"enabled": True, "labels": {"team": "platform"}},
}
PUBLIC = {
    "deployment": {"mode": "authenticated", "exposure": "public"},
    "auth": {"secretRef": {"name": "demo-auth", "key": "secret"}},
}
STATELESS = {
    **PUBLIC,
    "workload": "Deployment",
    "storage": {"persistence": {"enabled": False}},
    "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}},
}


def metrics(patch: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"observability": {"metrics": patch}, **extra}


def config(objects: dict[str, Any]) -> dict[str, str]:
    data: dict[str, str] = objects["ConfigMap/demo-config"]["data"]
    return data


def test_otel_env_follows_the_core_env_and_names_the_effective_workload() -> None:
    objects = synth_objects(make_instance(metrics({"enabled": True})))
    keys = list(config(objects))
    otel = [
        "NODE_OPTIONS",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
    ]
    start = keys.index("PAPERCLIP_DEPLOYMENT_EXPOSURE") + 1
    assert keys[start : start + 4] == otel  # slot 2: right after the core variables
    data = config(objects)
    assert data["NODE_OPTIONS"] == "--import ./server/dist/instrumentation.js"
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
        "http://otel-collector.observability.svc.cluster.local:4317"
    )
    assert data["OTEL_SERVICE_NAME"] == "demo"
    assert data["OTEL_RESOURCE_ATTRIBUTES"] == "k8s.namespace.name=team,k8s.statefulset.name=demo"
    deployment = synth_objects(make_instance(metrics({"enabled": True}, **STATELESS)))
    assert config(deployment)["OTEL_RESOURCE_ATTRIBUTES"] == (
        "k8s.namespace.name=team,k8s.deployment.name=demo"
    )


def test_user_env_overrides_the_collector_endpoint() -> None:
    spec = metrics({"enabled": True}, env=[{"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "x"}])
    objects = synth_objects(make_instance(spec))
    [container] = objects["StatefulSet/demo"]["spec"]["template"]["spec"]["containers"]
    assert container["env"][-1] == {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "x"}


def test_metrics_off_or_absent_adds_nothing() -> None:
    base = synth_objects(make_instance())
    for patch in ({}, {"enabled": False}, {"serviceMonitor": {"enabled": False}}):
        objects = synth_objects(make_instance(metrics(patch)))
        assert objects.keys() == base.keys()
        assert "NODE_OPTIONS" not in config(objects)


def test_service_monitor_scrapes_the_server_service_http_port() -> None:
    spec = metrics({"serviceMonitor": {"enabled": True, "interval": "1m", "labels": {"a": "b"}}})
    monitor = synth_objects(make_instance({**spec, **PUBLIC}))["ServiceMonitor/demo"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["a"] == "b"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["team"]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "1m"
    # the launcher's Service has the same labels: only the server Service is kept
    assert endpoint["relabelings"] == [
        {"action": "keep", "sourceLabels": ["__meta_kubernetes_service_name"], "regex": "demo"}
    ]
    service = synth_objects(make_instance({**spec, **PUBLIC}))["Service/demo"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]


def test_prometheus_namespaces_are_admitted_on_the_server_port() -> None:
    def sources(spec: dict[str, Any]) -> list[Any]:
        policy = synth_objects(make_instance(spec))["NetworkPolicy/demo"]
        return [rule["from"] for rule in policy["spec"]["ingress"]]

    default = sources(metrics({"serviceMonitor": {"enabled": True}}, **PUBLIC))
    assert [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ] in default
    custom = metrics(
        {"serviceMonitor": {"enabled": True, "prometheusNamespaces": ["obs", "team"]}}, **PUBLIC
    )
    found = sources(custom)
    assert found[-1] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "obs"}}}
    ]  # the instance's own namespace is admitted already, no rule for it
    none = metrics({"serviceMonitor": {"enabled": True, "prometheusNamespaces": []}}, **PUBLIC)
    assert sources(none) == [[{"podSelector": {}}]]


def test_private_exposure_warns_that_the_guard_refuses_scrapes() -> None:
    def guard_warnings(patch: dict[str, Any]) -> list[str]:
        warned = plan(make_instance(patch)).contribution.warnings
        return [w.path for w in warned if "private-hostname guard" in w.message]

    assert guard_warnings(metrics({"serviceMonitor": {"enabled": True}})) == [
        "spec.observability.metrics.serviceMonitor"
    ]
    assert guard_warnings(metrics({"serviceMonitor": {"enabled": True}}, **PUBLIC)) == []


def alerts(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rule = synth_objects(make_instance(spec))["PrometheusRule/demo-alerts"]
    [group] = rule["spec"]["groups"]
    return {a["alert"]: a for a in group["rules"]}


def test_alerts_use_no_operator_metric_and_link_their_runbooks() -> None:
    found = alerts(metrics({"prometheusRule": {"enabled": True}}))
    assert sorted(found) == [
        "PaperclipInstanceDegraded",
        "PaperclipInstanceNotReady",
        "PaperclipPVCNearlyFull",
        "PaperclipPodCrashLooping",
        "PaperclipPodOOMKilled",
    ]
    for name, alert in found.items():
        assert "paperclip_reconcile" not in alert["expr"]
        assert "paperclip_instance" not in alert["expr"]
        assert alert["annotations"]["runbook_url"] == (
            f"https://paperclip.inc/docs/operators/paperclip/runbooks/{name}"
        )
    assert found["PaperclipInstanceNotReady"]["labels"] == {"severity": "critical"}
    assert found["PaperclipInstanceNotReady"]["for"] == "10m"
    assert 'statefulset="demo"' in found["PaperclipInstanceNotReady"]["expr"]
    assert 'persistentvolumeclaim=~"demo-data"' in found["PaperclipPVCNearlyFull"]["expr"]


def test_alert_labels_and_runbook_base_are_configurable() -> None:
    spec = metrics(
        {
            "prometheusRule": {
                "enabled": True,
                "labels": {"release": "kps"},
                "runbookBaseURL": "https://runbooks.example.com/pc/",
            }
        }
    )
    rule = synth_objects(make_instance(spec))["PrometheusRule/demo-alerts"]
    assert rule["metadata"]["labels"]["release"] == "kps"
    assert rule["metadata"]["labels"]["app.kubernetes.io/instance"] == "demo"
    url = rule["spec"]["groups"][0]["rules"][0]["annotations"]["runbook_url"]
    assert url == "https://runbooks.example.com/pc/PaperclipInstanceNotReady"


def test_pod_regex_matches_only_this_instances_server_pods() -> None:
    sts = re.compile(pod_regex(make_instance()) + "$")
    assert sts.match("demo-0") and sts.match("demo-12")
    for other in ("demo-db-0", "demo-x-0", "demo-launcher-5d9f8b7c6d-abcde", "demox-0"):
        assert not sts.match(other)
    dep = re.compile(pod_regex(make_instance(STATELESS)) + "$")
    assert dep.match("demo-7c9d5b6f48-x2k9p")
    for other in ("demo-0", "demo-launcher-5d9f8b7c6d-abcde", "demo-db-0"):
        assert not dep.match(other)
    deployment_alerts = alerts(metrics({"prometheusRule": {"enabled": True}}, **STATELESS))
    assert (
        "kube_deployment_status_replicas_available"
        in (deployment_alerts["PaperclipInstanceNotReady"]["expr"])
    )
    # no data volume and no managed database: nothing to watch
    assert "PaperclipPVCNearlyFull" not in deployment_alerts


HASH_CHARACTERS = "bcdfghjklmnpqrstvwxz2456789"


def _pod_name(name: str, hash_length: int) -> str:
    """A Deployment pod's name as Kubernetes makes it: generateName "<rs>-" (the ReplicaSet is
    "<deployment>-<pod-template hash>") cut to 58 characters, plus 5 random characters."""
    random = "".join(HASH_CHARACTERS[(7 * i) % 27] for i in range(hash_length + 5))
    prefix = f"{name}-{random[:hash_length]}-"
    return prefix[:58] + random[hash_length:]


@pytest.mark.parametrize("length", [4, 46, 47, 48, 50, 52])
def test_pod_regex_matches_the_pods_of_a_deployment_of_any_name_length(length: int) -> None:
    """A long instance name loses the pod-template hash's dash (or part of the hash) to the
    API server's cut at 58 characters: the alerts and dashboards must still see its pods,
    and never its launcher's or another instance's."""
    name = ("p" * length)[:length]
    dep = re.compile(pod_regex(make_instance(STATELESS, name=name)) + "$")
    for hash_length in range(1, 11):
        assert dep.match(_pod_name(name, hash_length)), (length, _pod_name(name, hash_length))
    for other in (_pod_name(f"{name}-launcher", 10), _pod_name(f"{name}-launcher", 6)):
        assert not dep.match(other), other
    assert not dep.match(f"{name}-db-0") and not dep.match(f"{name}x-bcdfg-hjklm")


def test_deployment_pod_regex_skips_the_admin_bootstrap_jobs_pods() -> None:
    """A Deployment's pod is "<name>-<hash>-<id>", both from Kubernetes' vowel-free
    alphabet; the admin bootstrap Job's pod "<name>-bootstrap-<id>" has the same shape with a
    word where the hash is, and [a-z0-9] let the dashboards' network panel (no container
    filter) count it as a server pod."""
    instance = make_instance(STATELESS)
    dep = re.compile(pod_regex(instance) + "$")
    assert dep.match("demo-7c9d5b6f48-x2k9p") and dep.match("demo-b-x2k9p")
    assert not dep.match(f"{bootstrap_name(instance)}-x2k9p")
    for word in ("migrate", "a", "0", "1234567890"):  # outside the hash's alphabet
        assert not dep.match(f"demo-{word}-x2k9p"), word


CRASH_LOOP_STS = (
    '(increase(kube_pod_container_status_restarts_total{namespace="team",pod=~"demo-[0-9]+",'
    'container="paperclip"}[1h]) > 2) and on(namespace, pod, container) '
    '(max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff",'
    'namespace="team",pod=~"demo-[0-9]+",container="paperclip"}[15m]) >= 1)'
)
OOM_KILLED_STS = (
    '(kube_pod_container_status_last_terminated_reason{reason="OOMKilled",namespace="team",'
    'pod=~"demo-[0-9]+",container="paperclip"} == 1) and on(namespace, pod, container) '
    '(increase(kube_pod_container_status_restarts_total{namespace="team",pod=~"demo-[0-9]+",'
    'container="paperclip"}[15m]) > 0)'
)


def test_crash_loop_alert_holds_through_the_kubelets_five_minute_back_off() -> None:
    """The back-off doubles to 5m, so a pod that keeps crashing restarts about twice per
    10m: ">2 restarts in 10m" went silent (Prometheus 2) or flapped (Prometheus 3, whose
    extrapolation makes 2 into 2.1) after the first minutes of a loop. Now: more than 2
    restarts in 1h while in CrashLoopBackOff within 15m (one crash never fires; the alert
    ends 15m after the loop)."""
    alert = alerts(metrics({"prometheusRule": {"enabled": True}}))["PaperclipPodCrashLooping"]
    assert alert["expr"] == CRASH_LOOP_STS
    assert alert["for"] == "0m" and alert["labels"] == {"severity": "critical"}
    assert "1h" in alert["annotations"]["summary"]


def test_oom_alert_fires_after_a_kill_not_for_the_rest_of_the_pods_life() -> None:
    """The last terminated reason stays OOMKilled until the container ends again: alone it
    fired for as long as the pod ran on after one kill. It now needs a restart in 15m."""
    found = alerts(metrics({"prometheusRule": {"enabled": True}}))
    assert found["PaperclipPodOOMKilled"]["expr"] == OOM_KILLED_STS
    deployment = alerts(metrics({"prometheusRule": {"enabled": True}}, **STATELESS))
    regex = pod_regex(make_instance(STATELESS))
    for name in ("PaperclipPodOOMKilled", "PaperclipPodCrashLooping"):
        expr = deployment[name]["expr"]
        assert expr.count(f'pod=~"{regex}"') == 2 and "demo-[0-9]+" not in expr


def test_managed_database_volume_is_watched_too() -> None:
    found = alerts(metrics({"prometheusRule": {"enabled": True}}, database={"mode": "managed"}))
    assert (
        'persistentvolumeclaim=~"demo-data|demo-db-data"'
        in (found["PaperclipPVCNearlyFull"]["expr"])
    )


def dashboards(spec: dict[str, Any], **metadata: Any) -> dict[str, dict[str, Any]]:
    objects = synth_objects(make_instance(spec, **metadata))
    return {k: v for k, v in objects.items() if "-dashboard-" in k}


def test_dashboards_are_labelled_for_the_sidecar_and_filed_in_the_folder() -> None:
    found = dashboards(metrics({"grafanaDashboard": {"enabled": True, "labels": {"x": "y"}}}))
    assert sorted(found) == [
        "ConfigMap/demo-dashboard-instance",
        "ConfigMap/demo-dashboard-operator",
    ]
    for cm in found.values():
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["labels"]["x"] == "y"
        assert cm["metadata"]["labels"]["app.kubernetes.io/instance"] == "demo"
        assert cm["metadata"]["annotations"] == {"grafana_folder": "Paperclip"}
    custom = dashboards(metrics({"grafanaDashboard": {"enabled": True, "folder": "Teams"}}))
    assert custom["ConfigMap/demo-dashboard-operator"]["metadata"]["annotations"] == {
        "grafana_folder": "Teams"
    }


def test_dashboards_are_valid_grafana_json_unique_per_instance() -> None:
    seen_keys: set[str] = set()
    seen_titles: set[str] = set()
    for name, namespace in (("demo", "team"), ("demo2", "team"), ("demo3", "other")):
        found = dashboards(
            metrics({"grafanaDashboard": {"enabled": True}}), name=name, namespace=namespace
        )
        for cm in found.values():
            [(key, text)] = cm["data"].items()
            assert key.endswith(f"-{name}.json") and key not in seen_keys
            seen_keys.add(key)
            board = json.loads(text)
            assert "uid" not in board  # no fixed uid that two instances would share
            assert f"({namespace}/{name})" in board["title"]
            assert board["title"] not in seen_titles
            seen_titles.add(board["title"])
            assert board["templating"]["list"][0]["type"] == "datasource"
            ids = [p["id"] for p in board["panels"]]
            assert len(ids) == len(set(ids)) and ids
            for panel in board["panels"]:
                assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
                for target in panel["targets"]:
                    expr = target["expr"]
                    assert expr.count("(") == expr.count(")")
                    assert expr.count("{") == expr.count("}")
                    assert f'namespace="{namespace}"' in expr
                    assert "paperclip_" not in expr  # no operator metric


def test_every_part_passes_strict_validation_in_the_pipeline(tmp_path: Path) -> None:
    app = tmp_path / "metrics.yaml"
    app.write_text(doc_yaml(metrics(ALL, **PUBLIC)))
    result = CliRunner().invoke(main, ["validate", str(app)])
    assert result.exit_code == 0, result.output


def test_a_service_monitor_warns_that_upstream_serves_no_metrics() -> None:
    """The released server answers /metrics with the web app's HTML: the target is down."""
    found = plan(
        make_instance({"observability": {"metrics": {"serviceMonitor": {"enabled": True}}}})
    )
    (warning,) = [w for w in found.contribution.warnings if "serves no /metrics" in w.message]
    assert warning.path == "spec.observability.metrics.serviceMonitor"


def test_the_checked_release_is_the_one_the_end_to_end_tests_run() -> None:
    from constructs_lib.spec.versions import CHECKED_PAPERCLIP_RELEASE

    script = (Path(__file__).parents[1] / "paperclip" / "install.sh").read_text()
    assert f'VERSION="${{PAPERCLIP_SERVER_VERSION:-{CHECKED_PAPERCLIP_RELEASE}}}"' in script
