"""Tune family: hyper-parameter search over mapped GPU trials."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from ..checks import MAX_SEED, Bounds, Identifier
from ..common import Strict
from ..issues import Code
from ..ports import PortType
from .base import Family, NodeType, Problem, port

Scalar = str | int | float | bool


class SearchDimension(Strict):
    """The values one hyper-parameter may take."""

    kind: Literal["choice", "uniform", "loguniform", "int"] = "choice"
    values: list[Scalar] = Field(default_factory=list, description="Candidates (kind 'choice')")
    low: float | None = Field(None, description="Lower bound (numeric kinds)")
    high: float | None = Field(None, description="Upper bound (numeric kinds)")


class HyperparameterSearch(NodeType):
    """Run trials of a training command with sampled hyper-parameters and pick the best."""

    kind = "hyperparameter_search"
    family = Family.TUNE
    title = "Hyper-parameter search"
    summary = "Mapped trial pods over a search space; picks the best trial by the objective"
    in_ports = (port("dataset", PortType.DATASET, "Training data for every trial"),)
    out_ports = (
        port("best_run", PortType.MLFLOW_RUN, "MLflow run of the best trial"),
        port("trials", PortType.METRICS, "Every trial's parameters and objective"),
    )

    search_space: dict[Identifier, SearchDimension] = Field(
        min_length=1, description="Hyper-parameters and their ranges"
    )
    objective_metric: str = Field(min_length=1, description="Metric the trials log", examples=["val_auc"])
    direction: Literal["maximize", "minimize"] = "maximize"
    algorithm: Literal["random", "grid"] = "random"
    max_trials: int = Field(10, ge=1, le=1000, description="Number of trials")
    min_successful_trials: int = Field(
        1,
        ge=1,
        le=1000,
        description="Trials that must succeed; the best is chosen among the successful ones",
    )
    parallelism: int = Field(2, ge=1, le=256, description="Trials running at the same time")
    seed: Annotated[int, Bounds(ge=0, le=MAX_SEED)] = Field(0, description="Sampling seed, for reproducible searches")
    command: list[str] = Field(min_length=1, description="Trial command", examples=[["python", "train.py"]])
    arguments: list[str] = Field(default_factory=list, description="Extra trial arguments")
    experiment: str = Field("", description="MLflow experiment (default: the pipeline name)")

    def problems(self, connected: frozenset[str]) -> Iterator[Problem]:
        """Each dimension has what its kind needs; grid search needs discrete dimensions."""
        for name, dim in self.search_space.items():
            where = f"search_space.{name}"
            if dim.kind == "choice":
                if not dim.values:
                    yield Problem(f"{where}.values", f"give {name!r} at least one value", Code.MISSING_PARAMETER)
                continue
            if dim.low is None or dim.high is None:
                yield Problem(f"{where}.low", f"give {name!r} a low and a high bound", Code.MISSING_PARAMETER)
            elif dim.low >= dim.high:
                yield Problem(f"{where}.high", f"the high bound of {name!r} must be above its low bound")
            elif dim.kind == "loguniform" and dim.low <= 0:
                yield Problem(f"{where}.low", f"a log-uniform range needs a positive low bound for {name!r}")
            if self.algorithm == "grid" and dim.kind in ("uniform", "loguniform"):
                yield Problem(
                    f"{where}.kind",
                    f"grid search needs discrete values; make {name!r} a 'choice' or 'int' or use random search",
                )
        if self.min_successful_trials > self.max_trials:
            yield Problem(
                "min_successful_trials",
                f"at most {self.max_trials} trials run; lower the minimum of successful trials to max_trials or less",
            )
        if self.parallelism > self.max_trials:
            yield Problem("parallelism", "parallelism is above the number of trials; lower it to max_trials")
