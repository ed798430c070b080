"""``validate(pipeline)``: every problem in a pipeline document, as typed issues, in document order."""

from __future__ import annotations

import gc
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import networkx as nx

from . import k8s_rules
from .artifact_rules import artifact_issues
from .catalog import CATALOG, Catalog
from .checks import closest, dag_id_problem, did_you_mean
from .common import Access, OutputSettings, PodSettings, Resources
from .document import Edge, Node, Pipeline, PipelineSettings
from .errors import model_issues
from .issues import Code, Issue, Severity
from .param_refs import Found, param_texts, undefined_param_issues
from .param_usage import unused_param_issues
from .ports import Port, accepted_sources, compatible
from .types import NodeType

TAG_MAX = 100  # Airflow refuses longer tags when it parses the DAG file


def validate(
    pipeline: Pipeline,
    *,
    catalog: Catalog = CATALOG,
    same_params_as: Sequence[Issue] | None = None,
    instances: dict[str, NodeType] | None = None,
) -> list[Issue]:
    """All issues in ``pipeline``: settings first, then nodes, edges and the graph, in document order.

    ``same_params_as``: the issues of a document with the same nodes and settings, whose edges alone differ
    (the editor trying a connection). Its run-time parameter issues depend on nothing else, so they are
    reused instead of found again (a third of the time at a few hundred nodes).

    ``instances``: filled with each node's parameters as its node type's model (by node id) where they
    validated, so that an export builds from them instead of validating every node again.

    Raises only for programmer errors (e.g. passing something that is not a ``Pipeline``).
    """
    if not isinstance(pipeline, Pipeline):
        raise TypeError(f"validate() takes a Pipeline, not {type(pipeline).__name__}")
    # Validation allocates many short-lived objects next to a large live document; the cyclic
    # collector's full passes over that document made the cost grow faster than the graph.
    # Nothing here creates reference cycles that must be freed before returning.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _Validator(pipeline, catalog, same_params_as, instances).run()
    finally:
        if enabled:
            gc.enable()


class _Validator:
    def __init__(
        self,
        pipeline: Pipeline,
        catalog: Catalog,
        same_params_as: Sequence[Issue] | None = None,
        instances: dict[str, NodeType] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.instances = instances
        self.same_params_as = same_params_as
        self.settings = pipeline.settings
        self.catalog = catalog
        self.issues: list[Issue] = []
        self.nodes: dict[str, Node] = {}
        self.ports: dict[str, tuple[dict[str, Port], dict[str, Port]]] = {}
        self.valid_edges: list[Edge] = []
        self.param_texts: list[Found] | None = None

    def error(
        self,
        code: Code,
        message: str,
        *,
        node: str | None = None,
        edge: str | None = None,
        field: str | None = None,
        suggestions: tuple[str, ...] = (),
    ) -> None:
        self.issues.append(Issue(Severity.ERROR, code, message, node, edge, field, suggestions))

    def warning(self, code: Code, message: str, *, node: str | None = None, field: str | None = None) -> None:
        self.issues.append(Issue(Severity.WARNING, code, message, node=node, field=field))

    def run(self) -> list[Issue]:
        self.check_settings()
        self.index_nodes()
        self.check_edges()
        connected = self.connected_inputs()
        for node in self.nodes.values():
            self.check_node(node, connected.get(node.id, frozenset()))
        self.issues.extend(self.param_issues(Code.UNDEFINED_PARAM, undefined_param_issues))
        self.check_graph()
        self.issues.extend(artifact_issues(self.pipeline, catalog=self.catalog))
        self.check_comments()
        self.issues.extend(self.param_issues(Code.UNUSED_PARAM, unused_param_issues))
        return self.issues

    def param_issues(self, code: Code, find: Callable[[Pipeline, list[Found]], list[Issue]]) -> list[Issue]:
        """Run-time parameter issues: reused from ``same_params_as`` when given, else found.

        Both checks read the same strings: the nodes' parameters are walked once for the two.
        """
        if self.same_params_as is not None:
            return [issue for issue in self.same_params_as if issue.code is code]
        if self.param_texts is None:
            self.param_texts = param_texts(self.pipeline)
        return find(self.pipeline, self.param_texts)

    # -- settings ---------------------------------------------------------------------------
    def check_settings(self) -> None:
        settings = self.settings
        values = settings.model_dump()
        _, issues = model_issues(PipelineSettings, values, prefix="settings")
        self.issues.extend(issues)
        self.check_finite(values, "settings", reported=issues)
        problem = dag_id_problem(settings.effective_dag_id())
        if problem:
            if settings.dag_id:
                self.error(Code.INVALID_VALUE, problem, field="settings.dag_id")
            else:
                self.error(
                    Code.INVALID_VALUE,
                    f"{problem}; it is derived from the name: give the pipeline a name with letters or digits, "
                    "or set a dag_id",
                    field="settings.name",
                )
        counts = Counter(param.name for param in settings.params)
        for index, param in enumerate(settings.params):
            where = f"settings.params.{index}"
            problem = param.default_problem()
            if problem:
                self.error(
                    Code.INVALID_VALUE, f"run-time parameter {param.name!r}: {problem}", field=f"{where}.default"
                )
            if counts[param.name] > 1:
                self.error(
                    Code.DUPLICATE_ID,
                    f"run-time parameter {param.name!r} is defined {counts[param.name]} times; rename or remove one",
                    field=f"{where}.name",
                )
                counts[param.name] = 0  # report each name once
        for index, tag in enumerate(settings.tags):
            if len(tag) > TAG_MAX:
                self.error(
                    Code.INVALID_VALUE,
                    f"the tag {tag[:20]!r}... has {len(tag)} characters; Airflow allows at most {TAG_MAX}",
                    field=f"settings.tags.{index}",
                )
        if settings.schedule == "@continuous" and settings.max_active_runs != 1:
            self.error(
                Code.INVALID_VALUE,
                "a '@continuous' schedule needs max active runs 1; lower it or choose another schedule",
                field="settings.max_active_runs",
            )
        if not self.pipeline.nodes:
            self.warning(Code.EMPTY_PIPELINE, "the pipeline has no nodes; drag a node type from the palette")

    # -- nodes ------------------------------------------------------------------------------
    def index_nodes(self) -> None:
        task_ids: dict[str, Node] = {}
        for node in self.pipeline.nodes:
            if node.id in self.nodes:
                self.error(
                    Code.DUPLICATE_ID, f"node id {node.id!r} is used twice; node ids must be unique", node=node.id
                )
                continue
            self.nodes[node.id] = node
            node_type = self.catalog.get(node.type)
            if node_type is None:
                suggestions = tuple(self.catalog.suggest(node.type))
                self.error(
                    Code.UNKNOWN_NODE_TYPE,
                    f"{node.display_name!r} has the unknown node type {node.type!r}."
                    + (
                        " Did you mean " + " or ".join(map(repr, suggestions)) + "?"
                        if suggestions
                        else " Choose a type from the catalog (dagsmith catalog)."
                    ),
                    node=node.id,
                    field="type",
                    suggestions=suggestions,
                )
            else:
                inputs, outputs = node_type.ports(node.params)
                self.ports[node.id] = ({p.name: p for p in inputs}, {p.name: p for p in outputs})
            task_id = node.task_id()
            other = task_ids.setdefault(task_id, node)
            if other is not node:
                self.error(
                    Code.DUPLICATE_TASK_ID,
                    f"{node.display_name!r} and {other.display_name!r} would both become the Airflow task "
                    f"{task_id!r}; rename one of them",
                    node=node.id,
                    field="label",
                )
            if node.unmapped:
                self.warning(
                    Code.UNMAPPED,
                    "imported settings could not be mapped: "
                    + ", ".join(sorted(node.unmapped))
                    + "; recreate them by hand, then remove them from 'unmapped'",
                    node=node.id,
                    field="unmapped",
                )

    def check_node(self, node: Node, connected: frozenset[str]) -> None:
        if not (math.isfinite(node.position.x) and math.isfinite(node.position.y)):
            self.check_finite(node.position.model_dump(), "position", node=node.id)
        node_type = self.catalog.get(node.type)
        if node_type is None:
            return
        instance, issues = model_issues(node_type, node.params, node=node.id)
        self.issues.extend(issues)
        self.check_finite(node.params, "", node=node.id, reported=issues)
        if isinstance(instance, NodeType):
            if self.instances is not None:
                self.instances[node.id] = instance
            for problem in instance.problems(connected):
                self.error(problem.code, problem.message, node=node.id, field=problem.field)
            self.check_pod(node, instance.pod)
            replicas = instance.__dict__.get("replica_resources")  # only bentoml_deploy has one
            if isinstance(replicas, Resources):
                self.check_resources(node, replicas, "replica_resources")
            self.issues.extend(k8s_rules.service_account_issues(node, self.settings))
        outputs = self.ports[node.id][1]
        for name, settings in node.outputs.items():
            if name not in outputs:
                self.error(
                    Code.UNKNOWN_PORT,
                    f"storage settings for the unknown output {name!r}." + did_you_mean(name, list(outputs)),
                    node=node.id,
                    field=f"outputs.{name}",
                    suggestions=tuple(closest(name, list(outputs))),
                )
            self.issues.extend(
                model_issues(OutputSettings, settings.model_dump(), node=node.id, prefix=f"outputs.{name}")[1]
            )
        if node.access is not None:
            self.issues.extend(model_issues(Access, node.access.model_dump(), node=node.id, prefix="access")[1])
        required = [p for p in self.ports[node.id][0].values() if p.required and p.name not in connected]
        for p in required:
            self.error(
                Code.REQUIRED_INPUT,
                f"{node.display_name!r} needs its {p.name!r} input ({p.type.value}) connected"
                + (f": {p.description}" if p.description else ""),
                node=node.id,
            )

    def check_finite(
        self, value: object, prefix: str, *, node: str | None = None, reported: list[Issue] | None = None
    ) -> None:
        """An error at each NaN or infinite number in ``value`` whose field has no invalid-value error yet."""
        if _finite(value):
            return
        done = {issue.field for issue in reported or () if issue.code is Code.INVALID_VALUE}
        for field, number in non_finite(value, prefix):
            if field not in done:
                self.error(
                    Code.INVALID_VALUE,
                    f"{number!r} is not a finite number; enter a finite number",
                    node=node,
                    field=field,
                )

    def check_pod(self, node: Node, pod: PodSettings) -> None:
        if not pod.image and not self.settings.default_image:
            self.error(
                Code.MISSING_PARAMETER,
                "no container image; set one here or a default image in the pipeline settings",
                node=node.id,
                field="pod.image",
            )
        self.issues.extend(k8s_rules.pod_issues(node, pod, self.settings.default_resources))

    def check_resources(self, node: Node, resources: Resources, field: str) -> None:
        self.issues.extend(k8s_rules.resource_issues(node, resources, self.settings.default_resources, field))

    # -- edges and graph ----------------------------------------------------------------------
    def check_edges(self) -> None:
        seen: set[str] = set()
        into: Counter[tuple[str, str]] = Counter()
        for edge in self.pipeline.edges:
            if edge.id in seen:
                self.error(
                    Code.DUPLICATE_ID, f"edge id {edge.id!r} is used twice; edge ids must be unique", edge=edge.id
                )
                continue
            seen.add(edge.id)
            if not self.edge_ends_exist(edge):
                continue
            source_ports = self.ports.get(edge.source)
            target_ports = self.ports.get(edge.target)
            source_port = target_port = None
            if source_ports is not None:
                source_port = self.port_or_issue(edge, edge.source, edge.source_port, source_ports[1], "output")
            if target_ports is not None:
                target_port = self.port_or_issue(edge, edge.target, edge.target_port, target_ports[0], "input")
            if source_port and target_port:
                if not compatible(source_port.type, target_port.type):
                    self.error(
                        Code.INCOMPATIBLE_PORTS,
                        f"{self.nodes[edge.source].display_name!r}.{source_port.name} gives {source_port.type.value} "
                        f"but {self.nodes[edge.target].display_name!r}.{target_port.name} takes "
                        f"{target_port.type.value}; connect an output of type "
                        + " or ".join(accepted_sources(target_port.type)),
                        node=edge.target,
                        edge=edge.id,
                    )
                    continue
                into[(edge.target, edge.target_port)] += 1
                if not target_port.multiple and into[(edge.target, edge.target_port)] > 1:
                    self.error(
                        Code.SINGLE_INPUT,
                        f"the {target_port.name!r} input of {self.nodes[edge.target].display_name!r} takes one "
                        "connection and already has one; remove an edge",
                        node=edge.target,
                        edge=edge.id,
                    )
                    continue
            self.valid_edges.append(edge)

    def edge_ends_exist(self, edge: Edge) -> bool:
        ok = True
        for end, node_id in (("source", edge.source), ("target", edge.target)):
            if node_id not in self.nodes:
                ok = False
                self.error(
                    Code.UNKNOWN_NODE,
                    f"the edge's {end} {node_id!r} is not a node of this pipeline; delete the edge"
                    + did_you_mean(node_id, list(self.nodes)),
                    edge=edge.id,
                    suggestions=tuple(closest(node_id, list(self.nodes))),
                )
        return ok

    def port_or_issue(self, edge: Edge, node_id: str, name: str, ports: dict[str, Port], side: str) -> Port | None:
        found = ports.get(name)
        if found is None:
            node = self.nodes[node_id]
            names = list(ports)
            self.error(
                Code.UNKNOWN_PORT,
                f"{node.display_name!r} ({node.type}) has no {side} {name!r}; its {side}s are "
                + (", ".join(map(repr, names)) or "none")
                + "."
                + did_you_mean(name, names),
                node=node_id,
                edge=edge.id,
                suggestions=tuple(closest(name, names)),
            )
        return found

    def connected_inputs(self) -> dict[str, frozenset[str]]:
        result: dict[str, set[str]] = {}
        for edge in self.valid_edges:
            result.setdefault(edge.target, set()).add(edge.target_port)
        return {key: frozenset(value) for key, value in result.items()}

    def check_graph(self) -> None:
        graph: nx.DiGraph[str] = nx.DiGraph()
        graph.add_nodes_from(self.nodes)
        graph.add_edges_from((edge.source, edge.target) for edge in self.valid_edges)
        edge_ids: dict[tuple[str, str], str] = {}
        for edge in self.valid_edges:
            edge_ids.setdefault((edge.source, edge.target), edge.id)
            self.check_access(edge)
        position: dict[str, int] = {}
        for component in nx.strongly_connected_components(graph):
            if len(component) == 1 and not any(graph.has_edge(n, n) for n in component):
                continue
            # Not graph.subgraph(component): a view may iterate the component set, whose order changes
            # with the string hash seed; walk it in document order so messages are the same every run.
            position = position or {n: i for i, n in enumerate(self.nodes)}
            members = sorted(component, key=position.__getitem__)
            cycle_graph: nx.DiGraph[str] = nx.DiGraph()
            cycle_graph.add_nodes_from(members)
            cycle_graph.add_edges_from((u, v) for u in members for v in graph.successors(u) if v in component)
            cycle = nx.find_cycle(cycle_graph, source=members[0])
            names = [self.nodes[u].display_name for u, _ in cycle] + [self.nodes[cycle[0][0]].display_name]
            path = " → ".join(names)
            for u, v in cycle:
                self.error(
                    Code.CYCLE,
                    f"these nodes form a cycle: {path}; remove one of its edges (a pipeline must be acyclic)",
                    node=u,
                    edge=edge_ids[(u, v)],
                )
        if len(self.nodes) > 1:
            for node_id, degree in graph.degree():
                if degree == 0:
                    self.warning(
                        Code.ISOLATED_NODE,
                        f"{self.nodes[node_id].display_name!r} is connected to nothing; connect it or delete it",
                        node=node_id,
                    )

    def check_access(self, edge: Edge) -> None:
        source, target = self.nodes[edge.source], self.nodes[edge.target]
        output = source.outputs.get(edge.source_port)
        artifact = (output.access if output else None) or self.settings.default_access
        reader = target.access or self.settings.default_access
        if not reader.can_read(artifact):
            self.error(
                Code.ACCESS_DENIED,
                f"{target.display_name!r} runs with access '{reader.describe()}' but reads "
                f"{source.display_name!r}.{edge.source_port}, which only '{artifact.describe()}' may read; "
                "widen the upstream output's access or narrow this node's",
                node=target.id,
                edge=edge.id,
                field="access",
            )

    def check_comments(self) -> None:
        for index, comment in enumerate(self.pipeline.comments):
            if not (math.isfinite(comment.position.x) and math.isfinite(comment.position.y)):
                self.check_finite(comment.position.model_dump(), f"comments.{index}.position")
            missing = [n for n in comment.nodes if n not in self.nodes]
            if missing:
                self.warning(
                    Code.DANGLING_COMMENT,
                    f"comment {comment.id!r} is attached to missing node(s) {', '.join(map(repr, missing))}; "
                    "re-attach or detach it",
                )


def _finite(value: object) -> bool:
    """False when a float anywhere in ``value`` is NaN or infinite (JSON cannot hold them)."""
    try:  # the common case, in C: JSON values that serialise without NaN or infinity
        json.dumps(value, allow_nan=False)
    except ValueError:
        return False
    except (TypeError, RecursionError):  # not plain JSON (a value set in code): walk it
        return _finite_walk(value)
    return True


def non_finite(value: object, prefix: str = "") -> list[tuple[str, float]]:
    """The dotted field paths (``pod.timeout_minutes``, ``extra.1.deep``) of NaN or infinite floats, in order."""
    found: list[tuple[str, float]] = []
    stack: list[tuple[str, object]] = [(prefix, value)]
    while stack:  # iterative: a value set in code may nest deeply
        path, item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                found.append((path, item))
        elif isinstance(item, dict):
            stack.extend((f"{path}.{key}" if path else str(key), v) for key, v in reversed(item.items()))
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}.{i}" if path else str(i), item[i]) for i in range(len(item) - 1, -1, -1))
    return found


def _finite_walk(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_walk(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(_finite_walk(item) for item in value)
    return True


def issues_for_node(issues: list[Issue], node_id: str) -> Iterator[Issue]:
    """The issues attached to one node (the canvas highlights these)."""
    return (issue for issue in issues if issue.node == node_id)
