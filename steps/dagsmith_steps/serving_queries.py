"""The PromQL of a served Bento's alerts and Grafana dashboard, and the deploy configuration's monitoring part.

BentoML serves Prometheus metrics on ``/metrics`` of its HTTP port: ``bentoml_service_request_total``,
``bentoml_service_request_duration_seconds`` (a histogram) and ``bentoml_service_request_in_progress``, labelled
with ``endpoint``, ``http_response_code``, ``service_name``. The queries select the service's series by
``namespace`` and ``pod`` (the target labels that both a ServiceMonitor and the usual ``kubernetes-pods``
annotation job attach), and the autoscaler's and the Deployment's by the labels of kube-state-metrics.

Double braces (Grafana legends, alert templates) are built from ``OPEN`` and ``CLOSE``: the local target
embeds the step programs in a DAG file, where Airflow would read them as Jinja.
"""

from __future__ import annotations

from typing import Any

REQUESTS = "bentoml_service_request_total"
DURATION = "bentoml_service_request_duration_seconds"
IN_PROGRESS = "bentoml_service_request_in_progress"
RATE_WINDOW = "5m"

OPEN, CLOSE = "{" * 2, "}" * 2


def settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """The deploy configuration's ``monitoring`` part (``metrics: off`` when a DAG exported before it has none)."""
    return dict(cfg.get("monitoring") or {"metrics": "off", "prometheus_labels": {}})


def object_meta(cfg: dict[str, Any], name: str, namespace: str, extra: dict[str, str]) -> dict[str, Any]:
    """Name, namespace and labels of a monitoring object of the deployment (``extra``: more labels)."""
    labels = {"app.kubernetes.io/name": cfg["deployment_name"], "app.kubernetes.io/managed-by": "dagsmith"}
    return {"name": name, "namespace": namespace, "labels": labels | extra}


def legend(label: str) -> str:
    """A Grafana legend that shows a label's value."""
    return OPEN + label + CLOSE


def template(text: str) -> str:
    """An alert annotation template (``$value``, ``$labels.pod``)."""
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
