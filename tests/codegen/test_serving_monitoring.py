"""The deploy step's monitoring objects: ServiceMonitor or pod annotations, PrometheusRule, Grafana dashboard.

The step runs as embedded, against the fake API server of ``test_deploy_step`` (the real ``kubernetes``
client, only its REST layer replaced). The Prometheus Operator's objects are checked against a model of
what their CRDs require; the core objects against the Kubernetes schema; the PromQL is parsed with Prometheus'
grammar (``promql-parser``) and by ``promql_check``, which also says what each query selects.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import kubernetes_validate
import promql_parser
import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard
from promql_check import PromQLError, parse
from pydantic import BaseModel, ConfigDict, Field
from test_deploy_step import (
    DEADLINE,
    DEPLOY,
    K8S_VERSION,
    NEW_IMAGE,
    OLD_IMAGE,
    FakeApiServer,
    _deploy_configs,
    _Response,
    config,
    existing,
    image_of,
    run_deploy,
    status,
)

from dagsmith.nodes.types.deploy import BentoDeploy

DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
"""The Prometheus Operator's Duration pattern (``interval``, ``for``)."""


def monitoring(**changes: Any) -> dict[str, Any]:
    """The ``monitoring`` part of the deploy configuration, as codegen passes a node with default fields."""
    node = BentoDeploy(deployment_name="keyword-api")
    return node.monitoring.model_dump(mode="json") | {"dashboard_namespace": "ml"} | changes


def watched(**changes: Any) -> dict[str, Any]:
    return config(monitoring=monitoring(**changes))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Meta(_Strict):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=253)
    namespace: str
    labels: dict[str, str]


class Endpoint(_Strict):
    port: str
    path: str = Field(pattern=r"^/")
    interval: str = Field(pattern=DURATION)
    scheme: Literal["http", "https"]


class ServiceMonitorSpec(_Strict):
    selector: dict[Literal["matchLabels"], dict[str, str]]
    namespace_selector: dict[Literal["matchNames"], list[str]] = Field(alias="namespaceSelector")
    endpoints: list[Endpoint] = Field(min_length=1)


class ServiceMonitor(_Strict):
    api_version: Literal["monitoring.coreos.com/v1"] = Field(alias="apiVersion")
    kind: Literal["ServiceMonitor"]
    metadata: Meta
    spec: ServiceMonitorSpec


class Rule(_Strict):
    alert: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    expr: str = Field(min_length=1)
    for_: str = Field(alias="for", pattern=DURATION)
    labels: dict[str, str]
    annotations: dict[Literal["summary", "description", "runbook"], str]


class Group(_Strict):
    name: str = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1)


class PrometheusRule(_Strict):
    api_version: Literal["monitoring.coreos.com/v1"] = Field(alias="apiVersion")
    kind: Literal["PrometheusRule"]
    metadata: Meta
    spec: dict[Literal["groups"], list[Group]]


def objects(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {body["kind"]: body for body in DEPLOY["monitoring_manifests"](cfg)}


def test_the_default_applies_a_service_monitor_alerts_and_a_dashboard_after_the_deployment() -> None:
    server = FakeApiServer([status(1, 1)])
    run_deploy(server, watched())
    paths = [item["path"] for item in server.applies()]
    assert paths[3:] == [
        "apis/monitoring.coreos.com/v1/namespaces/ml/servicemonitors/keyword-api",
        "apis/monitoring.coreos.com/v1/namespaces/ml/prometheusrules/keyword-api",
        "api/v1/namespaces/ml/configmaps/keyword-api-dashboard",
    ]
    for item in server.applies():
        assert item["headers"]["Content-Type"] == "application/apply-patch+yaml"
        assert dict(item["query_params"]) == {"fieldManager": "dagsmith", "force": True}
    monitor = server.objects["ml/servicemonitors/keyword-api"]
    service = server.objects["ml/services/keyword-api"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in [port["name"] for port in service["spec"]["ports"]]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"  # what the stack selects by
    assert "annotations" not in server.objects["ml/deployments/keyword-api"]["spec"]["template"]["metadata"]


def test_annotations_scrape_the_pods_instead_of_a_service_monitor() -> None:
    cfg = watched(metrics="annotations", prometheus_labels={})
    deployment = DEPLOY["build_manifests"](cfg, NEW_IMAGE)[0]
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "3000",
        "prometheus.io/path": "/metrics",
    }
    kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    assert sorted(objects(cfg)) == ["ConfigMap", "PrometheusRule"]


def test_metrics_off_applies_nothing_more_and_an_older_config_means_off() -> None:
    assert DEPLOY["monitoring_manifests"](watched(metrics="off")) == []
    assert DEPLOY["monitoring_manifests"](config()) == []  # a DAG exported before the monitoring settings
    assert sorted(objects(watched(alerts=False, grafana_dashboard=False))) == ["ServiceMonitor"]


def test_a_cluster_without_the_prometheus_operator_is_told_and_the_deploy_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = FakeApiServer([status(1, 1)], refuse={"servicemonitors": 404, "prometheusrules": 404})
    assert run_deploy(server, watched())["image"] == NEW_IMAGE
    out = capsys.readouterr().out
    assert "the cluster has no ServiceMonitor kind (monitoring.coreos.com/v1)" in out
    assert "the cluster has no PrometheusRule kind" in out
    assert "Install the Prometheus Operator (e.g. the kube-prometheus-stack Helm chart)" in out
    assert "ml/keyword-api not applied" in out
    assert "ml/configmaps/keyword-api-dashboard" in server.objects  # the dashboard is a core object
    assert "Traceback" not in out


def test_a_refused_monitoring_object_fails_the_deploy_like_the_others() -> None:
    server = FakeApiServer([status(10, 10)], refuse={"prometheusrules": 403})
    existing(server, replicas=10)
    with pytest.raises(DEPLOY["DeployError"]) as failed:
        run_deploy(server, watched())
    assert "cannot apply PrometheusRule ml/keyword-api: 403 Forbidden" in str(failed.value)
    assert [image_of(item["body"]) for item in server.applies("deployments")] == [NEW_IMAGE, OLD_IMAGE]


def _store(server: FakeApiServer, plural: str, body: dict[str, Any]) -> None:
    meta = body["metadata"]
    server.objects[f"{meta['namespace']}/{plural}/{meta['name']}"] = json.loads(json.dumps(body))


def test_a_failed_rollout_rolls_the_monitoring_objects_back_too() -> None:
    server = FakeApiServer([DEADLINE | status(1, 0, 11), status(10, 10)])
    existing(server, replicas=10)
    before = watched(alert_error_ratio=0.2)
    old = objects(before)
    _store(server, "servicemonitors", old["ServiceMonitor"])
    _store(server, "prometheusrules", old["PrometheusRule"])
    old_map = old["ConfigMap"] | {"data": {"old.json": "{}"}}
    _store(server, "configmaps", old_map)
    with pytest.raises(DEPLOY["DeployError"]) as failed:
        run_deploy(server, watched())
    assert "the rollback completed" in str(failed.value)
    rules = server.applies("prometheusrules")
    assert len(rules) == 2  # the new rule, then the previous one again
    assert "> 0.05" in rules[0]["body"]["spec"]["groups"][0]["rules"][0]["expr"]
    assert server.objects["ml/prometheusrules/keyword-api"]["spec"] == old["PrometheusRule"]["spec"]
    assert server.objects["ml/configmaps/keyword-api-dashboard"]["data"] == {"old.json": "{}"}
    assert [len(server.applies(plural)) for plural in ("servicemonitors", "configmaps")] == [2, 2]


class PruningApiServer(FakeApiServer):
    """The fake API server, which also deletes objects and may refuse reads of some kinds (``refuse_reads``)."""

    def __init__(self, rollout: list[dict[str, Any]], *, refuse_reads: dict[str, int] | None = None) -> None:
        super().__init__(rollout)
        self.refuse_reads = refuse_reads or {}

    def GET(self, url: str, **options: Any) -> _Response:
        plural = url.rsplit("/", 2)[-2]
        if plural in self.refuse_reads:
            self.requests.append({"method": "GET", "path": url, **options})
            return self._error(self.refuse_reads[plural], plural + " is forbidden: User cannot get")
        return super().GET(url, **options)

    def DELETE(self, url: str, **options: Any) -> _Response:
        path = url.split("://", 1)[1].split("/", 1)[1]
        self.requests.append({"method": "DELETE", "path": path, **options})
        found = re.fullmatch(r"apis?/(?:[a-z0-9.]+/)?v\d+/namespaces/([^/]+)/([a-z]+)/([^/]+)", path)
        assert found, path
        key = "/".join(found.groups())
        if key not in self.objects:
            return self._error(404, "not found")
        del self.objects[key]
        return _Response(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})


def test_a_part_turned_off_is_deleted_when_dagsmith_applied_it() -> None:
    server = PruningApiServer([status(10, 10)])
    existing(server, replicas=10)
    old = objects(watched())
    _store(server, "prometheusrules", old["PrometheusRule"])
    foreign = old["ConfigMap"] | {"metadata": old["ConfigMap"]["metadata"] | {"labels": {"grafana_dashboard": "1"}}}
    _store(server, "configmaps", foreign)  # a dashboard someone else made under that name: not ours to delete
    run_deploy(server, watched(alerts=False, grafana_dashboard=False))
    deleted = [item["path"] for item in server.requests if item["method"] == "DELETE"]
    assert deleted == ["apis/monitoring.coreos.com/v1/namespaces/ml/prometheusrules/keyword-api"]
    assert "ml/prometheusrules/keyword-api" not in server.objects
    assert "ml/configmaps/keyword-api-dashboard" in server.objects
    assert "ml/servicemonitors/keyword-api" in server.objects


def test_a_failed_rollout_brings_a_deleted_part_back() -> None:
    server = PruningApiServer([DEADLINE | status(1, 0, 11), status(10, 10)])
    existing(server, replicas=10)
    old = objects(watched())
    _store(server, "prometheusrules", old["PrometheusRule"])
    with pytest.raises(DEPLOY["DeployError"]) as failed:
        run_deploy(server, watched(alerts=False))
    assert "the rollback completed" in str(failed.value)
    assert server.objects["ml/prometheusrules/keyword-api"]["spec"] == old["PrometheusRule"]["spec"]


def test_a_part_turned_off_that_cannot_be_read_is_only_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    server = PruningApiServer([status(1, 1)], refuse_reads={"servicemonitors": 403, "prometheusrules": 403})
    assert run_deploy(server, watched(metrics="annotations", alerts=False))["image"] == NEW_IMAGE
    out = capsys.readouterr().out
    assert "warning: cannot read ServiceMonitor ml/keyword-api: 403 Forbidden" in out
    assert "turned off in the node's monitoring settings; delete it yourself" in out


def test_the_objects_pass_their_schemas() -> None:
    found = objects(watched())
    ServiceMonitor.model_validate(found["ServiceMonitor"])
    PrometheusRule.model_validate(found["PrometheusRule"])
    kubernetes_validate.validate(found["ConfigMap"], K8S_VERSION, strict=True)
    with pytest.raises(ValueError, match="for"):
        broken = json.loads(json.dumps(found["PrometheusRule"]))
        broken["spec"]["groups"][0]["rules"][0]["for"] = "5 minutes"
        PrometheusRule.model_validate(broken)


def test_every_deploying_example_gets_valid_monitoring_objects() -> None:
    from test_deploy_step import DEPLOYING

    for name, pipeline in DEPLOYING.items():
        for cfg in _deploy_configs(pipeline()):
            found = objects(cfg)
            assert sorted(found) == ["ConfigMap", "PrometheusRule", "ServiceMonitor"], name
            ServiceMonitor.model_validate(found["ServiceMonitor"])
            PrometheusRule.model_validate(found["PrometheusRule"])
            kubernetes_validate.validate(found["ConfigMap"], K8S_VERSION, strict=True)


def test_the_alerts_carry_the_thresholds_and_name_the_deployment() -> None:
    cfg = watched(alert_error_ratio=0.02, alert_p95_latency_seconds=0.25, alert_max_replicas_minutes=30)
    rules = {rule["alert"]: rule for rule in DEPLOY["alert_rules"](cfg)}
    assert sorted(rules) == [
        "BentoAtMaxReplicas",
        "BentoHighErrorRatio",
        "BentoHighLatencyP95",
        "BentoNoReadyReplicas",
        "BentoTargetDown",
    ]
    assert rules["BentoHighErrorRatio"]["expr"].endswith(") > 0.02")
    assert rules["BentoHighLatencyP95"]["expr"].startswith("histogram_quantile(0.95, ")
    assert rules["BentoHighLatencyP95"]["expr"].endswith(" > 0.25")
    assert rules["BentoAtMaxReplicas"]["for"] == "30m"
    assert {rule["for"] for name, rule in rules.items() if name != "BentoAtMaxReplicas"} == {"5m"}
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert "ml/keyword-api" in rule["annotations"]["summary"]
        assert "ml/keyword-api" in rule["annotations"]["description"]
        assert "kubectl -n ml describe deployment keyword-api" in rule["annotations"]["runbook"]


def test_a_fixed_size_deployment_gets_no_max_replicas_alert() -> None:
    alerts = [
        rule["alert"] for rule in DEPLOY["alert_rules"](config(min_replicas=4, max_replicas=4, monitoring=monitoring()))
    ]
    assert "BentoAtMaxReplicas" not in alerts and len(alerts) == 4


def _queries(cfg: dict[str, Any]) -> list[str]:
    found = objects(cfg)
    rules = [rule["expr"] for group in found["PrometheusRule"]["spec"]["groups"] for rule in group["rules"]]
    board = json.loads(next(iter(found["ConfigMap"]["data"].values())))
    return rules + [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def test_every_query_parses_and_selects_only_this_deployments_pods() -> None:
    queries = _queries(watched())
    assert len(queries) == 5 + 11
    for query in queries:
        promql_parser.parse(query.replace("$__rate_interval", "1m"))  # Grafana fills in its rate window
        for selector in parse(query).selectors:
            matchers = {label: (op, value) for label, op, value in selector.matchers}
            assert matchers["namespace"] == ("=", "ml"), query
            pods = matchers.get("pod")
            if pods:
                assert pods[0] == "=~"
                assert re.fullmatch(pods[1], "keyword-api-7d9f8b6c5-x2x4k")
                assert not re.fullmatch(pods[1], "keyword-api-canary-7d9f8b6c5-x2x4k")
            else:
                assert ("=", "keyword-api") in (matchers.get("horizontalpodautoscaler"), matchers.get("deployment"))


@pytest.mark.parametrize("broken", ["sum(rate(x[5m])", "rate(x{a=1}[5m])", 'x{a=~"("}', "rate(x[5 m])"])
def test_the_promql_checks_catch_broken_queries(broken: str) -> None:
    with pytest.raises((PromQLError, re.error)):
        parse(broken)
    with pytest.raises(ValueError):
        promql_parser.parse(broken)


def test_the_dashboard_is_a_grafana_dashboard_with_a_stable_uid_and_a_datasource_variable() -> None:
    cfg = watched(dashboard_namespace="monitoring")
    config_map = objects(cfg)["ConfigMap"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert (config_map["metadata"]["namespace"], config_map["metadata"]["name"]) == (
        "monitoring",
        "ml-keyword-api-dashboard",
    )
    (text,) = config_map["data"].values()
    board = json.loads(text)
    assert board["uid"] == DEPLOY["dashboard"](watched())["uid"]  # stable: a re-deploy updates it
    assert board["uid"] != DEPLOY["dashboard"](config(deployment_name="other", monitoring=monitoring()))["uid"]
    assert board["uid"] != DEPLOY["dashboard"](config(namespace="staging", monitoring=monitoring()))["uid"]
    assert len(board["uid"]) <= 40 and isinstance(board["schemaVersion"], int)
    model = Dashboard.from_json(board)  # Grafana's own model of the dashboard JSON reads it back unchanged
    assert json.loads(json.dumps(model, cls=JSONEncoder)) == board
    (variable,) = board["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == ("datasource", "datasource", "prometheus")
    titles = [panel["title"] for panel in board["panels"]]
    assert titles == [
        "Request rate",
        "5xx error ratio",
        "Latency",
        "In-flight requests",
        "Replicas",
        "CPU per pod",
        "Memory per pod",
    ]
    assert len({panel["id"] for panel in board["panels"]}) == len(titles)
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        assert all(target["datasource"] == panel["datasource"] for target in panel["targets"])
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"])
    latency = next(panel for panel in board["panels"] if panel["title"] == "Latency")
    assert [target["legendFormat"] for target in latency["targets"]] == ["p50", "p95", "p99"]
    replicas = next(panel for panel in board["panels"] if panel["title"] == "Replicas")
    assert [target["legendFormat"] for target in replicas["targets"]] == ["current", "desired", "max"]


def test_the_node_passes_its_monitoring_settings_to_the_step() -> None:
    from sample_pipelines import mlops_loop

    (cfg,) = _deploy_configs(mlops_loop())
    assert cfg["monitoring"] == monitoring()
