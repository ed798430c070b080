"""Canvas colours: one per port type (handles and edges) and one per node family (card accent).

Kept in Python so that the palette legend and the canvas read the same table.
"""

from __future__ import annotations

from types import MappingProxyType

from dagsmith.nodes import Family, PortType, compatible

PORT_COLORS: MappingProxyType[PortType, str] = MappingProxyType(
    {
        PortType.ANY: "#9ca3af",
        PortType.DATASET: "#2563eb",
        PortType.FEATURES: "#0891b2",
        PortType.MODEL: "#7c3aed",
        PortType.MLFLOW_RUN: "#0d9488",
        PortType.REGISTERED_MODEL: "#c026d3",
        PortType.BENTO: "#ea580c",
        PortType.DEPLOYMENT: "#65a30d",
        PortType.METRICS: "#ca8a04",
        PortType.NOTEBOOK: "#db2777",
        PortType.PREDICTIONS: "#6366f1",
        PortType.SIGNAL: "#475569",
    }
)
"""Colour of each port type's handles and of the edges leaving such a port."""

FAMILY_COLORS: MappingProxyType[Family, str] = MappingProxyType(
    {
        Family.FEATURES: "#0891b2",
        Family.DEVELOP: "#2563eb",
        Family.TUNE: "#7c3aed",
        Family.TRACK: "#0d9488",
        Family.DEPLOY: "#ea580c",
        Family.MONITOR: "#ca8a04",
    }
)
"""Accent colour of each palette family (node card top border and minimap)."""


def compatibility_table() -> dict[str, list[str]]:
    """For each output port type, the input port types it may feed (hints while dragging a connection).

    Python still decides every connection; the table only dims handles that would be refused.
    """
    return {source.value: [target.value for target in PortType if compatible(source, target)] for source in PortType}
