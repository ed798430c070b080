"""Import Elyra ``.pipeline`` files (Elyra pipeline versions 3 to 8) as dagsmith pipelines.

Generic notebook and Python nodes become ``notebook`` and ``script`` nodes with their pod settings,
output files become output ports, and Elyra's links (stored on the target node) become edges into
the ``upstream`` input. Whatever has no dagsmith equivalent (catalog components, R nodes, super
nodes, dependencies, settings that fail dagsmith's checks) is kept, on the node under ``unmapped`` or,
for pipeline settings, in a canvas note, and named in the ``ImportReport``: nothing is dropped silently.
The format is described in ``shared/design/elyra-format.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .collector import collector_paused
from .document import Comment, Edge, Node, Pipeline, PipelineSettings, Position, slug
from .elyra_format import (
    MAX_VERSION,
    MIN_VERSION,
    ElyraImportError,
    Names,
    as_list,
    as_map,
    as_text,
    coord,
    no_constant,
    numbered,
    primary_flow,
)
from .elyra_params import (
    CUSTOM_POD_KEYS,
    EMPTY,
    NOTEBOOK_OP,
    POD_KEYS,
    PYTHON_OP,
    R_OP,
    Converted,
    convert_generic,
    convert_pod,
    merge_pods,
)
from .elyra_storage import declares_outputs, object_storage_warning
from .fileformat import DocumentError, read_limited

NOTE_ID = "elyra-unmapped-settings"
"""Id of the canvas note that keeps pipeline settings the import could not map."""

_UI_KEYS = frozenset({"ui_data", "label", "component_source", "component_parameters", "invalidNodeError"})
_PROPERTY_KEYS = frozenset({"name", "runtime", "runtime_type", "description", "pipeline_defaults"})
_CUSTOM_POD_FIELDS = ("volumes", "tolerations", "labels", "annotations", "shm_size")


@dataclass(frozen=True)
class ImportReport:
    """What an import could not map or had to change, one readable line each (empty: all mapped).

    ``warnings``: what the imported pipeline would do differently from the Elyra one unless a setting is
    filled in (output files that lived in Elyra's object storage), each naming the setting.
    """

    unmapped: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def import_elyra(data: dict[str, Any], *, default_name: str = "imported") -> tuple[Pipeline, ImportReport]:
    """Convert a parsed Elyra pipeline file; ``default_name`` names a pipeline whose file has no name.

    Raises ElyraImportError when ``data`` is not an Elyra pipeline of version 3 to 8.
    """
    with collector_paused():
        return _Importer(data, primary_flow(data)).run(default_name)


def import_elyra_file(path: str | Path) -> tuple[Pipeline, ImportReport]:
    """Read and convert an Elyra ``.pipeline`` file; its stem names a pipeline that has no name."""
    path = Path(path)
    try:
        text = read_limited(path)  # a regular file within the size limit: never a pipe or /dev/zero
    except DocumentError as exc:
        raise ElyraImportError(str(exc)) from None
    try:
        with collector_paused():
            data = json.loads(text, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise ElyraImportError(
            f"{path}:{exc.lineno}:{exc.colno}: malformed JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}",
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise ElyraImportError(f"{path}: cannot read the file as JSON: {exc}") from None
    stem = path.name.removesuffix(".pipeline").removesuffix(".json") or "imported"
    try:
        return import_elyra(data, default_name=stem)
    except ElyraImportError as exc:
        raise ElyraImportError(f"{path}: {exc}") from None


class _Importer:
    """One conversion: collects nodes, edges, comments and the report lines."""

    def __init__(self, data: dict[str, Any], flow: dict[str, Any]) -> None:
        self.flow = flow
        self.app = as_map(flow.get("app_data"))
        self.others = {
            p["id"]: p
            for p in data["pipelines"]
            if isinstance(p, dict) and isinstance(p.get("id"), str) and p is not flow
        }
        self.lines: list[str] = []
        self.loose: dict[str, Any] = {}  # pipeline settings kept in the canvas note
        self.nodes: list[dict[str, Any]] = []
        self.raw: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
        self.node_ids = Names()
        self.defaults_pod: dict[str, Any] = {}
        self.used_subflows: set[str] = set()
        self.producers: list[str] = []  # ids of generic nodes whose output files Elyra kept in object storage

    def run(self, default_name: str) -> tuple[Pipeline, ImportReport]:
        settings = self.settings(default_name)
        for index, raw in enumerate(as_list(self.flow.get("nodes"))):
            self.add_node(index, raw)
        edges = self.edges()
        comments = self.comments()
        unused = [key for key in self.others if key not in self.used_subflows]
        if unused:
            self.keep("pipelines", unused, f"the file holds {len(unused)} other pipeline(s) no super node uses")
        nodes = self.unique_labels([Node.model_validate({**n, "unmapped": n["unmapped"] or None}) for n in self.nodes])
        if self.loose:
            comments.append(self.note(nodes))
        pipeline = Pipeline(settings=settings, nodes=nodes, edges=edges, comments=comments)
        prefix = as_map(as_map(self.app.get("properties")).get("pipeline_defaults")).get("cos_object_prefix")
        labels = {node.id: node.display_name for node in nodes}  # as renamed for unique task ids
        storage = object_storage_warning([labels[node_id] for node_id in self.producers], settings, prefix)
        return pipeline, ImportReport(tuple(self.lines), (storage,) if storage else ())

    # -- pipeline settings --------------------------------------------------------------------------
    def keep(self, key: str, value: Any, reason: str) -> None:
        """Keep a pipeline setting for the canvas note and report it."""
        self.loose[key] = value
        self.lines.append(f"pipeline: {reason}; kept in the canvas note {NOTE_ID!r}")

    def settings(self, default_name: str) -> PipelineSettings:
        props = as_map(self.app.get("properties"))
        values: dict[str, Any] = {"name": as_text(props.get("name")) or as_text(self.app.get("name")) or default_name}
        if as_text(props.get("description")):
            values["description"] = as_text(props.get("description"))
        defaults = as_map(props.get("pipeline_defaults"))
        converted = convert_pod(defaults)
        for key, reason in converted.problems:
            self.lines.append(f"pipeline defaults: {key}: {reason}; kept in the canvas note {NOTE_ID!r}")
        bad = dict(converted.unmapped)
        pod = dict(converted.pod)
        if "image" in pod:
            values["default_image"] = pod.pop("image")
        if "resources" in pod:
            values["default_resources"] = pod.pop("resources")
        self.defaults_pod = pod
        for key, value in defaults.items():
            if key not in POD_KEYS and value not in EMPTY:
                bad[key] = value
                self.lines.append(
                    f"pipeline defaults: {key!r} has no dagsmith equivalent; kept in the canvas note {NOTE_ID!r}"
                )
        if bad:
            self.loose["pipeline_defaults"] = bad
        for key, value in props.items():
            if key not in _PROPERTY_KEYS and value not in EMPTY:
                self.keep(key, value, f"the pipeline property {key!r} has no dagsmith equivalent")
        return PipelineSettings.model_validate(values)

    # -- nodes ----------------------------------------------------------------------------------------
    def add_node(self, index: int, raw: Any) -> None:
        if not isinstance(raw, Mapping):
            self.keep(f"node_{index + 1}", raw, f"entry {index + 1} of the node list is not a node")
            return
        app = as_map(raw.get("app_data"))
        ui = as_map(app.get("ui_data"))
        params = app.get("component_parameters")
        if not isinstance(params, Mapping):  # before version 4 the parameters sat directly in app_data
            params = {key: value for key, value in app.items() if key not in _UI_KEYS}
        node_id = self.node_ids.pick(raw.get("id"), f"node-{index + 1}")
        if node_id != raw.get("id"):
            self.lines.append(
                f"node {index + 1}: its id {raw.get('id')!r} is missing or repeated; it is now {node_id!r}"
            )
        op, kind = as_text(raw.get("op")), as_text(raw.get("type")) or "execution_node"
        label = (
            as_text(app.get("label")) or as_text(ui.get("label")) or PurePosixPath(as_text(params.get("filename"))).name
        )
        if kind == "super_node" and not label:
            subflow = self.subflow(raw)
            label = as_text(as_map(as_map(subflow).get("app_data")).get("name")) or "Super node"
        who = f"node {label or node_id!r}"
        unmapped: dict[str, Any] = {}
        if kind == "execution_node" and op in (NOTEBOOK_OP, PYTHON_OP, R_OP):
            node_type, node_params, converted = convert_generic(op, params, self.defaults_pod)
            if declares_outputs(params):
                self.producers.append(node_id)
            self.take(converted, who, unmapped)
        else:
            node_type, node_params = "script", self.foreign(raw, params, who=who, unmapped=unmapped)
        node = {
            "id": node_id,
            "type": node_type,
            "label": label,
            "position": {"x": coord(ui.get("x_pos")), "y": coord(ui.get("y_pos"))},
            "params": node_params,
            "unmapped": unmapped,
        }
        self.nodes.append(node)
        self.raw.append((raw, node))

    def take(self, converted: Converted, who: str, unmapped: dict[str, Any]) -> None:
        """Move a conversion's rejected entries into ``unmapped`` and the report."""
        unmapped.update(converted.unmapped)
        self.lines.extend(f"{who}: {note}" for note in converted.notes)
        for key, reason in converted.problems:
            self.lines.append(f"{who}: {key}: {reason}; kept under 'unmapped.{key}'")

    def foreign(
        self, raw: Mapping[str, Any], params: Mapping[str, Any], *, who: str, unmapped: dict[str, Any]
    ) -> dict[str, Any]:
        """A node dagsmith has no type for -> ``script`` parameters; the rest goes to ``unmapped``."""
        op, kind = as_text(raw.get("op")), as_text(raw.get("type")) or "execution_node"
        converted = convert_pod(params, CUSTOM_POD_KEYS)
        custom_defaults = {k: v for k, v in self.defaults_pod.items() if k in _CUSTOM_POD_FIELDS}
        pod = merge_pods(converted.pod, custom_defaults)
        unmapped["op"] = op or kind
        rest = {key: value for key, value in params.items() if key not in CUSTOM_POD_KEYS}
        if rest:
            unmapped["component_parameters"] = rest
        source = as_map(raw.get("app_data")).get("component_source")
        if source:
            unmapped["component_source"] = source
        if kind == "super_node":
            subflow = self.subflow(raw)
            unmapped["subflow"] = subflow if subflow is not None else dict(as_map(raw.get("subflow_ref")))
            inner = [
                as_text(as_map(n.get("app_data")).get("label")) or as_text(n.get("id"))
                for n in as_list(as_map(subflow).get("nodes"))
                if isinstance(n, Mapping) and n.get("type") != "binding"
            ]
            what = (
                f"super node with {len(inner)} nested node(s) {inner!r}; nested pipelines are not supported, "
                "kept as a script node with the nested pipeline under 'unmapped.subflow'"
            )
        elif kind != "execution_node":
            what = f"node type {kind!r} is not supported; kept as a script node with its parameters under 'unmapped'"
        elif ":" in op or "_" in op or not op.startswith("execute-"):
            what = "unknown catalog component; kept as a script node with its parameters under 'unmapped'"
        else:
            what = "unknown node operation; kept as a script node with its parameters under 'unmapped'"
        self.lines.append(f"{who} (op {op or kind!r}): {what}")
        self.take(converted, who, unmapped)
        result: dict[str, Any] = {"outputs": []}
        if pod:
            result["pod"] = pod
        return result

    def subflow(self, raw: Mapping[str, Any]) -> dict[str, Any] | None:
        """The nested pipeline a super node shows, when the file has it."""
        ref = as_map(raw.get("subflow_ref")).get("pipeline_id_ref")
        if not isinstance(ref, str):
            return None
        self.used_subflows.add(ref)
        return self.others.get(ref)

    def unique_labels(self, nodes: list[Node]) -> list[Node]:
        """Rename nodes whose labels would become the same Airflow task id (Elyra allows repeats)."""
        taken: set[str] = set()
        last: dict[str, int] = {}  # display name -> the last number tried for it (linear for many repeats)
        result = []
        for node in nodes:
            renamed, task_id = node, node.task_id()
            if task_id in taken:
                count, label = last.get(node.display_name, 1), ""
                while not label or slug(label) in taken:  # a numbered label always slugs to a non-empty id
                    count += 1
                    label = numbered(node.display_name, count)
                last[node.display_name] = count
                renamed = node.model_copy(update={"label": label})
                task_id = renamed.task_id()
                self.lines.append(
                    f"node {node.display_name!r}: renamed to {renamed.label!r}, as another node's name gives the "
                    f"same Airflow task id {node.task_id()!r}"
                )
            taken.add(task_id)
            result.append(renamed)
        return result

    # -- links and comments -----------------------------------------------------------------------------
    def edges(self) -> list[Edge]:
        """Links, stored on their target node in Elyra, as edges from the source's first output port."""
        by_raw_id: dict[str, dict[str, Any]] = {}
        for raw, node in self.raw:
            if isinstance(raw.get("id"), str):
                by_raw_id.setdefault(raw["id"], node)
        edges: list[Edge] = []
        names = Names()
        for raw, target in self.raw:
            for port in as_list(raw.get("inputs")):
                for link in as_list(as_map(port).get("links")):
                    ref = as_map(link).get("node_id_ref")
                    source = by_raw_id.get(ref) if isinstance(ref, str) else None
                    if source is None:
                        target["unmapped"].setdefault("links", []).append(link)
                        self.lines.append(
                            f"node {target['label'] or target['id']!r}: a link from the unknown node "
                            f"{as_map(link).get('node_id_ref')!r}; kept under 'unmapped.links'"
                        )
                        continue
                    outputs = source["params"]["outputs"]
                    if not outputs:
                        outputs.append({"name": "done", "type": "any", "description": "Finished (run order only)"})
                    edge_id = names.pick(as_map(link).get("id"), f"link-{source['id']}-{target['id']}")
                    edges.append(
                        Edge(
                            id=edge_id,
                            source=source["id"],
                            source_port=outputs[0]["name"],
                            target=target["id"],
                            target_port="upstream",
                        )
                    )
        return edges

    def comments(self) -> list[Comment]:
        """Canvas comments with the nodes they are attached to."""
        result = []
        names = Names()
        for index, raw in enumerate(as_list(as_map(self.app.get("ui_data")).get("comments"))):
            if not isinstance(raw, Mapping):
                self.keep(f"comment_{index + 1}", raw, f"comment {index + 1} is not a comment object")
                continue
            refs = [
                as_map(ref).get("node_ref") if isinstance(ref, Mapping) else ref
                for ref in as_list(raw.get("associated_id_refs"))
            ]
            content = raw.get("content")
            result.append(
                Comment(
                    id=names.pick(raw.get("id"), f"comment-{index + 1}"),
                    text=content if isinstance(content, str) else as_text(content),
                    position=Position(x=coord(raw.get("x_pos")), y=coord(raw.get("y_pos"))),
                    nodes=[ref for ref in refs if isinstance(ref, str) and ref],
                )
            )
        return result

    def note(self, nodes: list[Node]) -> Comment:
        """The canvas note keeping pipeline settings that could not be mapped."""
        x = min((n.position.x for n in nodes), default=0.0)
        y = min((n.position.y for n in nodes), default=150.0) - 150.0
        text = (
            "Imported from Elyra: these pipeline settings have no dagsmith equivalent. Recreate what you need, "
            "then delete this note.\n" + json.dumps(self.loose, indent=2, sort_keys=True, default=str)
        )
        return Comment(id=NOTE_ID, text=text, position=Position(x=x, y=y))


__all__ = [
    "MAX_VERSION",
    "MIN_VERSION",
    "NOTE_ID",
    "ElyraImportError",
    "ImportReport",
    "import_elyra",
    "import_elyra_file",
]
