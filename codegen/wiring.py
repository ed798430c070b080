"""Which task an edge of the pipeline waits on: the meaning of the edge, not only its ends.

An edge normally runs from the source node's last task to the target node's first. A model gate's
last task is the short circuit that skips the deploy branch when the candidate loses; a step that
only reads the champion alias must not wait on that decision, or a losing candidate would also skip
it (the weekly target list, the monitor). Such a step waits on the gate's decision instead, which
succeeds whatever it decided. The alias moves later, in the gate's promote task after the deploy, so when
the gate has one the reader waits on ``<reader>__champion``: an empty task (``all_done``) after the
decision and the promote task, so that it reads the champion as the promotion left it.
"""

from __future__ import annotations

from dagsmith.nodes import CATALOG, Node, Pipeline

from .literals import ident
from .model import NodeTasks, Task

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


def _promote(gate: NodeTasks) -> Task | None:
    """The gate's task that moves the champion alias after the deploy (if the gate has one)."""
    return next((task for task in gate.tasks if task.task_id.endswith("__promote")), None)


def wire(pipeline: Pipeline, built: dict[str, NodeTasks]) -> tuple[list[Task], list[tuple[str, str]]]:
    """Helper tasks and the (upstream, downstream) task variables of every edge of ``pipeline``.

    A champion reader waits on the gate's decision; when the gate also has a promote task (the alias
    moves after the deploy), it waits on ``<reader>__champion``, which runs once the decision and the
    promotion are done whatever they ended as (``all_done``): after a pass it reads the new champion,
    after a loss or a failed build or deploy the one that still serves.
    """
    nodes = {node.id: node for node in pipeline.nodes}
    helpers: dict[str, Task] = {}
    dependencies: list[tuple[str, str]] = []
    for edge in pipeline.edges:
        source, target = built[edge.source], built[edge.target]
        if not reads_champion(nodes[edge.source], nodes[edge.target]):
            dependencies.append((source.exit, target.entry))
            continue
        promote = _promote(source)
        if promote is None:
            dependencies.append((source.entry, target.entry))
            continue
        task_id = f"{nodes[edge.target].task_id()}__champion"
        join = helpers.get(task_id)
        if join is None:
            join = Task(kind="join", var=ident(task_id), task_id=task_id, trigger_rule="all_done")
            helpers[task_id] = join
            dependencies.append((join.var, target.entry))
        dependencies += [(source.entry, join.var), (promote.var, join.var)]
    return list(helpers.values()), dependencies
