"""Observability (``observability.metrics``): the server's OpenTelemetry env, a ServiceMonitor,
a PrometheusRule ``<name>-alerts`` and two Grafana dashboard ConfigMaps.

Differences from the operator, each on purpose:

* the ServiceMonitor exists (the operator's README promises it, its code never built it); it
  keeps only the server Service's targets (the launcher's Service carries the same labels) and
  the server NetworkPolicy admits the Prometheus namespaces on the server port;
* the four operator alerts on the operator's own metrics (``paperclip_reconcile_*``,
  ``paperclip_instance_*``) cannot fire without an operator: the reconcile alerts are dropped,
  NotReady and Degraded are rewritten on kube-state-metrics (no ready server pod; fewer ready
  pods than desired);
* pod regexes match exactly this instance's server pods (``<name>-<ordinal>`` of the
  StatefulSet or ``<name>-<hash>-<id>`` of the Deployment), not ``<name>-.*``, which also
  matches another instance named ``<name>-x`` and the database pods;
* CrashLooping is more than 2 restarts in 1h while in CrashLoopBackOff within 15m (the
  operator's ">2 in 10m" misses a loop at the kubelet's 5m back-off), and OOMKilled needs a
  restart in 15m (the last terminated reason stays OOMKilled for the rest of the pod's life);
* dashboards use only kube-state-metrics, cAdvisor and kubelet metrics; they have no fixed
  uid and their ConfigMap keys carry the instance name, so two instances' dashboards do not
  overwrite each other in Grafana or in the sidecar's folder;
* OTEL_RESOURCE_ATTRIBUTES names the effective workload kind (k8s.deployment.name for a
  Deployment), not always k8s.statefulset.name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache, partial
from typing import Any

from constructs_lib.constructs.database import DatabaseNames, is_managed
from constructs_lib.constructs.env import literal_entries
from constructs_lib.constructs.feature import Contribution, EnvEntry, EnvSlot, Feature
from constructs_lib.constructs.names import (
    CONTAINER_NAME,
    PORT_NAME,
    base_labels,
    data_claim_name,
    server_name,
)
from constructs_lib.constructs.networking import namespaces_ingress
from constructs_lib.errors import Problem
from constructs_lib.spec import Exposure, Instance
from constructs_lib.spec.observability import PrometheusRuleSpec, ServiceMonitorSpec
from constructs_lib.spec.rules import effective_workload
from constructs_lib.spec.versions import CHECKED_PAPERCLIP_RELEASE as CHECKED_RELEASE

MONITORING_API_VERSION = "monitoring.coreos.com/v1"
OTLP_ENDPOINT = "http://otel-collector.observability.svc.cluster.local:4317"
INSTRUMENTATION = "--import ./server/dist/instrumentation.js"
METRICS_PATH = "/metrics"
DASHBOARD_LABEL = "grafana_dashboard"
FOLDER_ANNOTATION = "grafana_folder"
RULE_GROUP = "paperclip"
CRASH_LOOP = "CrashLoopBackOff"


def _workload(instance: Instance) -> str:
    """``statefulset`` or ``deployment``: the effective server workload kind."""
    return effective_workload(instance.spec).value.lower()


GENERATED_NAME_PREFIX = 58
"""The API server cuts a ``generateName`` to this many characters before it adds 5 random ones."""
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
"""The characters of a pod-template hash and of a generated name's random suffix (no vowels)."""


def pod_regex(instance: Instance) -> str:
    """Matches exactly this instance's server pods (names are DNS labels: no regex
    metacharacters besides '-', which is literal outside brackets). A Deployment's pods are
    named ``<name>-<hash of up to 10>-`` cut to 58 characters, plus 5 random characters: for
    a long name the hash and its dash may be cut."""
    name = instance.name
    if _workload(instance) != "deployment":
        return f"{name}-[0-9]+"
    room = GENERATED_NAME_PREFIX - len(name) - 1  # for the hash and its dash
    if room > 10:
        # Only the hash's characters: [a-z0-9] also matched a Job's pod "<name>-<word>-<id>"
        # (the admin bootstrap's <name>-bootstrap-<id>).
        return f"{name}-{_SAFE}{{1,10}}-{_SAFE}{{5}}"
    whole = f"{_SAFE}{{1,{room - 1}}}-|" if room > 1 else ""
    return f"{name}-(?:{whole}{_SAFE}{{{room}}}){_SAFE}{{5}}"


def claims(instance: Instance) -> list[str]:
    """The PersistentVolumeClaims of this instance whose fill level is watched."""
    found = []
    if instance.spec.storage.persistence.enabled:
        found.append(data_claim_name(instance))
    if is_managed(instance):
        found.append(DatabaseNames.of(instance).claim)
    return found


def otel_env(instance: Instance) -> list[EnvEntry]:
    """The operator's OpenTelemetry variables, naming the effective workload kind."""
    attributes = (
        f"k8s.namespace.name={instance.namespace},k8s.{_workload(instance)}.name="
        f"{server_name(instance)}"
    )
    return literal_entries(  # none empty (the instance name is a DNS label)
        EnvSlot.OBSERVABILITY,
        ("NODE_OPTIONS", INSTRUMENTATION),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", OTLP_ENDPOINT),
        ("OTEL_SERVICE_NAME", instance.name),
        ("OTEL_RESOURCE_ATTRIBUTES", attributes),
    )


def scrape_ingress(instance: Instance, monitor: ServiceMonitorSpec) -> list[dict[str, Any]]:
    """Server NetworkPolicy rules admitting Prometheus (its own namespace is admitted
    already)."""
    namespaces = [
        n for n in dict.fromkeys(monitor.prometheus_namespaces) if n != instance.namespace
    ]
    return namespaces_ingress(instance, namespaces)


def service_monitor_body(instance: Instance, monitor: ServiceMonitorSpec) -> dict[str, Any]:
    endpoint = {
        "port": PORT_NAME,
        "path": METRICS_PATH,
        "scheme": "http",
        "interval": monitor.interval,
        # The launcher's Service carries the same labels: keep the server Service's targets.
        "relabelings": [
            {
                "action": "keep",
                "sourceLabels": ["__meta_kubernetes_service_name"],
                "regex": server_name(instance),
            }
        ],
    }
    return {
        "spec": {
            "selector": {"matchLabels": base_labels(instance)},
            "namespaceSelector": {"matchNames": [instance.namespace]},
            "endpoints": [endpoint],
        }
    }


_q = json.dumps


_REPLICA_METRICS = {
    "deployment": ("kube_deployment_status_replicas_available", "kube_deployment_spec_replicas"),
    "statefulset": ("kube_statefulset_status_replicas_ready", "kube_statefulset_replicas"),
}


def _replicas(ns: str, name: str, kind: str) -> tuple[str, str]:
    """The ready and desired server pods of the ``kind`` workload (kube-state-metrics)."""
    workload = f"namespace={_q(ns)},{kind}={_q(name)}"
    ready, desired = _REPLICA_METRICS[kind]
    return f"{ready}{{{workload}}}", f"{desired}{{{workload}}}"


def _containers(ns: str, pods: str) -> str:
    """Selects the server container of the pods the regex ``pods`` matches."""
    return f"namespace={_q(ns)},pod=~{_q(pods)},container={_q(CONTAINER_NAME)}"


def _volume_fill(ns: str, volumes: Sequence[str]) -> str:
    """The used fraction of each of the claims ``volumes`` (kubelet metrics)."""
    selector = f"namespace={_q(ns)},persistentvolumeclaim=~{_q('|'.join(volumes))}"
    return " / ".join(f"kubelet_volume_stats_{s}_bytes{{{selector}}}" for s in ("used", "capacity"))


def _restarts(selector: str, window: str) -> str:
    """The restarts of the containers ``selector`` selects over ``window``."""
    return f"increase(kube_pod_container_status_restarts_total{{{selector}}}[{window}])"


def _oom_killed(selector: str) -> str:
    """1 for the containers ``selector`` selects whose last termination was an OOM kill."""
    return f'kube_pod_container_status_last_terminated_reason{{reason="OOMKilled",{selector}}}'


def _pod_rate(counter: str, selector: str) -> str:
    """The rate of ``counter`` per pod over 5m."""
    return f"sum by (pod) (rate({counter}{{{selector}}}[5m]))"


def _alert(
    name: str, expr: str, duration: str, severity: str, summary: str, base: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "runbook_url": f"{base.rstrip('/')}/{name}"},
    }


def prometheus_rule_body(instance: Instance, rules: PrometheusRuleSpec) -> dict[str, Any]:
    """One group of alerts, on kube-state-metrics and kubelet metrics only."""
    ns, name = instance.namespace, server_name(instance)
    alert = partial(_alert, base=rules.runbook_base_url)
    kind = _workload(instance)
    ready, desired = _replicas(ns, name, kind)
    on = f"on(namespace, {kind})"
    pods = _containers(ns, pod_regex(instance))
    same = "on(namespace, pod, container)"
    crash_loop = f"reason={_q(CRASH_LOOP)},{pods}"
    found = [
        alert(
            "PaperclipInstanceNotReady",
            f"({ready} == 0) and {on} ({desired} > 0)",
            "10m",
            "critical",
            f"Paperclip instance {ns}/{name} has had no ready server pod for 10m.",
        ),
        alert(
            "PaperclipInstanceDegraded",
            f"({ready} < {on} {desired}) and {on} ({ready} > 0)",
            "15m",
            "warning",
            f"Paperclip instance {ns}/{name} has run with fewer ready server pods than "
            "desired for 15m.",
        ),
        alert(
            "PaperclipPodCrashLooping",
            # kubelet's back-off reaches 5m: a pod that keeps crashing restarts at most about
            # twice in 10m, which ">2 in 10m" missed or flapped on; 1h holds more than 2
            # restarts, and the back-off state ends the alert 15m after the loop does.
            f"({_restarts(pods, '1h')} > 2) and {same} "
            f"(max_over_time(kube_pod_container_status_waiting_reason{{{crash_loop}}}[15m]) >= 1)",
            "0m",
            "critical",
            "Paperclip pod {{ $labels.pod }} is crash-looping (>2 restarts in 1h, in "
            "CrashLoopBackOff within 15m).",
        ),
        alert(
            "PaperclipPodOOMKilled",
            # only after a new restart
            f"({_oom_killed(pods)} == 1) and {same} ({_restarts(pods, '15m')} > 0)",
            "0m",
            "warning",
            "Paperclip pod {{ $labels.pod }} was OOM killed. Consider increasing memory limits.",
        ),
    ]
    volumes = claims(instance)
    if volumes:
        found.append(
            alert(
                "PaperclipPVCNearlyFull",
                f"({_volume_fill(ns, volumes)}) > 0.80",
                "5m",
                "warning",
                "PVC {{ $labels.persistentvolumeclaim }} of Paperclip instance "
                f"{ns}/{name} is over 80% full.",
            )
        )
    return {"spec": {"groups": [{"name": RULE_GROUP, "rules": found}]}}


# --- Grafana dashboards -------------------------------------------------------------------


_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_COLUMNS = 24


def _panel(
    title: str,
    targets: list[tuple[str, str]],
    *,
    unit: str = "short",
    kind: str = "timeseries",
    description: str = "",
    width: int = 12,
) -> dict[str, Any]:
    """A panel ``width`` columns wide and 8 rows high (a stat: 6 by 4), numbered and placed by
    :func:`_laid_out`."""
    w, h = (6, 4) if kind == "stat" else (width, 8)
    panel: dict[str, Any] = {
        "type": kind,
        "title": title,
        "datasource": dict(_DATASOURCE),
        "gridPos": {"w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": dict(_DATASOURCE),
                "expr": expr,
                "legendFormat": legend,
            }
            for i, (expr, legend) in enumerate(targets)
        ],
    }
    if description:
        panel["description"] = description
    if kind == "stat":
        panel["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"}
    return panel


def _laid_out(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The panels numbered from 1 and placed left to right, in rows of Grafana's 24 columns."""
    out = []
    x = y = row_height = 0
    for number, panel in enumerate(panels, 1):
        size = panel["gridPos"]
        if x + size["w"] > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        out.append({"id": number, **panel, "gridPos": {"x": x, "y": y, **size}})
        x, row_height = x + size["w"], max(row_height, size["h"])
    return out


def _dashboard(title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    # No uid: Grafana identifies a provisioned dashboard by its file, so two instances' boards
    # never collide on a fixed uid (the operator's do).
    return {
        "title": title,
        "tags": ["paperclip"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "timezone": "browser",
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "annotations": {"list": []},
        "panels": _laid_out(panels),
    }


def _overview(ns: str, name: str, kind: str, regex: str, volumes: Sequence[str]) -> dict[str, Any]:
    ready, desired = _replicas(ns, name, kind)
    pods = _containers(ns, regex)
    hpa = f"namespace={_q(ns)},horizontalpodautoscaler={_q(name)}"
    pdb = f"namespace={_q(ns)},poddisruptionbudget={_q(name)}"
    panels = [
        _panel("Ready server pods", [(ready, "ready")], kind="stat"),
        _panel("Desired server pods", [(desired, "desired")], kind="stat"),
        _panel("Restarts (1h)", [(f"sum({_restarts(pods, '1h')})", "")], kind="stat"),
        _panel(
            "Scrape target up",
            [(f"up{{namespace={_q(ns)},service={_q(name)}}}", "{{pod}}")],
            kind="stat",
            description="1 when Prometheus scrapes the server through the ServiceMonitor.",
        ),
        _panel("Replicas", [(ready, "ready"), (desired, "desired")]),
        _panel(
            "Autoscaler and disruption budget",
            [
                (f"kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}}", "HPA current"),
                (f"kube_horizontalpodautoscaler_status_desired_replicas{{{hpa}}}", "HPA desired"),
                (
                    f"kube_poddisruptionbudget_status_pod_disruptions_allowed{{{pdb}}}",
                    "PDB disruptions allowed",
                ),
            ],
            description="Empty when the instance has no autoscaler or budget.",
        ),
        _panel(
            "Volume usage",
            [(_volume_fill(ns, volumes), "{{persistentvolumeclaim}}")],
            unit="percentunit",
            width=24,
        ),
    ]
    return _dashboard(f"Paperclip overview ({ns}/{name})", panels)


def _usage(per_pod: str, pods: str, resource: str, bound: str) -> list[tuple[str, str]]:
    """The targets of a usage panel: ``per_pod`` and the largest ``bound`` (``request`` or
    ``limit``) of ``resource`` over the containers ``pods`` selects."""
    largest = f'max(kube_pod_container_resource_{bound}s{{{pods},resource="{resource}"}})'
    return [(per_pod, "{{pod}}"), (largest, bound)]


def _detail(ns: str, name: str, regex: str) -> dict[str, Any]:
    pods = _containers(ns, regex)
    pod_only = f"namespace={_q(ns)},pod=~{_q(regex)}"
    cpu = _pod_rate("container_cpu_usage_seconds_total", pods)
    memory = f"sum by (pod) (container_memory_working_set_bytes{{{pods}}})"
    throttled = (
        f"{_pod_rate('container_cpu_cfs_throttled_periods_total', pods)} / "
        f"{_pod_rate('container_cpu_cfs_periods_total', pods)}"
    )
    panels = [
        _panel("CPU usage", _usage(cpu, pods, "cpu", "request"), unit="cores"),
        _panel("Memory working set", _usage(memory, pods, "memory", "limit"), unit="bytes"),
        _panel(
            "Network",
            [
                (_pod_rate("container_network_receive_bytes_total", pod_only), "{{pod}} received"),
                (_pod_rate("container_network_transmit_bytes_total", pod_only), "{{pod}} sent"),
            ],
            unit="Bps",
        ),
        _panel("CPU throttling", [(throttled, "{{pod}}")], unit="percentunit"),
        _panel("Restarts", [(f"sum by (pod) ({_restarts(pods, '10m')})", "{{pod}}")]),
        _panel("Last termination OOMKilled", [(_oom_killed(pods), "{{pod}}")]),
    ]
    return _dashboard(f"Paperclip instance detail ({ns}/{name})", panels)


@lru_cache(maxsize=256)
def dashboard_texts(
    ns: str, name: str, kind: str, regex: str, volumes: tuple[str, ...]
) -> tuple[str, str]:
    """The overview and detail dashboards of the server workload ``name`` (a ``kind`` of
    ``statefulset`` or ``deployment``) in ``ns``, whose pods' names match ``regex``, the
    overview showing the fill level of the claims ``volumes``. As JSON text (immutable, so
    shared safely) made once per distinct inputs: a build made them anew every time, the
    largest single cost of an instance's objects, and the Helm chart's analysis builds each
    instance dozens of times with the same inputs."""
    overview = _overview(ns, name, kind, regex, volumes)
    return json.dumps(overview, indent=2), json.dumps(_detail(ns, name, regex), indent=2)


class ObservabilityFeature(Feature):
    """``observability.metrics``."""

    id = "observability"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        return instance.spec.observability.metrics.anything

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        metrics = instance.spec.observability.metrics
        env = otel_env(instance) if metrics.enabled else []
        monitor = metrics.monitor
        if monitor is None:
            return Contribution(env=env)
        warnings = []
        if instance.spec.deployment.exposure is Exposure.PRIVATE:
            warnings.append(
                Problem(
                    "Prometheus scrapes the pod IP, and with exposure private the server's "
                    "private-hostname guard answers any request whose Host is not an allowed "
                    "name with 403, so the target may show as down.",
                    "spec.observability.metrics.serviceMonitor",
                    "use exposure public if the server should serve /metrics to Prometheus, "
                    "or rely on the OpenTelemetry export (metrics.enabled) and the "
                    "kube-state-metrics alerts and dashboards.",
                )
            )
        warnings.append(
            Problem(
                f"upstream Paperclip (release {CHECKED_RELEASE}) serves no /metrics: the "
                "path answers with the web app's HTML page, which Prometheus cannot parse, "
                "so the target shows as down (and a TargetDown alert may fire).",
                "spec.observability.metrics.serviceMonitor",
                "use it with a Paperclip build that serves Prometheus metrics; otherwise "
                "rely on metrics.enabled (OpenTelemetry) and the kube-state-metrics alerts "
                "and dashboards.",
            )
        )
        ingress = scrape_ingress(instance, monitor)
        return Contribution(env=env, ingress=ingress, warnings=warnings)

    def add_objects(self) -> None:
        instance = self.context.instance
        metrics = instance.spec.observability.metrics
        labels = self.add.labels
        add = partial(self.add, api_version=MONITORING_API_VERSION)
        monitor, rules = metrics.monitor, metrics.rules
        if monitor is not None:
            body = service_monitor_body(instance, monitor)
            add("ServiceMonitor", server_name(instance), body, labels={**monitor.labels, **labels})
        if rules is not None:
            body = prometheus_rule_body(instance, rules)
            add(
                "PrometheusRule", f"{instance.name}-alerts", body, labels={**rules.labels, **labels}
            )
        dashboards = metrics.dashboards
        if dashboards is not None:
            cm_labels = {DASHBOARD_LABEL: "1", **dashboards.labels, **labels}
            annotations = {FOLDER_ANNOTATION: dashboards.folder}
            volumes = tuple(claims(instance) or [data_claim_name(instance)])
            workload = (server_name(instance), _workload(instance), pod_regex(instance))
            texts = dashboard_texts(instance.namespace, *workload, volumes)
            # The overview and detail dashboard ConfigMaps (the operator's names), each with
            # its key: the file name in the sidecar's folder, one per instance name (the
            # operator's fixed names overwrite each other there). Nothing in their names or
            # keys or in the dashboards' identity derives from the namespace, which the Helm
            # chart templates.
            for board, text in zip(("operator", "instance"), texts, strict=True):
                body = {"data": {f"paperclip-{board}-{instance.name}.json": text}}
                name = f"{instance.name}-dashboard-{board}"
                self.add("ConfigMap", name, body, labels=cm_labels, annotations=annotations)
