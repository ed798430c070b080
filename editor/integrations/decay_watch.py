"""Model health: which registered models a pipeline's Monitor, Model gate and Register model nodes watch.

Pure, no MLflow: ``watched_models(pipeline)`` names each model (a Monitor's own ``model_name``, or the model
reaching its ``model`` input through a register or gate node) with the monitors and gates that watch it,
their metric, threshold and direction. ``decay`` turns what MLflow holds for them into the dashboard's model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dagsmith.nodes import CATALOG, Node, Pipeline


@dataclass(frozen=True, slots=True)
class Watch:
    """A Monitor node: the metric it reads, its threshold and direction, where it reads and records."""

    node: str
    metric: str
    threshold: float
    trigger_when: str
    """``below`` or ``above``: retraining is triggered when the metric crosses the threshold that way."""
    experiment: str
    cooldown_hours: float
    retrain_dag_id: str
    alias: str
    source: str = "mlflow"


@dataclass(frozen=True, slots=True)
class Gate:
    """A Model gate node: the evaluation metric and the bar a candidate must clear."""

    node: str
    metric: str
    direction: str
    threshold: float | None
    compare_to_champion: bool
    min_improvement: float
    champion_alias: str


@dataclass(frozen=True, slots=True)
class WatchedModel:
    """A registered model the pipeline names, with the monitors and gates that watch it."""

    name: str
    monitors: tuple[Watch, ...] = ()
    gates: tuple[Gate, ...] = ()


# -- what the pipeline watches ---------------------------------------------------------------------------------
def _param(node: Node, name: str) -> Any:
    """The node's value of ``name``, or its type's default when unset."""
    if name in node.params:
        return node.params[name]
    node_type = CATALOG.get(node.type)
    info = node_type.model_fields.get(name) if node_type else None
    return info.get_default(call_default_factory=True) if info is not None else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _float(value: Any, default: float) -> float:
    number = _number(value)
    return default if number is None else number


def upstream_model(pipeline: Pipeline, node_id: str, port: str, seen: frozenset[str] = frozenset()) -> str | None:
    """The registered model's name flowing into ``node_id``'s ``port`` (through gates), or None."""
    nodes = pipeline.node_map()
    for edge in pipeline.edges:
        if edge.target != node_id or edge.target_port != port or edge.source in seen:
            continue
        source = nodes.get(edge.source)
        if source is None:
            continue
        if source.type == "register_model":
            name = _param(source, "model_name")
            return name.strip() if isinstance(name, str) and name.strip() else None
        if source.type == "model_gate":
            return upstream_model(pipeline, source.id, "candidate", seen | {node_id})
    return None


def _watch(node: Node) -> Watch:
    return Watch(
        node=node.id,
        metric=str(_param(node, "metric") or ""),
        threshold=_float(_param(node, "threshold"), math.nan),
        trigger_when="above" if _param(node, "trigger_when") == "above" else "below",
        experiment=str(_param(node, "monitoring_experiment") or "dagsmith-monitoring"),
        cooldown_hours=_float(_param(node, "cooldown_hours"), 24.0),
        retrain_dag_id=str(_param(node, "retrain_dag_id") or ""),
        alias=str(_param(node, "model_alias") or "champion"),
        source=str(_param(node, "source") or "mlflow"),
    )


def _gate(node: Node) -> Gate:
    return Gate(
        node=node.id,
        metric=str(_param(node, "metric") or ""),
        direction="minimize" if _param(node, "direction") == "minimize" else "maximize",
        threshold=_number(_param(node, "threshold")),
        compare_to_champion=bool(_param(node, "compare_to_champion")),
        min_improvement=_float(_param(node, "min_improvement"), 0.0),
        champion_alias=str(_param(node, "champion_alias") or "champion"),
    )


def watched_models(pipeline: Pipeline) -> list[WatchedModel]:
    """The registered models the pipeline's Monitor, Model gate and Register model nodes name, in node order."""
    monitors: dict[str, list[Watch]] = {}
    gates: dict[str, list[Gate]] = {}
    for node in pipeline.nodes:
        if node.type == "monitor":
            own = _param(node, "model_name")
            name = own.strip() if isinstance(own, str) and own.strip() else upstream_model(pipeline, node.id, "model")
            if name:
                monitors.setdefault(name, []).append(_watch(node))
        elif node.type == "model_gate":
            name = upstream_model(pipeline, node.id, "candidate")
            if name:
                gates.setdefault(name, []).append(_gate(node))
        elif node.type == "register_model":
            own = _param(node, "model_name")
            if isinstance(own, str) and own.strip():
                monitors.setdefault(own.strip(), [])
    for name in gates:
        monitors.setdefault(name, [])
    return [WatchedModel(name, tuple(watches), tuple(gates.get(name, ()))) for name, watches in monitors.items()]


def has_monitoring(pipeline: Pipeline) -> bool:
    """Whether the pipeline has a Monitor or a Model gate node at all."""
    return any(node.type in ("monitor", "model_gate") for node in pipeline.nodes)
