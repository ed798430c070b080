"""The built-in node types, one module per palette family."""

from __future__ import annotations

from .base import Family, NodeType, Problem
from .deploy import BatchPredict, BentoBuild, BentoDeploy
from .develop import Notebook, PortDecl, Script
from .features import FeatureMaterialize, FeatureRetrieval
from .monitor import Monitor
from .track import ModelGate, RegisterModel
from .tune import HyperparameterSearch, SearchDimension

BUILTIN_TYPES: tuple[type[NodeType], ...] = (
    FeatureRetrieval,
    FeatureMaterialize,
    Script,
    Notebook,
    HyperparameterSearch,
    RegisterModel,
    ModelGate,
    BentoBuild,
    BentoDeploy,
    BatchPredict,
    Monitor,
)

__all__ = [
    "BUILTIN_TYPES",
    "BatchPredict",
    "BentoBuild",
    "BentoDeploy",
    "Family",
    "FeatureMaterialize",
    "FeatureRetrieval",
    "HyperparameterSearch",
    "ModelGate",
    "Monitor",
    "NodeType",
    "Notebook",
    "PortDecl",
    "Problem",
    "RegisterModel",
    "Script",
    "SearchDimension",
]
