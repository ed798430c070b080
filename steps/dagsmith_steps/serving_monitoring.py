"""Prometheus and Grafana for a served Bento: what the deploy step applies next to the Deployment.

The deploy step's ``monitoring`` configuration says what to apply after the Deployment, Service and autoscaler:

- ``metrics: service_monitor``: a ``monitoring.coreos.com/v1`` ServiceMonitor that selects the Service by
  its labels (port ``http``, path ``/metrics``); ``annotations``: ``prometheus.io/*`` annotations on the
  pod template instead (``pod_annotations``); ``off``: nothing here at all;
- ``alerts``: a PrometheusRule (error ratio, p95 latency, at max replicas, no ready replica, target down),
  its queries from ``serving_queries``;
- ``grafana_dashboard``: the dashboard's ConfigMap (``serving_dashboard``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from dagsmith_steps.serving_dashboard import dashboard_config_map  # dagsmith: not embedded
from dagsmith_steps.serving_queries import (  # dagsmith: not embedded
    RATE_WINDOW,
    Queries,
    object_meta,
    settings,
    template,
)

GROUP, VERSION = "monitoring.coreos.com", "v1"
OPTIONAL_KINDS = {"ServiceMonitor": "servicemonitors", "PrometheusRule": "prometheusrules"}
"""The Prometheus Operator's kinds (and their plurals): a cluster without the Operator answers 404 for them."""

SCRAPE_INTERVAL = "30s"


def pod_annotations(cfg: dict[str, Any]) -> dict[str, str]:
    """The ``prometheus.io/*`` pod-template annotations when ``metrics`` is ``annotations``, else none."""
    if settings(cfg)["metrics"] != "annotations":
        return {}
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(cfg["port"]), "prometheus.io/path": "/metrics"}


def service_monitor(cfg: dict[str, Any]) -> dict[str, Any]:
    """The ServiceMonitor that has the Prometheus Operator scrape the Service's ``http`` port on ``/metrics``."""
    name, namespace = cfg["deployment_name"], cfg["namespace"]
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "dagsmith"}
    endpoint = {"port": "http", "path": "/metrics", "interval": SCRAPE_INTERVAL, "scheme": "http"}
    return {
        "apiVersion": GROUP + "/" + VERSION,
        "kind": "ServiceMonitor",
        "metadata": object_meta(cfg, name, namespace, settings(cfg)["prometheus_labels"]),
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
    """The alerts of one deployment, with the thresholds of its ``monitoring`` settings.

    A fixed size (min replicas = max replicas) is always at max: no max-replicas alert then.
    """
    watch, queries = settings(cfg), Queries(cfg)
    name, namespace, hold = cfg["deployment_name"], cfg["namespace"], int(watch["alert_for_minutes"])
    ratio, latency = float(watch["alert_error_ratio"]), float(watch["alert_p95_latency_seconds"])
    value = template("$value | humanize")
    rules = [
        _alert(
            cfg,
            "BentoHighErrorRatio",
            "(" + queries.error_ratio() + ") > " + repr(ratio),
            minutes=hold,
            severity="critical",
            texts=(
                "High 5xx error ratio",
                template("$value | humanizePercentage")
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
                + template("$labels.pod")
                + " of "
                + namespace
                + "/"
                + name
                + ".",
            ),
        ),
    ]
    fixed = int(cfg.get("min_replicas") or 1) >= int(cfg.get("max_replicas") or 1)
    return [rule for rule in rules if not (fixed and rule["alert"] == "BentoAtMaxReplicas")]


def prometheus_rule(cfg: dict[str, Any]) -> dict[str, Any]:
    """The PrometheusRule with the deployment's alerts (one group)."""
    name, namespace = cfg["deployment_name"], cfg["namespace"]
    group = {"name": "dagsmith." + namespace + "." + name, "rules": alert_rules(cfg)}
    return {
        "apiVersion": GROUP + "/" + VERSION,
        "kind": "PrometheusRule",
        "metadata": object_meta(cfg, name, namespace, settings(cfg)["prometheus_labels"]),
        "spec": {"groups": [group]},
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


def unwanted(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """The monitoring objects the settings now leave out (turned off), as they would be applied.

    A previous deploy with other settings may have applied them: the step deletes those that dagsmith
    manages, so that alerts turned off stop firing (and brings them back if the rollout fails).
    """
    if not cfg.get("monitoring"):  # a DAG exported before the monitoring settings applied none of them
        return []
    kinds = {body["kind"] for body in monitoring_manifests(cfg)}
    every = [service_monitor(cfg), prometheus_rule(cfg), dashboard_config_map(cfg)]
    return [body for body in every if body["kind"] not in kinds]


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


def monitoring_calls(api: Any) -> dict[str, tuple[Any, Any, Any]]:
    """(read, server-side apply, delete) for the ConfigMap and the Operator's kinds, by kind."""
    from kubernetes import client as kube

    core, custom = kube.CoreV1Api(api), kube.CustomObjectsApi(api)
    calls: dict[str, tuple[Any, Any, Any]] = {
        "ConfigMap": (
            core.read_namespaced_config_map,
            core.patch_namespaced_config_map,
            core.delete_namespaced_config_map,
        )
    }
    for kind, plural in OPTIONAL_KINDS.items():
        read = partial(custom.get_namespaced_custom_object, GROUP, VERSION, plural=plural)
        apply = partial(custom.patch_namespaced_custom_object, GROUP, VERSION, plural=plural)
        calls[kind] = (read, apply, partial(custom.delete_namespaced_custom_object, GROUP, VERSION, plural=plural))
    return calls
