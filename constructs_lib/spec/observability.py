"""``observability.metrics``: the OTEL env, a ServiceMonitor, a PrometheusRule and Grafana
dashboards (the operator's field names and defaults, plus two documented extensions)."""

from typing import Annotated

from pydantic import AfterValidator, Field

from constructs_lib.spec.base import (
    HttpURL,
    Labels,
    Namespace,
    SpecModel,
    StrictBool,
)

DEFAULT_RUNBOOK_BASE_URL = "https://paperclip.inc/docs/operators/paperclip/runbooks"

# A Prometheus duration, as the ServiceMonitor CRD checks it (e.g. 30s, 1m, 1m30s); not 0.
PROMETHEUS_DURATION = (
    r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$"
)


def _duration(value: str) -> str:
    if not value or value.strip("0123456789") == "" or set(value) <= set("0ywdhms"):
        raise ValueError(
            f"'{value}' is not a scrape interval: write a Prometheus duration greater than "
            "zero such as 30s, 1m or 1m30s"
        )
    return value


class ServiceMonitorSpec(SpecModel):
    """A ServiceMonitor (monitoring.coreos.com/v1, named after the instance) that scrapes
    /metrics on the server Service's http port. The operator's README promises it; its code
    never built it."""

    enabled: StrictBool
    """Create the ServiceMonitor. Required."""
    interval: Annotated[
        str, Field(pattern=PROMETHEUS_DURATION, max_length=32), AfterValidator(_duration)
    ] = "30s"
    """Scrape interval (a Prometheus duration). Default: 30s."""
    labels: Labels = {}
    """paperclip-gitops extension: labels on the ServiceMonitor, e.g. release:
    kube-prometheus-stack for a Prometheus that selects monitors by label (the generated
    labels win a key collision). Default: none."""
    prometheus_namespaces: list[Namespace] = ["monitoring"]
    """paperclip-gitops extension: namespaces whose pods (Prometheus) the server
    NetworkPolicy admits on the server port so they can scrape it; [] adds no rule (e.g.
    Prometheus in the instance's namespace, or admitted by allowIngressCIDRs). Default:
    [monitoring]."""


class PrometheusRuleSpec(SpecModel):
    """A PrometheusRule ``<name>-alerts`` (monitoring.coreos.com/v1) with the alerts that work
    without an operator: pods crash looping or OOM-killed, no or too few ready server pods,
    the data volume nearly full (kube-state-metrics and kubelet metrics)."""

    enabled: StrictBool = False
    """Create the PrometheusRule. Default: false."""
    labels: Labels = {}
    """Extra labels on the PrometheusRule, e.g. the label your Prometheus selects rules by
    (the generated labels win a key collision). Default: none."""
    runbook_base_url: Annotated[HttpURL, Field(alias="runbookBaseURL")] = DEFAULT_RUNBOOK_BASE_URL
    """Each alert's runbook_url is <runbookBaseURL>/<AlertName>. Default:
    https://paperclip.inc/docs/operators/paperclip/runbooks."""


class GrafanaDashboardSpec(SpecModel):
    """Two Grafana dashboards as ConfigMaps for the Grafana sidecar
    (``<name>-dashboard-operator``: overview, ``<name>-dashboard-instance``: detail)."""

    enabled: StrictBool = False
    """Create the dashboard ConfigMaps. Default: false."""
    labels: Labels = {}
    """Extra labels on the ConfigMaps, after grafana_dashboard: "1" (which they may
    override, for a sidecar that selects on another value; the generated app.kubernetes.io
    labels win). Default: none."""
    folder: Annotated[str, Field(min_length=1, max_length=253)] = "Paperclip"
    """The Grafana folder (the ConfigMaps' grafana_folder annotation). Default: Paperclip."""


class MetricsSpec(SpecModel):
    """Metrics: the server's OpenTelemetry export and the Prometheus/Grafana objects."""

    enabled: StrictBool = False
    """Export OpenTelemetry from the server (NODE_OPTIONS, OTEL_EXPORTER_OTLP_ENDPOINT
    http://otel-collector.observability.svc.cluster.local:4317, OTEL_SERVICE_NAME,
    OTEL_RESOURCE_ATTRIBUTES; override any of them in spec.env). Default: false."""
    service_monitor: ServiceMonitorSpec | None = None
    """A ServiceMonitor for the server. Default: none."""
    prometheus_rule: PrometheusRuleSpec | None = None
    """Alerting rules. Default: none."""
    grafana_dashboard: GrafanaDashboardSpec | None = None
    """Grafana dashboards. Default: none."""

    @property
    def monitor(self) -> ServiceMonitorSpec | None:
        monitor = self.service_monitor
        return monitor if monitor is not None and monitor.enabled else None

    @property
    def rules(self) -> PrometheusRuleSpec | None:
        rules = self.prometheus_rule
        return rules if rules is not None and rules.enabled else None

    @property
    def dashboards(self) -> GrafanaDashboardSpec | None:
        dashboards = self.grafana_dashboard
        return dashboards if dashboards is not None and dashboards.enabled else None

    @property
    def anything(self) -> bool:
        """Whether any part is switched on."""
        return self.enabled or any((self.monitor, self.rules, self.dashboards))
