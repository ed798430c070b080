"""dagsmith.nodes: the pipeline document, the node catalog and validation (no UI, no Airflow)."""

from __future__ import annotations

from .bundled import example_names, load_example
from .catalog import CATALOG, Catalog
from .checks import PLACEHOLDERS, SCHEDULE_PRESETS
from .common import Access, EnvVar, OutputSettings, PodSettings, Resources, SecretRef, Toleration, Volume
from .document import Comment, Edge, Node, Pipeline, PipelineSettings, Position, RuntimeParam, ServiceAccounts, slug
from .elyra import ElyraImportError, ImportReport, import_elyra, import_elyra_file
from .fileformat import FORMAT, VERSION, DocumentError, content_hash, dumps, json_schema, load, parse, save
from .issues import Code, Issue, Severity, has_errors
from .ports import Port, PortType, compatible
from .types import Family, NodeType
from .validation import validate

__all__ = [
    "Access",
    "CATALOG",
    "Catalog",
    "Code",
    "Comment",
    "DocumentError",
    "Edge",
    "ElyraImportError",
    "EnvVar",
    "FORMAT",
    "Family",
    "ImportReport",
    "Issue",
    "Node",
    "NodeType",
    "OutputSettings",
    "PLACEHOLDERS",
    "Pipeline",
    "PipelineSettings",
    "PodSettings",
    "Port",
    "PortType",
    "Position",
    "Resources",
    "RuntimeParam",
    "SCHEDULE_PRESETS",
    "SecretRef",
    "ServiceAccounts",
    "Severity",
    "Toleration",
    "VERSION",
    "Volume",
    "compatible",
    "content_hash",
    "dumps",
    "example_names",
    "has_errors",
    "import_elyra",
    "import_elyra_file",
    "json_schema",
    "load",
    "load_example",
    "parse",
    "save",
    "slug",
    "validate",
]
