"""Typed ports: what flows along an edge, and which port types may connect."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PortType(StrEnum):
    """The kind of artifact or value a port carries."""

    ANY = "any"
    DATASET = "dataset"
    FEATURES = "features"
    MODEL = "model"
    MLFLOW_RUN = "mlflow_run"
    REGISTERED_MODEL = "registered_model"
    BENTO = "bento"
    DEPLOYMENT = "deployment"
    METRICS = "metrics"
    NOTEBOOK = "notebook"
    PREDICTIONS = "predictions"
    SIGNAL = "signal"


# A port of the key type may feed an input of each listed type (besides its own type and ANY).
_FEEDS: dict[PortType, frozenset[PortType]] = {
    PortType.FEATURES: frozenset({PortType.DATASET}),
    PortType.PREDICTIONS: frozenset({PortType.DATASET}),
    PortType.MLFLOW_RUN: frozenset({PortType.MODEL, PortType.METRICS}),
    PortType.REGISTERED_MODEL: frozenset({PortType.MODEL}),
}


def compatible(source: PortType, target: PortType) -> bool:
    """True when an output of type ``source`` may connect to an input of type ``target``.

    ``any`` connects both ways; otherwise the types must match or ``source`` must be a kind of
    ``target`` (features and predictions are datasets, a registered model is a model, ...).
    """
    if PortType.ANY in (source, target) or source is target:
        return True
    return target in _FEEDS.get(source, frozenset())


def accepted_sources(target: PortType) -> list[str]:
    """The output types that may connect to an input of type ``target`` (for refusal messages)."""
    return sorted(t.value for t in PortType if compatible(t, target) and t is not PortType.ANY)


@dataclass(frozen=True, slots=True)
class Port:
    """An input or output of a node type.

    ``required`` inputs must be connected; ``multiple`` inputs accept several edges.
    """

    name: str
    type: PortType
    description: str = ""
    required: bool = False
    multiple: bool = False

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready mapping for the catalog listing and the canvas."""
        return {
            "name": self.name,
            "type": self.type.value,
            "description": self.description,
            "required": self.required,
            "multiple": self.multiple,
        }
