"""Run-time parameters that no node uses: a run could set them and nothing would change."""

from __future__ import annotations

import re

from .document import Pipeline
from .issues import Code, Issue, Severity
from .param_refs import Found, param_texts, strings_containing

_USE = re.compile(r"\{\{[^}]*?\bparams\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")
"""``{{ params.name }}`` or ``{{ params['name'] }}`` (with filters or expressions around it)."""

PARAM_REF = r"^\{\{\s*params\.[A-Za-z_][A-Za-z0-9_]*\s*\}\}$"
"""A field value that is exactly one run-time parameter, e.g. ``{{ params.top_k }}``."""


def used_params(pipeline: Pipeline, texts: list[Found] | None = None) -> set[str]:
    """Names of the run-time parameters that some node's parameters or output paths refer to.

    ``texts``: ``param_texts(pipeline)`` when the caller has it already.
    """
    used: set[str] = set()
    for node, found in zip(pipeline.nodes, texts if texts is not None else param_texts(pipeline), strict=True):
        outputs = [out.model_dump() for out in node.outputs.values()]
        for _, text, _ in [*found, *strings_containing(outputs, "params", keys=True)]:
            used.update(dotted or quoted for dotted, quoted in _USE.findall(text))
    return used


def unused_param_issues(pipeline: Pipeline, texts: list[Found] | None = None) -> list[Issue]:
    """A warning for each run-time parameter that no node uses, naming it and its settings field."""
    used = used_params(pipeline, texts)
    return [
        Issue(
            Severity.WARNING,
            Code.UNUSED_PARAM,
            f"the run-time parameter {param.name!r} is used by no node, so setting it for a run changes "
            f"nothing; write {{{{ params.{param.name} }}}} where a node should take it, or remove it",
            field=f"settings.params.{index}.name",
        )
        for index, param in enumerate(pipeline.settings.params)
        if param.name not in used
    ]
