"""Rendering: one renderer per target behind a small protocol, Jinja set up for safe code generation."""

from __future__ import annotations

import ast
from functools import lru_cache
from typing import Any, Protocol

import jinja2

from dagsmith.nodes import Code, Issue, Pipeline, Severity, has_errors, validate

from . import steps
from .compat import AIRFLOW2, AIRFLOW3, LOCAL_TARGET, Target
from .compat import target as target_named
from .errors import ExportError
from .literals import ident, py_block, py_literal
from .local import LocalRenderer, ltpl_filter
from .model import DagPlan
from .plan import build_plan
from .safety import check_source
from .templating import Tmpl, escape
from .versioning import header_lines, seal

NO_STEPS = Issue(
    Severity.ERROR,
    Code.EMPTY_PIPELINE,
    "the pipeline has no steps, so its DAG would run nothing; add a node from the palette before exporting",
    field="nodes",
)
"""Why a pipeline without nodes is not exported (validation only warns: a new pipeline starts empty)."""


def templated(value: object, *, keys: bool = False) -> object:
    """``value`` with every string made safe for an Airflow-templated field.

    User strings are escaped (keeping the allowed run-time macros); ``Tmpl`` values are already
    safe. Dict keys are escaped only with ``keys=True`` (for env vars, whose names Airflow renders).
    """
    if isinstance(value, Tmpl):
        return value.final()
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, list):
        return [templated(item, keys=keys) for item in value]
    if isinstance(value, dict):
        return {(escape(key, macros=False) if keys else key): templated(item, keys=keys) for key, item in value.items()}
    return value


def tpl_filter(value: object, indent: int = 0, keys: bool = False) -> str:
    """Jinja filter: the literal of a value for a templated field (see ``templated``)."""
    return py_literal(templated(value, keys=keys), indent)


def tpl_key_filter(name: str) -> str:
    """Jinja filter: an env var name (Airflow renders those too), as a literal."""
    return py_literal(escape(name, macros=False))


def block_filter(text: str) -> str:
    """Jinja filter: a raw block literal, checked to read back as exactly ``text``."""
    literal = py_block(text)
    if ast.literal_eval(literal) != text:
        raise ValueError("a block literal does not read back as its text")
    return literal


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja environment for code templates (StrictUndefined; no autoescape: this is Python)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dagsmith.codegen", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(
        py=py_literal, tpl=tpl_filter, ltpl=ltpl_filter, tpl_key=tpl_key_filter, ident=ident, py_block=block_filter
    )
    return env


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
        programs = {constant: "\n\n\n" + steps.source(step) for constant, step in plan.programs.items()}
        for text in programs.values():
            if escape(text, macros=False) != text:  # cmds is a templated field
                raise ValueError("a step program contains Jinja syntax; it would be altered by Airflow")
        return {
            "plan": plan,
            "imports": sorted(imports),
            "stdlib": sorted(plan.stdlib),
            "runtime": steps.source("runtime"),
            "programs": programs,
            "has_pods": any(task.pod is not None for task in plan.tasks),
        }

    def render(self, plan: DagPlan) -> str:
        """The file body for ``plan``."""
        return environment().get_template(self.template).render(self.context(plan))


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
    issues = [issue for issue in validate(pipeline) if issue.is_error]
    if has_errors(issues):
        raise ExportError(issues)
    if not pipeline.nodes:
        raise ExportError([NO_STEPS])
    body = RENDERERS[chosen.name].render(build_plan(pipeline, version=version))
    text = seal(header_lines(pipeline, version=version, target=chosen.name), body)
    check_source(text)
    return text
