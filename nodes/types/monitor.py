"""Monitor family: watch a quality or drift metric and trigger retraining."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field, JsonValue

from ..issues import Code
from ..ports import PortType
from .base import Family, NodeType, Problem, port


class Monitor(NodeType):
    """Compare a model-quality or drift metric with a threshold; trigger the retraining DAG when it degrades."""

    kind = "monitor"
    family = Family.MONITOR
    title = "Monitor"
    summary = "Trigger retraining when a quality or drift metric crosses a threshold"
    in_ports = (
        port("model", PortType.REGISTERED_MODEL, "Model whose monitoring metric is watched"),
        port("reference", PortType.DATASET, "Reference data (drift)"),
        port("current", PortType.DATASET, "Current data (drift)"),
    )
    out_ports = (port("metrics", PortType.METRICS, "The measured value and the decision"),)

    source: Literal["mlflow", "drift"] = Field(
        "mlflow",
        description="Read the metric a monitoring step logged in MLflow, or compute drift between two datasets",
    )
    metric: str = Field(min_length=1, description="Metric name, or the column for drift", examples=["ctr"])
    model_name: str = Field("", description="Registered model (source 'mlflow')")
    model_alias: str = Field("champion")
    monitoring_experiment: str = Field(
        "dagsmith-monitoring",
        min_length=1,
        max_length=500,
        description="MLflow experiment where the monitoring step logs the metric; triggers are recorded there too",
    )
    cooldown_hours: int = Field(
        24, ge=1, le=720, description="No new retraining within this many hours of the last one triggered"
    )
    threshold: float = Field(description="Value at which retraining is triggered")
    trigger_when: Literal["below", "above"] = Field(
        "below", description="Trigger when the metric falls below or rises above the threshold"
    )
    retrain_dag_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,250}$", description="dag_id of the retraining pipeline")
    retrain_conf: dict[str, JsonValue] = Field(default_factory=dict, description="Run configuration to pass")

    def problems(self, connected: frozenset[str]) -> Iterator[Problem]:
        """Drift needs both datasets; an MLflow metric needs a model."""
        if self.source == "drift":
            for name in ("reference", "current"):
                if name not in connected:
                    yield Problem("source", f"drift needs the {name!r} input connected", Code.REQUIRED_INPUT)
        elif not self.model_name and "model" not in connected:
            yield Problem(
                "model_name", "connect a model to the 'model' input or enter its name", Code.MISSING_PARAMETER
            )
