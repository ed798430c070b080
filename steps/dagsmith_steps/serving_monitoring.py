"""Prometheus and Grafana for a served Bento: scraping, alerts and a dashboard, as Kubernetes objects.

BentoML serves Prometheus metrics on ``/metrics`` of its HTTP port (``bentoml_service_request_total``,
``bentoml_service_request_duration_seconds`` and ``bentoml_service_request_in_progress``, labelled with
``endpoint``, ``http_response_code``, ``service_name``). The deploy step's ``monitoring`` configuration says
what to apply next to the Deployment, Service and autoscaler:

- ``metrics: service_monitor``: a ``monitoring.coreos.com/v1`` ServiceMonitor that selects the Service by
  its labels (port ``http``, path ``/metrics``); ``annotations``: ``prometheus.io/*`` annotations on the
  pod template instead (``pod_annotations``); ``off``: nothing here at all;
- ``alerts``: a PrometheusRule (error ratio, p95 latency, at max replicas, no ready replica, target down);
- ``grafana_dashboard``: a ConfigMap labelled ``grafana_dashboard: "1"`` for Grafana's dashboard sidecar,
  the dashboard built with Grafana's foundation SDK (``grafana-foundation-sdk``, in the step image).

The queries select the service's series by ``namespace`` and ``pod`` (the target labels that both a
ServiceMonitor and the usual ``kubernetes-pods`` annotation job attach), and the autoscaler's and the
Deployment's by the labels of kube-state-metrics. Double braces (Grafana legends, alert templates) are
built from ``OPEN`` and ``CLOSE``: the local target embeds the step programs in a DAG file, where Airflow
would read them as Jinja.
"""

from __future__ import annotations

import hashlib
import json
from functools import partial
from typing import Any

GROUP, VERSION = "monitoring.coreos.com", "v1"
OPTIONAL_KINDS = {"ServiceMonitor": "servicemonitors", "PrometheusRule": "prometheusrules"}
"""The Prometheus Operator's kinds (and their plurals): a cluster without the Operator answers 404 for them."""

REQUESTS = "bentoml_service_request_total"
DURATION = "bentoml_service_request_duration_seconds"
IN_PROGRESS = "bentoml_service_request_in_progress"
SCRAPE_INTERVAL = "30s"
RATE_WINDOW = "5m"

OPEN, CLOSE = "{" * 2, "}" * 2


def settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """The deploy configuration's ``monitoring`` part (``metrics: off`` when a DAG exported before it has none)."""
    return dict(cfg.get("monitoring") or {"metrics": "off"})


def pod_annotations(cfg: dict[str, Any]) -> dict[str, str]:
    """The ``prometheus.io/*`` pod-template annotations when ``metrics`` is ``annotations``, else none."""
    if settings(cfg)["metrics"] != "annotations":
        return {}
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(cfg["port"]), "prometheus.io/path": "/metrics"}


def _legend(label: str) -> str:
    return OPEN + label + CLOSE


def _template(text: str) -> str:
    return OPEN + " " + text + " " + CLOSE


class Queries:
    """The PromQL of the alerts and the dashboard for one deployment (``window``: the rate range)."""

    def __init__(self, cfg: dict[str, Any], window: str = RATE_WINDOW) -> None:
        name, namespace = cfg["deployment_name"], cfg["namespace"]
        self.pods = 'namespace="' + namespace + '", pod=~"' + name + '-[a-z0-9]+-[a-z0-9]+"'
        self.hpa = 'namespace="' + namespace + '", horizontalpodautoscaler="' + name + '"'
        self.deployment = 'namespace="' + namespace + '", deployment="' + name + '"'
        self.window = window

    def _rate(self, metric: str, extra: str = "") -> str:
        return "rate(" + metric + "{" + self.pods + extra + "}[" + self.window + "])"

    def request_rate(self, by: str = "") -> str:
        grouping = " by (" + by + ")" if by else ""
        return "sum" + grouping + " (" + self._rate(REQUESTS) + ")"

    def error_ratio(self) -> str:
        errors = "sum(" + self._rate(REQUESTS, ', http_response_code=~"5.."') + ")"
        return errors + " / " + self.request_rate()

    def latency(self, quantile: float) -> str:
        buckets = "sum by (le) (" + self._rate(DURATION + "_bucket") + ")"
        return "histogram_quantile(" + str(quantile) + ", " + buckets + ")"

    def in_progress(self) -> str:
        return "sum by (pod) (" + IN_PROGRESS + "{" + self.pods + "})"

    def replicas(self, which: str) -> str:
        metric = {
            "max": "spec_max_replicas",
            "current": "status_current_replicas",
            "desired": "status_desired_replicas",
        }
        return "max(kube_horizontalpodautoscaler_" + metric[which] + "{" + self.hpa + "})"

    def available(self) -> str:
        return "max(kube_deployment_status_replicas_available{" + self.deployment + "})"

    def targets_up(self) -> str:
        return "up{" + self.pods + "}"

    def cpu(self) -> str:
        usage = "container_cpu_usage_seconds_total{" + self.pods + ', container="bento"}'
        return "sum by (pod) (rate(" + usage + "[" + self.window + "]))"

    def memory(self) -> str:
        return "sum by (pod) (container_memory_working_set_bytes{" + self.pods + ', container="bento"})'


def _meta(cfg: dict[str, Any], name: str, namespace: str, extra: dict[str, str]) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": cfg["deployment_name"], "app.kubernetes.io/managed-by": "dagsmith"}
    return {"name": name, "namespace": namespace, "labels": labels | extra}


def service_monitor(cfg: dict[str, Any]) -> dict[str, Any]:
    """The ServiceMonitor that has the Prometheus Operator scrape the Service's ``http`` port on ``/metrics``."""
    name, namespace = cfg["deployment_name"], cfg["namespace"]
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "dagsmith"}
    endpoint = {"port": "http", "path": "/metrics", "interval": SCRAPE_INTERVAL, "scheme": "http"}
    return {
        "apiVersion": GROUP + "/" + VERSION,
        "kind": "ServiceMonitor",
        "metadata": _meta(cfg, name, namespace, settings(cfg)["prometheus_labels"]),
        "spec": {
            "selector": {"matchLabels": selector},
            "namespaceSelector": {"matchNames": [namespace]},
            "endpoints": [endpoint],
        },
    }


def _alert(
    cfg: dict[str, Any], alert: str, expr: str, *, minutes: int, severity: str, texts: tuple[str, str]
) -> dict[str, Any]:
    name, namespace = cfg["deployment_name"], cfg["namespace"]
    where = "the BentoML deployment " + namespace + "/" + name
    runbook = (
        "kubectl -n "
        + namespace
        + " describe deployment "
        + name
        + "; kubectl -n "
        + namespace
        + " logs -l app.kubernetes.io/name="
        + name
        + " --tail=200; kubectl -n "
        + namespace
        + " describe hpa "
        + name
        + "; open the Grafana dashboard 'BentoML "
        + namespace
        + "/"
        + name
        + "'"
    )
    rule: dict[str, Any] = {
        "alert": alert,
        "expr": expr,
        "labels": {"severity": severity, "namespace": namespace, "deployment": name},
        "annotations": {"summary": texts[0] + " on " + where, "description": texts[1], "runbook": runbook},
    }
    if minutes:
        rule["for"] = str(minutes) + "m"
    return rule


def alert_rules(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """The alerts of one deployment, with the thresholds of its ``monitoring`` settings."""
    watch, queries = settings(cfg), Queries(cfg)
    name, namespace, hold = cfg["deployment_name"], cfg["namespace"], int(watch["alert_for_minutes"])
    ratio, latency = float(watch["alert_error_ratio"]), float(watch["alert_p95_latency_seconds"])
    value = _template("$value | humanize")
    return [
        _alert(
            cfg,
            "BentoHighErrorRatio",
            "(" + queries.error_ratio() + ") > " + repr(ratio),
            minutes=hold,
            severity="critical",
            texts=(
                "High 5xx error ratio",
                _template("$value | humanizePercentage")
                + " of the requests to "
                + namespace
                + "/"
                + name
                + " failed with a 5xx over "
                + RATE_WINDOW
                + " (threshold "
                + str(round(ratio * 100, 3))
                + "%).",
            ),
        ),
        _alert(
            cfg,
            "BentoHighLatencyP95",
            queries.latency(0.95) + " > " + repr(latency),
            minutes=hold,
            severity="warning",
            texts=(
                "High p95 latency",
                "The 95th percentile request latency of "
                + namespace
                + "/"
                + name
                + " is "
                + value
                + " s over "
                + RATE_WINDOW
                + " (threshold "
                + repr(latency)
                + " s).",
            ),
        ),
        _alert(
            cfg,
            "BentoAtMaxReplicas",
            queries.replicas("current") + " >= " + queries.replicas("max"),
            minutes=int(watch["alert_max_replicas_minutes"]),
            severity="warning",
            texts=(
                "Autoscaler at max replicas",
                "The autoscaler of "
                + namespace
                + "/"
                + name
                + " has run at its max replicas for "
                + str(watch["alert_max_replicas_minutes"])
                + " minutes: raise max_replicas or the capacity.",
            ),
        ),
        _alert(
            cfg,
            "BentoNoReadyReplicas",
            queries.available() + " < 1",
            minutes=hold,
            severity="critical",
            texts=("No ready replica", "The Deployment " + namespace + "/" + name + " has no available replica."),
        ),
        _alert(
            cfg,
            "BentoTargetDown",
            queries.targets_up() + " == 0",
            minutes=hold,
            severity="warning",
            texts=(
                "Metrics target down",
                "Prometheus cannot scrape /metrics of pod "
                + _template("$labels.pod")
                + " of "
                + namespace
                + "/"
                + name
                + ".",
            ),
        ),
    ]


def prometheus_rule(cfg: dict[str, Any]) -> dict[str, Any]:
    """The PrometheusRule with the deployment's alerts (one group)."""
    name, namespace = cfg["deployment_name"], cfg["namespace"]
    group = {"name": "dagsmith." + namespace + "." + name, "rules": alert_rules(cfg)}
    return {
        "apiVersion": GROUP + "/" + VERSION,
        "kind": "PrometheusRule",
        "metadata": _meta(cfg, name, namespace, settings(cfg)["prometheus_labels"]),
        "spec": {"groups": [group]},
    }


PANELS = (
    # title, unit, grid (x, y, width, height of 24 columns), description
    ("Request rate", "reqps", (0, 0, 12, 8), "Requests per second, by endpoint"),
    ("5xx error ratio", "percentunit", (12, 0, 12, 8), "Share of the requests answered with a 5xx"),
    ("Latency", "s", (0, 8, 12, 8), "Request duration percentiles (BentoML's histogram)"),
    ("In-flight requests", "short", (12, 8, 12, 8), "Requests being served now, by pod"),
    ("Replicas", "short", (0, 16, 8, 8), "From kube-state-metrics: the autoscaler's current, desired and max"),
    ("CPU per pod", "short", (8, 16, 8, 8), "CPU cores used by the bento container"),
    ("Memory per pod", "bytes", (16, 16, 8, 8), "Working set of the bento container"),
)
"""The dashboard's panels, in order; their queries come from ``panel_queries``."""


def panel_queries(cfg: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """Each panel's queries as (PromQL, legend), in the order of ``PANELS`` (Grafana's rate window)."""
    queries = Queries(cfg, window="$__rate_interval")
    return [
        [(queries.request_rate("endpoint"), _legend("endpoint"))],
        [(queries.error_ratio(), "5xx")],
        [(queries.latency(q), "p" + str(round(q * 100))) for q in (0.5, 0.95, 0.99)],
        [(queries.in_progress(), _legend("pod"))],
        [(queries.replicas(which), which) for which in ("current", "desired", "max")],
        [(queries.cpu(), _legend("pod"))],
        [(queries.memory(), _legend("pod"))],
    ]


def dashboard_uid(cfg: dict[str, Any]) -> str:
    """A uid stable for a deployment (so a re-deploy updates its dashboard) and within Grafana's 40 characters."""
    digest = hashlib.sha256((cfg["namespace"] + "/" + cfg["deployment_name"]).encode()).hexdigest()
    return "dagsmith-" + digest[:24]


def dashboard(cfg: dict[str, Any]) -> dict[str, Any]:
    """The Grafana dashboard of one deployment, built with Grafana's foundation SDK, as its JSON model.

    Its Prometheus data source is the dashboard variable ``datasource``, so it works with whichever
    Prometheus data source the Grafana has.
    """
    from grafana_foundation_sdk.builders import common, prometheus, timeseries
    from grafana_foundation_sdk.builders import dashboard as board
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common as common_model
    from grafana_foundation_sdk.models import dashboard as model

    name, namespace = cfg["deployment_name"], cfg["namespace"]
    source = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
    legend = common.VizLegendOptions().show_legend(True)
    legend = legend.display_mode(common_model.LegendDisplayMode.LIST).placement(common_model.LegendPlacement.BOTTOM)
    built = (
        board.Dashboard("BentoML " + namespace + "/" + name)
        .uid(dashboard_uid(cfg))
        .description("Requests, errors, latency and replicas of the BentoML deployment " + namespace + "/" + name)
        .tags(["dagsmith", "bentoml", namespace])
        .editable()
        .timezone("browser")
        .time("now-6h", "now")
        .refresh("30s")
        .with_variable(board.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )
    for index, ((title, unit, grid, text), targets) in enumerate(zip(PANELS, panel_queries(cfg), strict=True)):
        x, y, w, h = grid
        panel = timeseries.Panel().id(index + 1).title(title).description(text).unit(unit).legend(legend)
        panel = panel.datasource(source).grid_pos(model.GridPos(x=x, y=y, w=w, h=h))
        if unit == "percentunit":
            panel = panel.min(0)
        for ref, (expr, legend_format) in enumerate(targets):
            query = prometheus.Dataquery().ref_id(chr(ord("A") + ref)).expr(expr).legend_format(legend_format)
            panel = panel.with_target(query.datasource(source))
        built = built.with_panel(panel)
    found: dict[str, Any] = json.loads(json.dumps(built.build(), cls=JSONEncoder))
    return found


def dashboard_config_map(cfg: dict[str, Any]) -> dict[str, Any]:
    """The dashboard as a ConfigMap that Grafana's sidecar loads (label ``grafana_dashboard: "1"``)."""
    name, namespace = cfg["deployment_name"], cfg["namespace"]
    where = settings(cfg).get("dashboard_namespace") or namespace
    map_name = name + "-dashboard" if where == namespace else namespace + "-" + name + "-dashboard"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(cfg, map_name, where, {"grafana_dashboard": "1"}),
        "data": {namespace + "-" + name + ".json": json.dumps(dashboard(cfg), indent=1, sort_keys=True)},
    }


def monitoring_manifests(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """The monitoring objects to apply after the Deployment, Service and autoscaler (none when ``metrics`` is off)."""
    watch = settings(cfg)
    if watch["metrics"] == "off":
        return []
    found = [service_monitor(cfg)] if watch["metrics"] == "service_monitor" else []
    if watch.get("alerts"):
        found.append(prometheus_rule(cfg))
    if watch.get("grafana_dashboard"):
        found.append(dashboard_config_map(cfg))
    return found


def missing_kind(kind: str) -> str:
    """What the step logs when the cluster has no such kind (the Prometheus Operator is not installed)."""
    what = "scrape the service" if kind == "ServiceMonitor" else "evaluate the service's alerts"
    return (
        "warning: the cluster has no "
        + kind
        + " kind ("
        + GROUP
        + "/"
        + VERSION
        + "), so Prometheus will not "
        + what
        + ". Install the Prometheus Operator (e.g. the kube-prometheus-stack Helm chart), or set the node's"
        + " metrics to 'annotations' or 'off'; the deploy goes on without it"
    )


def monitoring_calls(api: Any) -> dict[str, tuple[Any, Any]]:
    """(read, server-side apply) for the ConfigMap and the Operator's kinds, as ``Cluster.calls`` has them."""
    from kubernetes import client as kube

    core, custom = kube.CoreV1Api(api), kube.CustomObjectsApi(api)
    calls = {"ConfigMap": (core.read_namespaced_config_map, core.patch_namespaced_config_map)}
    for kind, plural in OPTIONAL_KINDS.items():
        read = partial(custom.get_namespaced_custom_object, GROUP, VERSION, plural=plural)
        calls[kind] = (read, partial(custom.patch_namespaced_custom_object, GROUP, VERSION, plural=plural))
    return calls
