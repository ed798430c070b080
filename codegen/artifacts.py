"""Artifact paths and the environment contract between the DAG and a step's container.

See CONTRACT.md: every step learns where its inputs are and where to write its outputs from
``DAGSMITH_*`` environment variables; small values (an MLflow run id, a metric) travel by XCom.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from dagsmith.nodes import CATALOG, Access, Code, Edge, Issue, Node, Pipeline, PortType, SecretRef, Severity, slug
from dagsmith.nodes.artifact_rules import VALUE_PORT_TYPES
from dagsmith.nodes.common import AIRFLOW_KEY_RE, CONNECTION_FIELDS, EnvVar, PodSettings
from dagsmith.nodes.document import PipelineSettings
from dagsmith.nodes.store import StoreKind, store_kind
from dagsmith.nodes.types import NodeType

from .errors import ExportError
from .model import Templated
from .templating import RUN_MACROS, Tmpl, run_macro

PREFIX = "DAGSMITH_"
XCOM_FILE = "/airflow/xcom/return.json"
"""Where KubernetesPodOperator's sidecar collects a step's values from."""

VALUE_TYPES: frozenset[PortType] = VALUE_PORT_TYPES
"""Output types whose value (not only a path) travels to downstream steps, by XCom."""

STAGING_ROOT = "/tmp/dagsmith-staging"
"""Object stores, ``path`` delivery: where a step's outputs are staged before the runtime uploads them, and
its inputs downloaded to (``<root>/<run key>/<task id>/outputs|inputs/<port>``, ``DAGSMITH_STAGING``)."""

GCS_KEY_DIR = "/var/run/secrets/dagsmith/gcs"
"""GCS with a key file: where the credentials secret is mounted in every pod (Kubernetes only)."""

MLFLOW_VARIABLE = "dagsmith_mlflow_tracking_uri"
"""Airflow Variable that holds the MLflow tracking URI (read at run time, never written in the file)."""

MLFLOW_REGISTRY_VARIABLE = "dagsmith_mlflow_registry_uri"
"""Airflow Variable that overrides the settings' MLflow registry URI (read at run time)."""

RUN_KEY = "run_id | replace(':', '_') | replace('+', '_') | replace('~', '_')"
"""How ``{run_id}`` is written in an artifact path: the run id with ':', '+' and '~' made '_'.

Airflow's run ids are made of ``[A-Za-z0-9_.~:+-]`` (its ``allowed_run_id_pattern`` and the ids its
scheduler makes, such as ``scheduled__2026-01-01T00:00:00+00:00``), so the key holds only
``[A-Za-z0-9_.-]``, which every object store and file system takes as is. ``DAGSMITH_RUN_ID`` stays the
run id itself.
"""

_RUNTIME_PLACEHOLDERS = {
    "ds": "ds",
    "ds_nodash": "ds_nodash",
    "ts_nodash": "ts_nodash",
}
"""Path placeholders filled at run time: placeholder -> run-time macro (``templating.RUN_MACROS``);
``{run_id}`` is written as ``RUN_KEY`` and ``{logical_date}`` as ``LOGICAL_DATE_KEY``."""

LOGICAL_DATE_KEY = "(" + RUN_MACROS["ts"] + ") | replace(':', '_') | replace('+', '_') | replace('~', '_')"
"""How ``{logical_date}`` is written in an artifact path: ``ts`` made a safe key, as ``{run_id}``."""


def env_name(kind: str, port: str) -> str:
    """``DAGSMITH_INPUT_TRAIN_DATA`` style names: prefix, kind and the port name in capitals."""
    return f"{PREFIX}{kind}_{port.upper()}"


@dataclass(frozen=True, slots=True)
class Artifacts:
    """Resolves artifact paths for one export (pipeline and version); remembers what it resolved."""

    pipeline: Pipeline
    version: int
    nodes: dict[str, Node] = field(default_factory=dict)
    _paths: dict[tuple[str, str], Tmpl] = field(default_factory=dict)
    _names: dict[tuple[str, ...], str] = field(default_factory=dict)
    _read: dict[str, set[str]] = field(default_factory=dict)  # node id -> its output ports an edge leaves from

    @classmethod
    def of(cls, pipeline: Pipeline, version: int) -> Artifacts:
        """The resolver for ``pipeline`` at ``version``."""
        return cls(pipeline, version, pipeline.node_map())

    def read_ports(self, node: Node) -> set[str]:
        """The output ports of ``node`` that some step reads (indexed once: linear in the edges, not quadratic)."""
        if not self._read:
            for edge in self.pipeline.edges:
                self._read.setdefault(edge.source, set()).add(edge.source_port)
        return self._read.get(node.id, set())

    def output_path(self, node: Node, port: str) -> Tmpl:
        """The path or URI that ``node`` writes its output ``port`` to, with run-time macros."""
        key = (node.id, port)
        if key not in self._paths:
            self._paths[key] = self._output_path(node, port)
        return self._paths[key]

    def _output_path(self, node: Node, port: str) -> Tmpl:
        settings = self.pipeline.settings
        stored = node.outputs.get(port)
        folder = stored.path if stored and stored.path is not None else settings.path_template
        name = stored.naming if stored and stored.naming is not None else settings.naming_format
        path = Tmpl.literal(settings.artifact_root.rstrip("/") + "/")
        folder_part, folder_shape = self._fill(folder.strip("/"), node, port)
        name_part, name_shape = self._fill(name.strip("/"), node, port)
        for shape, what, stored_template in (
            (folder_shape, "path", stored and stored.path),
            (name_shape, "naming", stored and stored.naming),
        ):
            if _UP in shape.replace("\\", "/").split("/"):
                field = f"outputs.{port}.{what}" if stored_template is not None else _SETTING[what]
                raise _escape_error(node, port, field, settings.artifact_root, shape)
        if folder_part.text:
            path = path + folder_part + Tmpl.literal("/")
        return path + name_part

    def _fill(self, template: str, node: Node, port: str) -> tuple[Tmpl, str]:
        """The template filled in, and its shape: the same text with each run-time value as ``*``."""
        result = Tmpl("")
        shape = []
        for literal, name, _, _ in string.Formatter().parse(template):
            result = result + Tmpl.literal(literal)
            shape.append(literal)
            if name is None:
                continue
            if name == "run_id":
                result = result + Tmpl.macro(RUN_KEY)
                shape.append("*")
            elif name == "logical_date":
                result = result + Tmpl.macro(LOGICAL_DATE_KEY)
                shape.append("*")
            elif name in _RUNTIME_PLACEHOLDERS:
                result = result + run_macro(_RUNTIME_PLACEHOLDERS[name])
                shape.append("*")
            else:
                value = self._static(name, node, port)
                result = result + Tmpl.literal(value)
                shape.append(value)
        return result, "".join(shape)

    def _static(self, name: str, node: Node, port: str) -> str:
        if name == "pipeline":
            return self._memo(("pipeline",), lambda: slug(self.pipeline.settings.name) or self.pipeline.dag_id)
        if name == "dag_id":
            return self.pipeline.dag_id
        if name == "node":
            return self._memo(("node", node.id), lambda: slug(node.id) or self.task_id(node))
        if name == "task_id":
            return self.task_id(node)
        if name == "output":
            return port
        return str(self.version)

    @property
    def kind(self) -> StoreKind:
        """The kind of store the artifact root names."""
        return store_kind(self.pipeline.settings.artifact_root)

    def staged(self) -> bool:
        """True when ``path`` delivery stages files locally (an object store), False on a POSIX store."""
        return self.kind in ("s3", "gcs")

    def staging(self, node: Node) -> Tmpl:
        """``DAGSMITH_STAGING`` of ``node``'s task: its local folder for staged outputs and downloaded inputs."""
        return Tmpl.literal(STAGING_ROOT + "/") + Tmpl.macro(RUN_KEY) + Tmpl.literal("/" + self.task_id(node))

    def delivery(self, node: Node, port: str) -> str:
        """``path`` or ``uri``: how steps get the location of ``node``'s output ``port`` (its form says)."""
        stored = node.outputs.get(port)
        return stored.delivery_mode() if stored is not None else "path"

    def delivered(self, node: Node, port: str, reader: Node, where: str) -> Tmpl:
        """What ``reader`` gets for that output: the stored location, or (staged) a path under its staging folder."""
        if not self.staged() or self.delivery(node, port) == "uri":
            return self.output_path(node, port)
        return self.staging(reader) + Tmpl.literal("/" + where)

    def access(self, node: Node, port: str) -> Access:
        """Who may read ``node``'s output ``port``: its own access, else the pipeline's default."""
        stored = node.outputs.get(port)
        return (stored.access if stored else None) or self.pipeline.settings.default_access

    def task_id(self, node: Node) -> str:
        """``node.task_id()``, computed once per node."""
        return self._memo(("task_id", node.id), node.task_id)

    def _memo(self, key: tuple[str, ...], compute: Callable[[], str]) -> str:
        if key not in self._names:
            self._names[key] = compute()
        return self._names[key]


_UP = ".."
_SETTING = {"path": "settings.path_template", "naming": "settings.naming_format"}


def _escape_error(node: Node, port: str, field: str, root: str, shape: str) -> ExportError:
    """Refuse a path that '..' would lead out of the artifact root (validation refuses its causes too)."""
    return ExportError(
        [
            Issue(
                Severity.ERROR,
                Code.INVALID_VALUE,
                f"the artifact path of output {port!r} becomes {shape!r}, which leaves the artifact root {root!r} "
                "through '..'; remove '..' from the path template and from the dag_id",
                node=node.id,
                field=field,
            )
        ]
    )


def xcom_value(task_id: str, port: str) -> Tmpl:
    """The JSON of the value that task ``task_id`` reported for its output ``port`` (``null`` if none)."""
    # task_id is a slug and port an identifier, so neither can end the quoted Jinja string.
    return Tmpl.macro(f"(ti.xcom_pull(task_ids='{task_id}') or {{}}).get('{port}') | tojson")


def shared_env(artifacts: Artifacts) -> dict[str, Tmpl]:
    """The ``DAGSMITH_*`` variables every pod of the DAG gets (written once, as ``DAGSMITH_ENV``).

    Besides identity and the store's root: the project, and by store kind the S3 endpoint and region or
    the POSIX group ids that enforce access (see CONTRACT.md, "Artifact store").
    """
    pipeline = artifacts.pipeline
    settings = pipeline.settings
    store = settings.artifact_store
    env = {
        "DAGSMITH_DAG_ID": Tmpl.literal(pipeline.dag_id),
        "DAGSMITH_PIPELINE_VERSION": Tmpl.literal(str(artifacts.version)),
        "DAGSMITH_RUN_ID": run_macro("run_id"),
        "DAGSMITH_LOGICAL_DATE": run_macro("ts"),
        "DAGSMITH_ARTIFACT_ROOT": Tmpl.literal(settings.artifact_root),
        "DAGSMITH_PROJECT": Tmpl.literal(settings.effective_project()),
    }
    if artifacts.kind == "s3" and store.endpoint_url:
        env["DAGSMITH_ARTIFACT_ENDPOINT"] = Tmpl.literal(store.endpoint_url)
    if artifacts.kind == "s3" and store.region:
        env["AWS_DEFAULT_REGION"] = Tmpl.literal(store.region)
    if artifacts.kind == "posix" and store.project_gid is not None:
        ids = {"project_gid": store.project_gid, "groups": dict(sorted(store.group_gids.items()))}
        env["DAGSMITH_POSIX_IDS"] = Tmpl.literal(json.dumps(ids, sort_keys=True))
    return env


def contract_env(
    artifacts: Artifacts,
    node: Node,
    node_type: type[NodeType],
    incoming: list[Edge],
) -> dict[str, Tmpl]:
    """The node's own ``DAGSMITH_*`` variables: identity, inputs, upstream values and outputs."""
    nodes = artifacts.nodes
    env: dict[str, Tmpl] = {
        "DAGSMITH_TASK_ID": Tmpl.literal(artifacts.task_id(node)),
        "DAGSMITH_NODE_ID": Tmpl.literal(node.id),
        "DAGSMITH_NODE_TYPE": Tmpl.literal(node.type),
    }
    inputs, outputs = node_type.ports(node.params)
    by_port: dict[str, list[Edge]] = {}
    for edge in incoming:
        by_port.setdefault(edge.target_port, []).append(edge)
    for port in inputs:
        edges = by_port.get(port.name, [])
        if not edges:
            continue
        sources = [(nodes[edge.source], edge.source_port) for edge in edges]
        if port.multiple:
            env[env_name("INPUT", port.name) + "_COUNT"] = Tmpl.literal(str(len(sources)))
        for index, (source, source_port) in enumerate(sources):
            suffix = f"_{index}" if port.multiple else ""
            if output_type(source, source_port) in VALUE_TYPES:  # a value travels by XCom and has no path
                env[env_name("VALUE", port.name) + suffix] = xcom_value(artifacts.task_id(source), source_port)
            else:
                where = f"inputs/{port.name}{suffix}"
                env[env_name("INPUT", port.name) + suffix] = artifacts.delivered(source, source_port, node, where)
                env[env_name("INPUT", port.name) + suffix + "_URI"] = artifacts.output_path(source, source_port)
    stored = [port for port in outputs if port.type not in VALUE_TYPES]
    read = artifacts.read_ports(node)
    for port in stored:
        name = env_name("OUTPUT", port.name)
        env[name] = artifacts.delivered(node, port.name, node, f"outputs/{port.name}")
        env[name + "_URI"] = artifacts.output_path(node, port.name)
        env[name + "_MODE"] = Tmpl.literal(artifacts.delivery(node, port.name))
        access = artifacts.access(node, port.name)
        env[name + "_ACCESS"] = Tmpl.literal(json.dumps({"level": access.level, "groups": list(access.groups)}))
        if port.name not in read:  # no step reads it: the runtime stores it when written, and does not require it
            env[name + "_OPTIONAL"] = Tmpl.literal("1")
    if artifacts.staged() and (stored or any(key.startswith(PREFIX + "INPUT_") for key in env)):
        env["DAGSMITH_STAGING"] = artifacts.staging(node)
    return env


def output_type(node: Node, port: str) -> PortType | None:
    """The type of ``node``'s output ``port`` (None for an unknown node type or port)."""
    node_type = CATALOG.get(node.type)
    if node_type is None:
        return None
    for candidate in node_type.ports(node.params)[1]:
        if candidate.name == port:
            return candidate.type
    return None


def _jinja_string(text: str) -> str:
    """``text`` as a single-quoted Jinja string literal; only for values validated to a safe alphabet."""
    if not _JINJA_SAFE.fullmatch(text):
        raise ValueError(f"{text!r} cannot be written into a template expression")
    return "'" + text + "'"


_JINJA_SAFE = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]*")
"""Characters a value may have to be quoted into dagsmith's own Jinja expressions (no quote, brace, space)."""


def airflow_value(var: EnvVar) -> Templated:
    """The value of a user variable: its text, or Airflow's template for the Variable or Connection field.

    The Variable key and Connection id are validated names (``AIRFLOW_KEY_RE``, checked again here) and
    the field comes from a fixed list, so the expression is dagsmith's, never the user's Jinja. A
    missing Variable or Connection fails the task; an empty Connection field gives ''.
    """
    if var.source == "value":
        return var.value
    if var.source == "variable":
        key = var.variable or ""
        if not AIRFLOW_KEY_RE.fullmatch(key):
            raise ValueError(f"{key!r} is not a valid Airflow Variable key")
        return Tmpl.macro(f"var.value[{_jinja_string(key)}]")
    conn_id, field_name = var.connection or "", var.connection_field or ""
    if not AIRFLOW_KEY_RE.fullmatch(conn_id) or field_name not in CONNECTION_FIELDS:
        raise ValueError(f"{conn_id!r}.{field_name!r} is not a valid Airflow Connection field")
    attribute = "get_uri()" if field_name == "uri" else field_name
    return Tmpl.macro(f"conn[{_jinja_string(conn_id)}].{attribute} or ''")


def mlflow_server_env(settings: PipelineSettings) -> dict[str, Tmpl]:
    """``MLFLOW_TRACKING_URI`` (and ``MLFLOW_REGISTRY_URI``) for every step, from the pipeline settings.

    The tracking URI is the Airflow Variable ``dagsmith_mlflow_tracking_uri`` when set (the local runner
    sets it to the workspace's MLflow), else the settings' URI, else empty.
    """
    mlflow = settings.mlflow
    default = _jinja_string(mlflow.tracking_uri or "")
    env = {"MLFLOW_TRACKING_URI": Tmpl.macro(f"var.value.get('{MLFLOW_VARIABLE}', {default})")}
    if mlflow.registry_uri:
        registry = _jinja_string(mlflow.registry_uri)
        env["MLFLOW_REGISTRY_URI"] = Tmpl.macro(f"var.value.get('{MLFLOW_REGISTRY_VARIABLE}', {registry})")
    return env


def mlflow_secrets(settings: PipelineSettings) -> list[SecretRef]:
    """The MLflow credentials as secret references (name and key only; the value stays in the cluster)."""
    secret = settings.mlflow.credentials_secret
    if not secret:
        return []
    return [
        SecretRef(env_var=name, secret_name=secret, key=key) for name, key in settings.mlflow.credential_keys().items()
    ]


def store_secrets(settings: PipelineSettings) -> list[SecretRef]:
    """An S3 store's credentials as secret references (``AWS_ACCESS_KEY_ID`` ...); none for workload identity."""
    store = settings.artifact_store
    if store_kind(settings.artifact_root) != "s3" or not store.credentials_secret or store.workload_identity:
        return []
    secret = store.credentials_secret
    return [SecretRef(env_var=name, secret_name=secret, key=key) for name, key in store.s3_secret_keys().items()]


KUBERNETES_ONLY_ENV = frozenset({"GOOGLE_APPLICATION_CREDENTIALS"})
"""Variables only a pod gets: they point at a secret mounted into the pod (a local step uses its own)."""


def store_pod_env(settings: PipelineSettings) -> dict[str, Tmpl]:
    """A GCS store with a key file: ``GOOGLE_APPLICATION_CREDENTIALS`` at the mounted secret (pods only)."""
    store = settings.artifact_store
    if store_kind(settings.artifact_root) != "gcs" or not store.credentials_secret or store.workload_identity:
        return {}
    return {"GOOGLE_APPLICATION_CREDENTIALS": Tmpl.literal(f"{GCS_KEY_DIR}/{store.key_file_key}")}


def step_env(
    settings: PipelineSettings, pod: PodSettings, contract: dict[str, Templated]
) -> tuple[dict[str, Templated], list[SecretRef]]:
    """Everything a step's process sees, for both targets: variables in order, and secret references.

    The contract variables first, then the MLflow server and the artifact store's credentials (unless the
    step sets a variable or secret of that name), then the user's variables; the user's secrets, then the
    MLflow and store credentials (same rule).
    """
    own = {var.name for var in pod.env} | {secret.env_var for secret in pod.secrets}
    env: dict[str, Templated] = dict(contract)
    env.update({name: value for name, value in mlflow_server_env(settings).items() if name not in own})
    env.update({name: value for name, value in store_pod_env(settings).items() if name not in own})
    for var in pod.env:
        env[var.name] = airflow_value(var)
    shared = [*mlflow_secrets(settings), *store_secrets(settings)]
    secrets = list(pod.secrets) + [ref for ref in shared if ref.env_var not in own]
    return env, secrets
