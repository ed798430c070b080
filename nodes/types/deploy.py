"""Deploy family: BentoML packaging, Kubernetes deployment with autoscaling, and batch prediction."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from ..checks import K8sName, K8sShortName, LabelKey, LabelValue
from ..common import Resources, Strict
from ..param_usage import PARAM_REF
from ..ports import PortType
from .base import Family, NodeType, Problem, port

_ALIAS = r"^[A-Za-z][A-Za-z0-9_-]*$"


def _count_or_param(value: int | str | None) -> int | str | None:
    """A count of at least 1, or exactly one run-time parameter such as ``{{ params.top_k }}``."""
    if isinstance(value, str) and not re.fullmatch(PARAM_REF, value):
        raise ValueError("enter a whole number of at least 1, or a run-time parameter such as {{ params.top_k }}")
    if isinstance(value, int) and value < 1:
        raise ValueError("enter a whole number of at least 1")
    return value


class BentoBuild(NodeType):
    """Build a Bento from a registered model alias and a service module, and push its image."""

    kind = "bentoml_build"
    family = Family.DEPLOY
    title = "BentoML build"
    summary = "Build and push a Bento image from a registered model alias"
    in_ports = (port("model", PortType.REGISTERED_MODEL, "The model to package", required=True),)
    out_ports = (port("bento", PortType.BENTO, "The built Bento and its image"),)

    bento_name: str = Field(pattern=r"^[a-z0-9]([a-z0-9_.-]*[a-z0-9])?$", description="Bento name")
    service: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="Service as 'module:Class'",
        examples=["service:KeywordService"],
    )
    model_name: str = Field("", description="Registered model (default: from the upstream node)")
    model_alias: str = Field("champion", pattern=_ALIAS, description="Alias of the version to package")
    build_context: str = Field(".", min_length=1, description="Folder with the service code, in the image")
    image_repository: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._/:-]*[a-z0-9]$",
        description="Image repository to push to",
        examples=["registry.example.com/ml/keyword-api"],
    )
    image_tag: str = Field("{{ ts_nodash }}", min_length=1, description="Image tag (run-time macros allowed)")


class ServingMonitoring(Strict):
    """How Prometheus scrapes a served Bento, its alerts' thresholds and its Grafana dashboard."""

    metrics: Literal["service_monitor", "annotations", "off"] = Field(
        "service_monitor",
        description=(
            "How Prometheus scrapes the Bento's /metrics: a ServiceMonitor (the default: the Prometheus Operator"
            " of kube-prometheus-stack discovers targets only through ServiceMonitors and PodMonitors),"
            " prometheus.io/* pod annotations (a Prometheus configured for annotation discovery), or off (then no"
            " alerts or dashboard either)"
        ),
    )
    prometheus_labels: dict[LabelKey, LabelValue] = Field(
        default_factory=lambda: {"release": "kube-prometheus-stack"},
        description=(
            "Labels on the ServiceMonitor and PrometheusRule by which your Prometheus selects them"
            " (kube-prometheus-stack selects release: <its Helm release name>)"
        ),
    )
    alerts: bool = Field(True, description="Apply a PrometheusRule with the service's alerts (needs the Operator)")
    alert_error_ratio: float = Field(
        0.05, gt=0, le=1, description="Alert when this share of requests fails with a 5xx, over 5 minutes"
    )
    alert_p95_latency_seconds: float = Field(
        1.0, gt=0, le=600, description="Alert when the 95th percentile request latency exceeds this, in seconds"
    )
    alert_max_replicas_minutes: int = Field(
        15, ge=1, le=1440, description="Alert when the autoscaler has been at max replicas this many minutes"
    )
    alert_for_minutes: int = Field(
        5, ge=0, le=1440, description="How long a condition must hold before its alert fires (error, latency, down)"
    )
    grafana_dashboard: bool = Field(
        True, description="Apply a Grafana dashboard as a ConfigMap labelled for Grafana's dashboard sidecar"
    )
    dashboard_namespace: K8sName | None = Field(
        None,
        description=(
            "Namespace of the dashboard ConfigMap (default: the deployment's; use Grafana's namespace unless"
            " its sidecar searches all namespaces)"
        ),
    )


class BentoDeploy(NodeType):
    """Deploy a Bento image as a Kubernetes Deployment and Service with a HorizontalPodAutoscaler."""

    kind = "bentoml_deploy"
    family = Family.DEPLOY
    title = "BentoML deploy"
    summary = "Deployment, Service and autoscaler on Kubernetes"
    in_ports = (port("bento", PortType.BENTO, "The Bento image to serve", required=True),)
    out_ports = (port("deployment", PortType.DEPLOYMENT, "The running service"),)

    deployment_name: K8sShortName = Field(description="Deployment and Service name", examples=["keyword-api"])
    namespace: K8sName | None = Field(None, description="Namespace (default: the pipeline's)")
    min_replicas: int = Field(1, ge=1, le=1000)
    max_replicas: int = Field(3, ge=1, le=1000)
    target_cpu_utilization: int = Field(70, ge=1, le=100, description="Autoscaling target, percent of request")
    port: int = Field(3000, ge=1, le=65535, description="Port the Bento serves on")
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    replica_resources: Resources = Field(default_factory=Resources, description="Resources of each replica")
    rollout_timeout_seconds: int = Field(
        600,
        ge=30,
        le=7200,
        description="How long the rollout may take before the deploy is rolled back and fails",
    )
    monitoring: ServingMonitoring = Field(
        default_factory=ServingMonitoring,
        description="Prometheus scraping, alerts and a Grafana dashboard for the served model",
    )

    def problems(self, connected: frozenset[str]) -> Iterator[Problem]:
        """The replica range must not be empty."""
        if self.min_replicas > self.max_replicas:
            yield Problem("max_replicas", "max replicas must be at least min replicas")


class BatchPredict(NodeType):
    """Score a dataset with a registered model alias and write the result list."""

    kind = "batch_predict"
    family = Family.DEPLOY
    title = "Batch prediction"
    summary = "Score a dataset offline and write the list, e.g. target users"
    in_ports = (
        port("model", PortType.REGISTERED_MODEL, "The model to score with", required=True),
        port("dataset", PortType.DATASET, "Rows to score", required=True),
    )
    out_ports = (port("predictions", PortType.PREDICTIONS, "The scored (and selected) rows"),)

    model_name: str = Field("", description="Registered model (default: from the upstream node)")
    model_alias: str = Field("champion", pattern=_ALIAS)
    id_column: str = Field(min_length=1, description="Column that identifies a row", examples=["user_id"])
    score_column: str = Field("score", min_length=1)
    top_k: Annotated[int | str | None, AfterValidator(_count_or_param)] = Field(
        None, description="Keep only the k best-scored rows (a number, or a run-time parameter: {{ params.k }})"
    )
    threshold: float | None = Field(None, description="Keep only rows scoring at least this")
    output_format: Literal["csv", "parquet", "jsonl"] = "csv"
