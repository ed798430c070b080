"""Which task an edge of the pipeline waits on: the meaning of the edge, not only its ends.

An edge normally runs from the source node's last task to the target node's first. A model gate's
last task is the short circuit that skips the deploy branch when the candidate loses; a step that
only reads the champion alias must not wait on that decision, or a losing candidate would also skip
it (the weekly target list, the monitor). Such a step waits on the gate's decision task instead,
which succeeds whatever it decided and leaves the champion alias final for the run.
"""

from __future__ import annotations

from dagsmith.nodes import CATALOG, Edge, Node

CHAMPION_READERS = frozenset({"batch_predict", "monitor"})
"""Node types that use a model by its alias (``model_alias``) and do not act on a promotion."""


def _alias(node: Node, field: str) -> str | None:
    node_type = CATALOG.get(node.type)
    if node_type is None:
        return None
    value = getattr(node_type.model_validate(node.params), field, None)
    return value if isinstance(value, str) else None


def reads_champion(source: Node, target: Node) -> bool:
    """True when ``target`` reads the champion alias that the gate ``source`` keeps or moves."""
    if source.type != "model_gate" or target.type not in CHAMPION_READERS:
        return False
    champion = _alias(source, "champion_alias")
    return champion is not None and _alias(target, "model_alias") == champion


def edge_dependency(edge: Edge, nodes: dict[str, Node], ends: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """The (upstream, downstream) task variables of ``edge``; ``ends`` maps node id to (entry, exit)."""
    source_entry, source_exit = ends[edge.source]
    upstream = source_entry if reads_champion(nodes[edge.source], nodes[edge.target]) else source_exit
    return upstream, ends[edge.target][0]
