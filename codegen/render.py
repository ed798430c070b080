"""Rendering: one renderer per target behind a small protocol, Jinja set up for safe code generation."""

from __future__ import annotations

from typing import Any, Protocol

from dagsmith.nodes import Code, Issue, Pipeline, Severity, content_hash, has_errors, validate
from dagsmith.nodes.collector import collector_paused
from dagsmith.nodes.types import NodeType

from .compat import AIRFLOW2, AIRFLOW3, LOCAL_TARGET, Target
from .compat import target as target_named
from .errors import ExportError
from .jinja import environment
from .local import LocalRenderer
from .model import DagPlan
from .plan import build_plan
from .pod_profiles import pod_profiles
from .run_roots import EnvValues, run_roots
from .safety import check_source
from .versioning import header_lines, seal

NO_STEPS = Issue(
    Severity.ERROR,
    Code.EMPTY_PIPELINE,
    "the pipeline has no steps, so its DAG would run nothing; add a node from the palette before exporting",
    field="nodes",
)
"""Why a pipeline without nodes is not exported (validation only warns: a new pipeline starts empty)."""


class Renderer(Protocol):
    """Writes a DAG file for one target."""

    target: Target

    def render(self, plan: DagPlan) -> str:
        """The file body (without the version header) for ``plan``."""
        ...


class TemplateRenderer:
    """The renderer both Airflow targets share: one template, imports from the target's table."""

    template = "dag.py.jinja2"

    def __init__(self, target: Target) -> None:
        self.target = target

    def context(self, plan: DagPlan) -> dict[str, Any]:
        """What the template sees."""
        imports = self.target.imports(plan.names - {"k8s"})
        if "k8s" in plan.names:
            imports.append(("kubernetes.client", ["models as k8s"]))
        # Built-in steps are not embedded: their pods run ``python -m dagsmith_steps <step>`` in the step image.
        return {
            "plan": plan,
            "imports": sorted(imports),
            "stdlib": sorted(plan.stdlib),
            "has_pods": any(task.pod is not None for task in plan.tasks),
            "profiles": pod_profiles(plan.tasks),
            "env_value": EnvValues(run_roots(plan.tasks)),
            "edges_after": edges_after(plan),
        }

    def render(self, plan: DagPlan) -> str:
        """The file body for ``plan``."""
        return environment().get_template(self.template).render(self.context(plan))


def edges_after(plan: DagPlan) -> dict[str, list[tuple[str, str]]]:
    """Each dependency, under the task after whose definition it is written: the later of its two tasks.

    Written there rather than all at the end, an ``a >> b`` costs Airflow less: each one hashes the DAG, and
    that hash covers every task defined so far (parse time at 1,000 tasks: bench/PROFILE.md, Session 7). The
    order of the dependencies is kept; one whose task is not in the plan goes under the key ``""`` (the end).
    """
    position = {task.var: index for index, task in enumerate(plan.tasks)}
    after: dict[str, list[tuple[str, str]]] = {}
    for upstream, downstream in plan.dependencies:
        if upstream in position and downstream in position:
            key = plan.tasks[max(position[upstream], position[downstream])].var
        else:
            key = ""
        after.setdefault(key, []).append((upstream, downstream))
    return after


RENDERERS: dict[str, Renderer] = {t.name: TemplateRenderer(t) for t in (AIRFLOW3, AIRFLOW2)}
RENDERERS[LOCAL_TARGET.name] = LocalRenderer(LOCAL_TARGET)


def render(pipeline: Pipeline, *, version: int = 1, target: str = "airflow3") -> str:
    """The whole DAG file for ``pipeline`` at ``version``: header, imports, DAG, tasks, dependencies.

    Raises ExportError (with the blocking issues) when the pipeline does not validate or has no steps, and
    ValueError for an unknown target. Same document and version give byte-identical output. ``target="local"``
    writes the DAG that ``dagsmith run --local`` runs on this machine (see ``local``).
    """
    chosen = target_named(target)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be a positive integer, not {version!r}")
    with collector_paused():
        return _render(pipeline, version, chosen)


def _render(pipeline: Pipeline, version: int, chosen: Target) -> str:
    instances: dict[str, NodeType] = {}  # each node's parameters as validation read them: the plan reuses them
    issues = [issue for issue in validate(pipeline, instances=instances) if issue.is_error]
    if has_errors(issues):
        raise ExportError(issues)
    if not pipeline.nodes:
        raise ExportError([NO_STEPS])
    digest = content_hash(pipeline)  # the header and the DAG's doc both name it: hash the document once
    plan = build_plan(pipeline, version=version, digest=digest, instances=instances)
    body = RENDERERS[chosen.name].render(plan)
    text = seal(header_lines(pipeline, version=version, target=chosen.name, digest=digest), body)
    check_source(text)
    return text
