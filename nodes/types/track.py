"""Track family: MLflow model registration and the validation gate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from ..issues import Code
from ..ports import PortType
from .base import Family, NodeType, Problem, port

_ALIAS = r"^[A-Za-z][A-Za-z0-9_-]*$"


class RegisterModel(NodeType):
    """Register the model logged by an upstream MLflow run and point an alias at it."""

    kind = "register_model"
    family = Family.TRACK
    title = "Register model"
    summary = "Register an MLflow run's model and set an alias"
    in_ports = (port("run", PortType.MLFLOW_RUN, "The run that logged the model", required=True),)
    out_ports = (port("model", PortType.REGISTERED_MODEL, "The new registered model version"),)

    model_name: str = Field(min_length=1, description="Registered model name", examples=["keyword-recommender"])
    artifact_path: str = Field("model", min_length=1, description="Model path inside the run's artifacts")
    alias: str = Field("candidate", pattern=_ALIAS, description="Alias set on the new version")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on the model version")


class ModelGate(NodeType):
    """Promote the candidate only if it beats the champion and/or a threshold; else keep the champion."""

    kind = "model_gate"
    family = Family.TRACK
    title = "Model gate"
    summary = "Compare the candidate with the champion; promote it or stop the deploy branch"
    in_ports = (
        port("candidate", PortType.REGISTERED_MODEL, "The candidate model version", required=True),
        port("metrics", PortType.METRICS, "Evaluation metrics, when not read from MLflow"),
    )
    out_ports = (port("approved", PortType.REGISTERED_MODEL, "The model that serves after the gate"),)

    metric: str = Field(min_length=1, description="Metric to compare", examples=["val_auc"])
    direction: Literal["maximize", "minimize"] = Field("maximize", description="Whether higher is better")
    threshold: float | None = Field(None, description="The candidate must reach at least this value")
    compare_to_champion: bool = Field(True, description="The candidate must beat the current champion")
    min_improvement: float = Field(0.0, ge=0, description="Required margin over the champion")
    candidate_alias: str = Field("candidate", pattern=_ALIAS)
    champion_alias: str = Field("champion", pattern=_ALIAS)

    def problems(self, connected: frozenset[str]) -> Iterator[Problem]:
        """The gate needs a bar, and two distinct aliases."""
        if not self.compare_to_champion and self.threshold is None:
            yield Problem(
                "threshold",
                "set a threshold or turn on 'compare to champion'; otherwise the gate passes everything",
                Code.MISSING_PARAMETER,
            )
        if self.candidate_alias == self.champion_alias:
            yield Problem("champion_alias", "the champion alias must differ from the candidate alias")
