"""The BentoML deploy node's ``monitoring`` section: its defaults, and each wrong value reported at its field."""

from __future__ import annotations

from typing import Any

import pytest
from factories import valid_pipeline

from dagsmith.nodes import Code, validate
from dagsmith.nodes.types.deploy import BentoDeploy


def _issues(monitoring: dict[str, Any]) -> list[tuple[Code, str | None, str | None]]:
    params = {"deployment_name": "api", "monitoring": monitoring}
    return [(i.code, i.node, i.field) for i in validate(valid_pipeline("bentoml_deploy", params))]


def test_the_defaults_are_what_a_kube_prometheus_stack_user_expects() -> None:
    monitoring = BentoDeploy(deployment_name="api").monitoring
    assert monitoring.metrics == "service_monitor"
    assert monitoring.prometheus_labels == {"release": "kube-prometheus-stack"}
    assert (monitoring.alerts, monitoring.grafana_dashboard) == (True, True)
    assert (monitoring.alert_error_ratio, monitoring.alert_p95_latency_seconds) == (0.05, 1.0)
    assert (monitoring.alert_max_replicas_minutes, monitoring.alert_for_minutes) == (15, 5)
    assert _issues({}) == []


@pytest.mark.parametrize(
    ("monitoring", "field"),
    [
        ({"metrics": "pushgateway"}, "monitoring.metrics"),
        ({"alert_error_ratio": 0}, "monitoring.alert_error_ratio"),
        ({"alert_error_ratio": 1.5}, "monitoring.alert_error_ratio"),
        ({"alert_p95_latency_seconds": -1}, "monitoring.alert_p95_latency_seconds"),
        ({"alert_max_replicas_minutes": 0}, "monitoring.alert_max_replicas_minutes"),
        ({"alert_for_minutes": -5}, "monitoring.alert_for_minutes"),
        ({"prometheus_labels": {"release": "bad value!"}}, "monitoring.prometheus_labels.release"),
        ({"dashboard_namespace": "Grafana_NS"}, "monitoring.dashboard_namespace"),
    ],
)
def test_a_wrong_monitoring_value_is_reported_at_its_field(monitoring: dict[str, Any], field: str) -> None:
    assert _issues(monitoring) == [(Code.INVALID_VALUE, "n", field)]


def test_an_unknown_monitoring_setting_is_named() -> None:
    assert _issues({"scrape": True}) == [(Code.UNKNOWN_PARAMETER, "n", "monitoring.scrape")]
