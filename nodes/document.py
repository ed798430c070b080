"""The pipeline document: settings, nodes, edges and canvas comments.

The document stores what the user entered, valid or not, so that no work is lost; ``validate()``
says what is wrong with it. Node parameters are kept as plain JSON and checked against the node
type's model only during validation.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import keyword
import re
from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue

from .checks import (
    DURATION_SECONDS,
    TIMEOUT_MINUTES,
    ArtifactRoot,
    Bounds,
    Identifier,
    ImageRef,
    K8sName,
    K8sShortName,
    Schedule,
    Template,
)
from .common import Access, ClusterSettings, MlflowSettings, OutputSettings, Resources, Strict
from .store import ArtifactStore

ParamType = Literal["string", "integer", "number", "boolean", "array", "object"]

_PARAM_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


class Position(Strict):
    """A point on the canvas, in flow coordinates."""

    x: float = 0.0
    y: float = 0.0


class RuntimeParam(Strict):
    """A typed run-time parameter (Airflow ``params``), settable when a run is triggered."""

    name: Identifier = Field(description="Parameter name, used as {{ params.name }}")
    type: ParamType = "string"
    default: JsonValue = None
    description: str = ""
    enum: list[JsonValue] | None = Field(None, description="Allowed values")
    minimum: float | None = None
    maximum: float | None = None

    def default_problem(self) -> str | None:
        """Why the default does not fit the type, enum or bounds; None when it does."""
        value = self.default
        if value is None:
            return None
        types = _PARAM_PYTHON_TYPES[self.type]
        if not isinstance(value, types) or (self.type in ("integer", "number") and isinstance(value, bool)):
            return f"default {value!r} is not of type {self.type}; enter a {self.type} or clear the default"
        if self.enum is not None and value not in self.enum:
            return f"default {value!r} is not one of the allowed values {self.enum!r}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                return f"default {value!r} is below the minimum {self.minimum!r}"
            if self.maximum is not None and value > self.maximum:
                return f"default {value!r} is above the maximum {self.maximum!r}"
        return None


class ServiceAccounts(Strict):
    """Which Kubernetes service account a step runs as, by its access permission."""

    private: K8sName | None = Field(None, description="Service account for private steps")
    public: K8sName | None = Field(None, description="Service account for organisation-wide steps")
    groups: dict[str, K8sName] = Field(default_factory=dict, description="Service account per group")
    deployer: K8sName | None = Field(
        None,
        description="Service account of deploy steps; it may create and patch Deployments, Services and "
        "HorizontalPodAutoscalers",
    )


DEFAULT_EXECUTION_TIMEOUT_MINUTES = 24 * 60
"""A new pipeline's per-task timeout: a hung step fails after a day instead of holding its pod (and GPU) forever."""


class PipelineSettings(Strict):
    """Pipeline-wide settings: DAG arguments, run-time parameters and the defaults every node inherits."""

    name: str = Field("untitled", description="Pipeline name; the stable dag_id is derived from it")
    dag_id: str | None = Field(None, description="Explicit dag_id (default: derived from the name)")
    description: str = ""
    owner: str = Field("dagsmith", description="Owner shown in Airflow")
    tags: list[str] = Field(default_factory=list)
    schedule: Schedule | None = Field(None, description="Cron expression or preset; empty: manual runs only")
    start_date: dt.date = Field(dt.date(2026, 1, 1), description="First logical date")
    catchup: bool = False
    # Bounds, not Field(ge=...): an out-of-range number loads and is reported by validate().
    retries: Annotated[int, Bounds(ge=0, le=100)] = 0
    # Durations stop at 365 days: far beyond any run, and far from the overflow of Airflow's timedelta.
    retry_delay_seconds: Annotated[int, DURATION_SECONDS] = 300
    execution_timeout_minutes: Annotated[float, TIMEOUT_MINUTES] | None = Field(
        DEFAULT_EXECUTION_TIMEOUT_MINUTES, description="Per-task timeout in minutes (empty: none)"
    )
    dagrun_timeout_minutes: Annotated[float, TIMEOUT_MINUTES] | None = Field(None, description="Whole-run timeout")
    max_active_runs: Annotated[int, Bounds(ge=1, le=1000)] = 1
    params: list[RuntimeParam] = Field(default_factory=list, description="Run-time parameters")
    default_image: ImageRef | None = Field(None, description="Image for steps that set none")
    step_image: ImageRef | None = Field(
        None,
        description=(
            "Image of the built-in steps (gate, register, build, deploy, ...): the dagsmith step runtime, "
            "built with `dagsmith step-image`; empty: dagsmith/steps:<runtime version>"
        ),
        examples=["registry.example.com/dagsmith/steps:1.0.0"],
    )
    default_resources: Resources = Field(default_factory=Resources)
    namespace: K8sName = Field("default", description="Kubernetes namespace of the step pods")
    artifact_root: ArtifactRoot = Field(
        "/tmp/dagsmith-artifacts",
        description="Artifact store root: a path on a shared volume, s3://bucket/prefix or gs://bucket/prefix",
        examples=["/mnt/artifacts", "s3://ml-artifacts/dagsmith", "gs://ml-artifacts/dagsmith"],
    )
    artifact_store: ArtifactStore = Field(
        default_factory=ArtifactStore, description="How step pods reach the artifact store, and its owners"
    )
    project: K8sShortName | None = Field(
        None, description="Project the pipeline belongs to (DAGSMITH_PROJECT; default: the pipeline slug)"
    )
    path_template: Template = Field("{pipeline}/{run_id}/{node}", description="Default artifact folder")
    naming_format: Template = Field("{output}", description="Default artifact name")
    default_access: Access = Field(default_factory=Access, description="Default access permission")
    service_accounts: ServiceAccounts = Field(default_factory=ServiceAccounts)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings, description="The MLflow server every step reaches")
    cluster: ClusterSettings = Field(default_factory=ClusterSettings, description="How step pods run on the cluster")

    def effective_dag_id(self) -> str:
        """The dag_id: the explicit one, or one derived from the name that stays stable across versions."""
        return self.dag_id or slug(self.name)

    def effective_project(self) -> str:
        """The project (``DAGSMITH_PROJECT``): the setting, or the pipeline slug."""
        return self.project or slug(self.name) or self.effective_dag_id()


class Node(Strict):
    """A step on the canvas. ``params`` hold the node type's parameters as entered."""

    id: str = Field(min_length=1)
    type: str = Field(min_length=1, description="Node type name from the catalog")
    label: str = ""
    position: Position = Field(default_factory=Position)
    params: dict[str, JsonValue] = Field(default_factory=dict)
    outputs: dict[str, OutputSettings] = Field(default_factory=dict, description="Per-output storage settings")
    access: Access | None = Field(None, description="Access permission the step runs with")
    unmapped: dict[str, Any] | None = Field(
        None, description="What an import could not map, kept for the user to resolve"
    )

    @property
    def display_name(self) -> str:
        """The label, or the id when there is none."""
        return self.label or self.id

    def task_id(self) -> str:
        """The Airflow task id this node becomes: derived from the label, else from the id.

        It is also the task's variable in the DAG file, so a Python keyword, a builtin or a name the file
        binds itself (``RESERVED_TASK_IDS``) gets ``_task`` appended.
        """
        result = slug(self.label) or slug(self.id) or "task_" + hashlib.sha1(self.id.encode()).hexdigest()[:10]
        return result + "_task" if result in RESERVED_TASK_IDS else result


class Edge(Strict):
    """A connection from an output port to an input port."""

    id: str = Field(min_length=1)
    source: str
    source_port: str
    target: str
    target_port: str


class Comment(Strict):
    """A note on the canvas, optionally attached to nodes."""

    id: str = Field(min_length=1)
    text: str = ""
    position: Position = Field(default_factory=Position)
    nodes: list[str] = Field(default_factory=list, description="Ids of the nodes it is attached to")


class Pipeline(Strict):
    """A whole pipeline document (the ``*.dagsmith.json`` body)."""

    settings: PipelineSettings = Field(default_factory=PipelineSettings)
    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)
    comments: list[Comment] = Field(default_factory=list)

    @property
    def dag_id(self) -> str:
        """The stable Airflow dag_id."""
        return self.settings.effective_dag_id()

    def node(self, node_id: str) -> Node | None:
        """The first node with this id, or None."""
        return next((n for n in self.nodes if n.id == node_id), None)

    def node_map(self) -> dict[str, Node]:
        """Nodes by id (the first one wins when ids repeat)."""
        result: dict[str, Node] = {}
        for n in self.nodes:
            result.setdefault(n.id, n)
        return result


_SLUG_RE = re.compile(r"[^a-z0-9]+")

RESERVED_TASK_IDS = frozenset(
    {*keyword.kwlist, *keyword.softkwlist, *dir(builtins), "dag", "datetime", "json", "k8s", "operator", "timezone"}
)
"""Names no task id takes: a generated DAG file binds each task to a variable named as its task id, beside
Python's keywords and builtins and the names it imports or binds itself."""


def slug(text: str) -> str:
    """Lowercase ``[a-z0-9_]`` form of ``text`` for dag and task ids; '' when nothing remains.

    A leading digit gets a ``n_`` prefix so that the result is also a Python identifier.
    """
    result = _SLUG_RE.sub("_", text.strip().lower()).strip("_")
    if result and result[0].isdigit():
        result = "n_" + result
    return result[:200]
