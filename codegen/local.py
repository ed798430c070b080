"""The ``local`` target: the same DAG, with every step a local process instead of a Kubernetes pod.

Each pod task becomes a ``BashOperator`` that runs one fixed command (``compat.LOCAL_BASH``): it starts the
embedded launcher (``steps/local_launcher.py``), which runs the step's command line with the pod's
``DAGSMITH_*`` variables and hands the step's values to XCom. The command line travels in environment
variables (``DAGSMITH_ARG_<i>``), each a templated string like the pod's ``cmds``/``arguments``, so user
text is escaped exactly as for a pod and never parsed by a shell. Kubernetes-only settings (image,
resources, GPUs, volumes, tolerations, service accounts) do not apply; secrets are read from the local
environment under the same variable names. The BentoML steps run in their local form: the Bento stays in
the local store, and the deploy step serves it on 127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagsmith.nodes import Pipeline

from . import steps
from .artifacts import KUBERNETES_ONLY_ENV
from .compat import LOCAL_BASH, LOCAL_BASH_NAME, Target
from .jinja import environment
from .literals import ident
from .model import DagPlan, PodSpec, Task, Templated
from .templating import Tmpl, escape

LOCAL_PROGRAMS = {"bentoml_build": "bentoml_build_local", "bentoml_deploy": "bentoml_serve_local"}
"""Step programs replaced by their local form."""


@dataclass(frozen=True, slots=True)
class EnvEntry:
    """One variable of a local task's ``env``: a templated value, or (``name``) a program constant."""

    key: str
    value: Templated | None = None
    name: str | None = None


@dataclass(slots=True)
class LocalTask:
    """A pod task in its local form."""

    task: Task
    env: list[EnvEntry]
    pushes: bool


def _command(pod: PodSpec, program: str | None) -> list[EnvEntry]:
    """The step's command line as ``DAGSMITH_ARGC`` and ``DAGSMITH_ARG_<i>`` (what the pod's cmds+args say)."""
    entries: list[EnvEntry] = []
    if program is not None:
        entries += [EnvEntry("DAGSMITH_ARG_0", "python"), EnvEntry("DAGSMITH_ARG_1", "-c")]
        entries.append(EnvEntry("DAGSMITH_ARG_2", name=program))
    for item in [*pod.cmds, *pod.arguments]:
        entries.append(EnvEntry(f"DAGSMITH_ARG_{len(entries)}", item))
    return [EnvEntry("DAGSMITH_ARGC", Tmpl.literal(str(len(entries)))), *entries]


def local_task(task: Task, constants: dict[str, str], expands: bool) -> LocalTask:
    """The local form of a pod task: launcher variables, then the pod's variables in their order."""
    pod = task.pod
    assert pod is not None
    program = constants[pod.step] if pod.step else None
    env = _command(pod, program)
    pushes = pod.do_xcom_push or expands
    if pushes:
        env.append(EnvEntry("DAGSMITH_LOCAL_PUSH", Tmpl.literal("1")))
    if expands:
        env.append(EnvEntry("DAGSMITH_LOCAL_EXPAND", Tmpl.literal("trials")))
    # A pod-only variable points into a secret mounted in the pod; a local step uses its own environment's.
    env += [EnvEntry(key, value) for key, value in pod.env.items() if key not in KUBERNETES_ONLY_ENV]
    return LocalTask(task=task, env=env, pushes=pushes)


class LocalRenderer:
    """Renders ``local.py.jinja2`` from the same plan the Kubernetes targets use."""

    template = "local.py.jinja2"

    def __init__(self, target: Target) -> None:
        self.target = target

    def context(self, plan: DagPlan) -> dict[str, Any]:
        """What the template sees: programs (local forms), the launcher and the tasks' local forms."""
        names = {name for name in plan.names if name not in ("KubernetesPodOperator", "Secret", "k8s")}
        if any(task.pod is not None for task in plan.tasks):
            names.add("BashOperator")
        constants: dict[str, str] = {}
        programs: dict[str, str] = {}
        for constant, step in plan.programs.items():
            local = LOCAL_PROGRAMS.get(step, step)
            constants[constant] = ident("STEP_" + local.upper()) if local != step else constant
            programs[constants[constant]] = "\n\n\n" + steps.source(local)
        launcher = steps.source("local_launcher")
        for text in [launcher, *programs.values()]:
            if escape(text, macros=False) != text:  # env is a templated field
                raise ValueError("a step program contains Jinja syntax; it would be altered by Airflow")
        expanded = {task.expand_from for task in plan.tasks if task.kind == "mapped_pod"}
        tasks = [
            local_task(task, constants, task.var in expanded) if task.pod is not None else task for task in plan.tasks
        ]
        pushes = any(isinstance(task, LocalTask) and task.pushes for task in tasks)
        return {
            "plan": plan,
            "imports": sorted(self.target.imports(names)),
            "stdlib": sorted({*plan.stdlib, "json"} if pushes else plan.stdlib),  # json.loads: the XCom line
            "runtime": steps.source("runtime") + "\n\n\n" + steps.source("local_runtime"),
            "programs": dict(sorted(programs.items())),
            "launcher": launcher,
            "bash": LOCAL_BASH,
            "bash_name": LOCAL_BASH_NAME,
            "tasks": tasks,
        }

    def render(self, plan: DagPlan) -> str:
        """The file body for ``plan``."""
        env = environment()
        return env.get_template(self.template).render(self.context(plan))


def task_nodes(pipeline: Pipeline) -> dict[str, str]:
    """Each node's task id -> node id (a helper task ``<task>__<what>`` belongs to ``<task>``'s node)."""
    return {node.task_id(): node.id for node in pipeline.nodes}


def node_of_task(pipeline: Pipeline, task_id: str) -> str | None:
    """The node a task id belongs to (helper tasks such as ``gate__passed`` belong to ``gate``)."""
    return task_nodes(pipeline).get(task_id.split("__", 1)[0])
