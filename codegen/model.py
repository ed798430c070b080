"""The target-neutral plan of a DAG file: what the templates write, as plain data.

Strings here are user values, to be written through the ``py``/``tpl`` filters; ``Tmpl`` values are
template text that dagsmith built (escaped user text plus its own macros).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from dagsmith.nodes import SecretRef, Toleration

from .templating import Tmpl

Templated = str | Tmpl
"""A value for a templated operator field: user text (escaped when written) or ready ``Tmpl``."""


@dataclass(slots=True)
class VolumeSpec:
    """A pod volume: a PersistentVolumeClaim, a secret (``secret_name``) or (``shm_size``) a memory-backed /dev/shm."""

    name: str
    claim_name: str | None = None
    shm_size: str | None = None
    secret_name: str | None = None  # a Kubernetes secret's keys as files (the GCS key of the artifact store)


@dataclass(slots=True)
class MountSpec:
    """Where a volume is mounted in the container."""

    name: str
    mount_path: str
    sub_path: str = ""
    read_only: bool = False


@dataclass(slots=True)
class PodSpec:
    """The arguments of one KubernetesPodOperator."""

    image: str
    namespace: str
    step: str | None = None  # name of the embedded step program constant, run with python -c
    boot: str | None = None  # user-image steps: python -c text that starts the runtime, or says what to install
    cmds: list[Templated] = field(default_factory=list)
    arguments: list[Templated] = field(default_factory=list)
    env: dict[str, Templated] = field(default_factory=dict)
    secrets: list[SecretRef] = field(default_factory=list)
    volumes: list[VolumeSpec] = field(default_factory=list)
    mounts: list[MountSpec] = field(default_factory=list)
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    tolerations: list[Toleration] = field(default_factory=list)
    node_selector: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    service_account: str | None = None
    fs_group: int | None = None  # shared POSIX store: the project's gid (pod securityContext.fsGroup)
    supplemental_groups: list[int] = field(default_factory=list)  # and the gids of the groups the node runs as
    image_pull_policy: str | None = None
    startup_timeout_seconds: int | None = None
    retries: int | None = None
    timeout_minutes: float | None = None
    do_xcom_push: bool = False
    multiple_outputs: bool = False
    pool: str | None = None  # the pipeline's GPU pool, on pods that request GPUs (Kubernetes targets only)
    pool_slots: int | None = None  # one slot per GPU


TaskKind = Literal["pod", "mapped_pod", "short_circuit", "trigger", "join"]


@dataclass(slots=True)
class Task:
    """One operator in the file, bound to the Python variable ``var``."""

    kind: TaskKind
    var: str
    task_id: str
    display_name: str | None = None
    pod: PodSpec | None = None
    expand_from: str | None = None  # mapped_pod: variable of the task whose output lists the mapped arguments
    max_active: int | None = None  # mapped_pod: max_active_tis_per_dagrun
    flag_of: str | None = None  # short_circuit: variable of the pod task whose XCom key decides
    flag_key: str | None = None
    trigger_dag_id: str | None = None  # trigger
    trigger_run_id: Tmpl | None = None  # trigger: the triggered run's id (one per run of this DAG)
    conf: dict[str, object] | None = None
    trigger_rule: str | None = None  # when it runs (join: "all_done"; best trial: "none_skipped"); None: all_success


@dataclass(slots=True)
class NodeTasks:
    """The tasks one node becomes: edges arrive at ``entry`` and leave from ``exit``."""

    tasks: list[Task]
    entry: str
    exit: str
    chain: list[tuple[str, str]] = field(default_factory=list)  # dependencies inside the node


@dataclass(slots=True)
class ParamSpec:
    """A DAG-level ``Param``."""

    name: str
    default: Any
    types: str | list[str]
    description: str
    enum: list[Any] | None
    minimum: float | None
    maximum: float | None


@dataclass(slots=True)
class DagPlan:
    """Everything one DAG file says."""

    dag_id: str
    description: str
    schedule: str | None
    start_date: tuple[int, int, int]
    catchup: bool
    owner: str
    retries: int
    retry_delay_seconds: int
    execution_timeout_minutes: float | None
    dagrun_timeout_minutes: float | None
    max_active_runs: int
    on_finish_action: str  # Kubernetes targets: default_args shared by every pod task
    startup_timeout_seconds: int
    deferrable: bool
    params: list[ParamSpec]
    tags: list[str]
    doc_md: str
    shared_env: dict[str, Tmpl]  # DAGSMITH_ENV: the variables every pod gets
    programs: dict[str, str]  # constant name -> step name
    tasks: list[Task]
    dependencies: list[tuple[str, str]]
    names: set[str]  # names to import from the target's modules
    stdlib: set[str]  # standard-library modules to import
