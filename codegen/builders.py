"""What each node type becomes: its tasks, their pods and the step program each pod runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dagsmith.nodes import CATALOG, Edge, Node, Pipeline, PipelineSettings
from dagsmith.nodes.types import (
    BentoDeploy,
    HyperparameterSearch,
    ModelGate,
    Monitor,
    NodeType,
    Notebook,
    Script,
)

from .artifacts import VALUE_TYPES, Artifacts, contract_env, step_env, xcom_value
from .literals import ident
from .model import NodeTasks, PodSpec, Task, Templated
from .pods import pod_spec, resource_dicts
from .steps import RUNTIME_VERSION, VERSION_ENV
from .templating import Tmpl, run_macro, uses_macros

_ENV_REF = "$dagsmith_env"

USER_IMAGE_STEPS = frozenset({"exec", "notebook", "hpo_trial"})
"""Steps that run the user's code, so in the user's image (which must hold ``dagsmith-steps`` too)."""

USER_IMAGE_BOOT = (
    "import importlib.util, runpy, sys; "
    'importlib.util.find_spec("dagsmith_steps") or sys.exit('
    '"[dagsmith] error: this image has no dagsmith step runtime (Python package dagsmith_steps), which runs '
    "the step and stores its artifacts; install it in the step's image: pip install "
    f"'dagsmith-steps=={RUNTIME_VERSION}' (from the steps/ folder of a dagsmith checkout), or build the image "
    'FROM the step image (dagsmith step-image)"); '
    'runpy.run_module("dagsmith_steps", run_name="__main__", alter_sys=True)'
)
"""What a pod in the user's image runs instead of ``python -m dagsmith_steps``: the same, but an image without
the runtime fails with a line that says what to install (``python -m`` would only say "No module named")."""

DEFAULT_STEP_IMAGE = f"dagsmith/steps:{RUNTIME_VERSION}"
"""The step image when the pipeline settings name none (``dagsmith step-image --build --tag`` builds it)."""


def step_image(settings: PipelineSettings) -> str:
    """The image the built-in steps run in: the pipeline's ``step_image``, else the default for this runtime."""
    return settings.step_image or DEFAULT_STEP_IMAGE


@dataclass
class Context:
    """What building one node needs to know about the whole export; collects the step programs used."""

    pipeline: Pipeline
    version: int
    artifacts: Artifacts
    incoming: dict[str, list[Edge]]
    programs: dict[str, str] = field(default_factory=dict)  # constant name -> step name
    instances: Mapping[str, NodeType] = field(default_factory=dict)  # node id -> parameters validate() read

    def program(self, step: str) -> str:
        """The module constant holding step ``step``'s program (registered for embedding)."""
        name = ident("STEP_" + step.upper())
        self.programs[name] = step
        return name


def variable(task_id: str) -> str:
    """The Python variable of a task: its task id (ruff AIR001), which ``Node.task_id`` keeps clear of
    keywords, builtins and the names the file imports."""
    return ident(task_id)


def split_config(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Tmpl]]:
    """The config with every string that uses run-time macros moved to its own env variable.

    ``DAGSMITH_CONFIG`` itself is written literally (Airflow renders nothing in it); a moved string
    is replaced by ``{"$dagsmith_env": NAME}``, which the step runtime resolves.
    """
    env: dict[str, Tmpl] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, str) and uses_macros(value):
            name = f"DAGSMITH_CONFIG_{len(env)}"
            env[name] = Tmpl.user(value)
            return {_ENV_REF: name}
        if isinstance(value, dict):
            return {key: walk(value[key]) for key in sorted(value)}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    return walk(config), env


def _pod(
    ctx: Context,
    node: Node,
    instance: NodeType,
    *,
    step: str | None = None,
    config: dict[str, Any] | None = None,
    pushes: bool = False,
    multiple_outputs: bool = False,
    gpu: bool = True,
    env: dict[str, Tmpl] | None = None,
) -> PodSpec:
    pod = instance.pod
    spec = pod_spec(ctx.pipeline.settings, node, pod, gpu=gpu)
    variables: dict[str, Any] = dict(contract_env(ctx.artifacts, node, type(instance), ctx.incoming.get(node.id, [])))
    if config is not None:
        literal, moved = split_config(config)
        variables["DAGSMITH_CONFIG"] = Tmpl.literal(json.dumps(literal, sort_keys=True))
        variables.update(moved)
    if step is not None:
        # The step runtime checks that it is the version this DAG was exported for (dagsmith_steps.__main__).
        variables[VERSION_ENV] = Tmpl.literal(RUNTIME_VERSION)
        if step not in USER_IMAGE_STEPS:
            spec.image = pod.image or step_image(ctx.pipeline.settings)
        else:
            spec.boot = USER_IMAGE_BOOT
    variables.update(env or {})
    spec.env, spec.secrets = step_env(ctx.pipeline.settings, pod, variables)
    spec.step = ctx.program(step) if step else None
    spec.do_xcom_push = pushes
    spec.multiple_outputs = multiple_outputs
    return spec


def _params(instance: NodeType, *names: str) -> dict[str, Any]:
    data = instance.model_dump(mode="json", include=set(names))
    return {name: data[name] for name in names}


def _pod_task(node: Node, spec: PodSpec, task_id: str | None = None) -> Task:
    task_id = task_id or node.task_id()
    display = node.label if node.label and task_id == node.task_id() and node.label != task_id else None
    return Task(kind="pod", var=variable(task_id), task_id=task_id, display_name=display, pod=spec)


def _single(task: Task) -> NodeTasks:
    return NodeTasks(tasks=[task], entry=task.var, exit=task.var)


def _reports_values(instance: NodeType, node: Node) -> bool:
    return any(port.type in VALUE_TYPES for port in type(instance).ports(node.params)[1])


def script(ctx: Context, node: Node, instance: NodeType) -> NodeTasks:
    """The user's Python file (``python FILE``) or command, with its arguments, run by the ``exec`` step.

    The step runtime fetches the inputs before the command and stores the outputs after it, on every target
    (``python -m dagsmith_steps exec -- COMMAND``; locally the same step's embedded source).
    """
    assert isinstance(instance, Script)
    spec = _pod(ctx, node, instance, step="exec", pushes=_reports_values(instance, node))
    command: list[Templated] = ["python", instance.script] if instance.script else list(instance.command)
    spec.cmds = ["--", *command]
    spec.arguments = list(instance.arguments)
    return _single(_pod_task(node, spec))


def notebook(ctx: Context, node: Node, instance: NodeType) -> NodeTasks:
    """papermill runs the notebook with its parameters and keeps the executed copy."""
    assert isinstance(instance, Notebook)
    config = _params(instance, "notebook", "parameters", "kernel")
    spec = _pod(ctx, node, instance, step="notebook", config=config, pushes=_reports_values(instance, node))
    spec.arguments = list(instance.arguments)
    return _single(_pod_task(node, spec))


def _step(step: str, fields: tuple[str, ...], *, pushes: bool = False) -> Builder:
    def build(ctx: Context, node: Node, instance: NodeType) -> NodeTasks:
        spec = _pod(ctx, node, instance, step=step, config=_params(instance, *fields), pushes=pushes)
        return _single(_pod_task(node, spec))

    build.__doc__ = f"One pod running the {step} step."
    return build


def _short_circuit(node: Node, source: Task, suffix: str, key: str) -> Task:
    task_id = f"{node.task_id()}__{suffix}"  # a slug never holds "__": cannot clash with a node's task
    return Task(kind="short_circuit", var=variable(task_id), task_id=task_id, flag_of=source.var, flag_key=key)


def _reach(links: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for item in links.get(todo.pop(), set()) - seen:
            seen.add(item)
            todo.append(item)
    return seen


def deploys_after(pipeline: Pipeline, node_id: str) -> list[Node]:
    """The ``bentoml_deploy`` nodes downstream of a node, in pipeline order."""
    children: dict[str, set[str]] = {}
    for edge in pipeline.edges:
        children.setdefault(edge.source, set()).add(edge.target)
    below = _reach(children, node_id)
    return [item for item in pipeline.nodes if item.id in below and item.type == "bentoml_deploy"]


def model_gate(ctx: Context, node: Node, instance: NodeType) -> NodeTasks:
    """Gate pod, short-circuit, and the promote pod that moves the champion alias once the version serves.

    The gate only decides (``passed``, ``decision``); on a fail the short-circuit skips the branch below
    it. ``<task>__promote`` runs after every deploy downstream of the gate, or right after the
    short-circuit when there is none, so a failed build or deploy leaves the alias naming the version
    that serves.
    """
    assert isinstance(instance, ModelGate)
    fields = ("metric", "direction", "threshold", "compare_to_champion", "min_improvement")
    config = _params(instance, *fields, "candidate_alias", "champion_alias")
    spec = _pod(ctx, node, instance, step="model_gate", config=config, pushes=True, multiple_outputs=True)
    gate = _pod_task(node, spec)
    passed = _short_circuit(node, gate, "passed", "passed")
    decision = {"DAGSMITH_VALUE_DECISION": xcom_value(gate.task_id, "decision")}
    config = _params(instance, "champion_alias")
    promote_spec = _pod(ctx, node, instance, step="promote_model", config=config, gpu=False, env=decision)
    promote = _pod_task(node, promote_spec, f"{node.task_id()}__promote")
    chain = [(gate.var, passed.var)]
    deploys = deploys_after(ctx.pipeline, node.id)
    chain += [(variable(deploy.task_id()), promote.var) for deploy in deploys] or [(passed.var, promote.var)]
    return NodeTasks(tasks=[gate, passed, promote], entry=gate.var, exit=passed.var, chain=chain)


def retrain_active_runs(dag_id: str) -> Tmpl:
    """How many runs of ``dag_id`` are queued or running, counted by Airflow 3 when it renders the task.

    Airflow 3's task instance asks the API server (``get_dr_count``); Airflow 2 has no such call and the
    value renders empty (the monitor step then relies on its cooldown). ``dag_id`` is validated
    (letters, digits, ``_.-``), so it cannot end the quoted Jinja string.
    """
    count = f"ti.get_dr_count(dag_id='{dag_id}', states=['queued', 'running'])"
    return Tmpl.macro(f"{count} if ti.get_dr_count is defined else ''")


def monitor(ctx: Context, node: Node, instance: NodeType) -> NodeTasks:
    """The monitor pod measures and decides ``trigger``; only then does the retraining DAG get triggered.

    The pod gets the number of queued or running retraining runs (``DAGSMITH_RETRAIN_ACTIVE_RUNS``) and
    the run id the trigger will use (``DAGSMITH_RETRAIN_RUN_ID``: one per monitor run, so a retried or
    cleared trigger task cannot start a second retraining); it refuses within ``cooldown_hours`` of the
    last trigger it recorded in the monitoring experiment.
    """
    assert isinstance(instance, Monitor)
    fields = ("source", "metric", "model_name", "model_alias", "threshold", "trigger_when", "retrain_dag_id")
    config = _params(instance, *fields, "monitoring_experiment", "cooldown_hours")
    retrain_run_id = Tmpl.literal("dagsmith_retrain__") + run_macro("run_id")
    env = {
        "DAGSMITH_RETRAIN_ACTIVE_RUNS": retrain_active_runs(instance.retrain_dag_id),
        "DAGSMITH_RETRAIN_RUN_ID": retrain_run_id,
    }
    spec = _pod(ctx, node, instance, step="monitor", config=config, pushes=True, multiple_outputs=True, env=env)
    watch = _pod_task(node, spec)
    check = _short_circuit(node, watch, "should_retrain", "trigger")
    trigger_id = f"{node.task_id()}__retrain"
    trigger = Task(
        kind="trigger",
        var=variable(trigger_id),
        task_id=trigger_id,
        trigger_dag_id=instance.retrain_dag_id,
        trigger_run_id=retrain_run_id,
        conf=dict(instance.retrain_conf),
    )
    chain = [(watch.var, check.var), (check.var, trigger.var)]
    return NodeTasks(tasks=[watch, check, trigger], entry=watch.var, exit=watch.var, chain=chain)


def bentoml_deploy(ctx: Context, node: Node, instance: NodeType) -> NodeTasks:
    """A pod that applies the Deployment, Service and HPA (and the monitoring objects) and waits for the rollout.

    The rollout is rolled back on failure. ``monitoring`` is how Prometheus scrapes the service, its alerts'
    thresholds and where its Grafana dashboard goes (``dagsmith_steps.serving_monitoring``).
    """
    assert isinstance(instance, BentoDeploy)
    settings = ctx.pipeline.settings
    requests, limits, selector = resource_dicts(instance.replica_resources, settings.default_resources)
    config = _params(instance, "deployment_name", "min_replicas", "max_replicas", "target_cpu_utilization")
    config.update(_params(instance, "port", "service_type", "rollout_timeout_seconds"))
    config["namespace"] = instance.namespace or settings.namespace
    monitoring = instance.monitoring.model_dump(mode="json")
    config["monitoring"] = monitoring | {
        "dashboard_namespace": monitoring["dashboard_namespace"] or config["namespace"]
    }
    config["resources"] = {"requests": requests, "limits": limits, "node_selector": selector}
    spec = _pod(ctx, node, instance, step="bentoml_deploy", config=config, pushes=True)
    return _single(_pod_task(node, spec))


def hyperparameter_search(ctx: Context, node: Node, instance: NodeType) -> NodeTasks:
    """Trials task, mapped GPU trial pods (``partial``/``expand``) and the task that picks the best.

    The best-trial task runs with the trigger rule ``none_skipped``: after the trials whatever they ended
    as (it chooses among the successful ones and fails below ``min_successful_trials``), but not when the
    branch was skipped.
    """
    assert isinstance(instance, HyperparameterSearch)
    task_id = node.task_id()
    config = _params(instance, "search_space", "objective_metric", "direction", "algorithm", "max_trials", "seed")
    config["experiment"] = instance.experiment or ctx.pipeline.settings.name
    trials_spec = _pod(ctx, node, instance, step="hpo_trials", config=config, pushes=True, gpu=False)
    trials = _pod_task(node, trials_spec, f"{task_id}__trials")
    trial_spec = _pod(ctx, node, instance, step="hpo_trial")
    trial_spec.cmds = ["--", *instance.command, *instance.arguments]
    trial_id = f"{task_id}__trial"
    trial = Task(
        kind="mapped_pod",
        var=variable(trial_id),
        task_id=trial_id,
        pod=trial_spec,
        expand_from=trials.var,
        max_active=instance.parallelism,
    )
    pull = Tmpl.macro(f"ti.xcom_pull(task_ids='{trials.task_id}') | tojson")
    best_spec = _pod(
        ctx,
        node,
        instance,
        step="hpo_best",
        config=_params(instance, "objective_metric", "direction", "min_successful_trials"),
        pushes=True,
        gpu=False,
        env={"DAGSMITH_TRIALS": pull},
    )
    best = _pod_task(node, best_spec)
    best.trigger_rule = "none_skipped"  # runs when some trials failed (it counts them), not in a skipped branch
    chain = [(trials.var, trial.var), (trial.var, best.var)]
    return NodeTasks(tasks=[trials, trial, best], entry=trials.var, exit=best.var, chain=chain)


Builder = Callable[[Context, Node, NodeType], NodeTasks]

BUILDERS: dict[str, Builder] = {
    "script": script,
    "notebook": notebook,
    "feature_retrieval": _step(
        "feature_retrieval",
        ("feast_repo", "feature_service", "features", "entity_source", "event_timestamp_column", "full_feature_names"),
    ),
    "feature_materialize": _step("feature_materialize", ("feast_repo", "feature_views", "incremental", "start", "end")),
    "hyperparameter_search": hyperparameter_search,
    "register_model": _step("register_model", ("model_name", "artifact_path", "alias", "tags"), pushes=True),
    "model_gate": model_gate,
    "bentoml_build": _step(
        "bentoml_build",
        ("bento_name", "service", "model_name", "model_alias", "build_context", "image_repository", "image_tag"),
        pushes=True,
    ),
    "bentoml_deploy": bentoml_deploy,
    "batch_predict": _step(
        "batch_predict",
        ("model_name", "model_alias", "id_column", "score_column", "top_k", "threshold", "output_format"),
    ),
    "monitor": monitor,
}
"""One builder per built-in node type."""


def build_node(ctx: Context, node: Node) -> NodeTasks:
    """The tasks ``node`` becomes (the node must have passed validation)."""
    node_type = CATALOG.get(node.type)
    builder = BUILDERS.get(node.type)
    if node_type is None or builder is None:
        raise ValueError(f"no code generation for node type {node.type!r}")
    instance = ctx.instances.get(node.id)
    if not isinstance(instance, node_type):
        instance = node_type.model_validate(node.params)
    return builder(ctx, node, instance)
