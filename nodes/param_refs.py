"""``{{ params.name }}`` references in node fields, and the ones that name no run-time parameter.

Generated code keeps exactly these references as Jinja (``codegen.templating`` builds its pattern from
``PARAM_MACRO``) and escapes every other form, so a name that the pipeline does not define would fail
the task at run time. ``validate()`` reports it instead, at the node and field that use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .checks import closest
from .document import Pipeline
from .issues import Code, Issue, Severity

PARAM_MACRO = r"params\.[A-Za-z][A-Za-z0-9_]*"
"""The run-time parameter macro (inside ``{{ }}``) that generated code renders; templating uses it too."""

_REF_RE = re.compile(r"\{\{\s*params\.(?P<name>[A-Za-z][A-Za-z0-9_]*)\s*\}\}")


def param_refs(text: str) -> list[str]:
    """The parameter names ``text`` refers to as ``{{ params.name }}``, in order (repeats included)."""
    if "params" not in text:
        return []
    return [match.group("name") for match in _REF_RE.finditer(text)]


def _strings(value: object, path: str) -> Iterator[tuple[str, str]]:
    """Every string in ``value`` with its dotted field path, in document order."""
    stack: list[tuple[str, object]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            stack.extend((f"{where}.{key}" if where else str(key), v) for key, v in reversed(item.items()))
        elif isinstance(item, list | tuple):
            stack.extend((f"{where}.{i}" if where else str(i), item[i]) for i in range(len(item) - 1, -1, -1))


def undefined_param_issues(pipeline: Pipeline) -> list[Issue]:
    """An error for each field that refers to a run-time parameter the pipeline settings do not define."""
    defined = sorted({param.name for param in pipeline.settings.params})
    known = set(defined)
    issues: list[Issue] = []
    for node in pipeline.nodes:
        for field, text in _strings(node.params, ""):
            missing = dict.fromkeys(name for name in param_refs(text) if name not in known)
            for name in missing:
                suggestions = tuple(closest(name, defined))
                hint = f" Did you mean {' or '.join(map(repr, suggestions))}?" if suggestions else ""
                if defined:
                    what = "the pipeline's run-time parameters are " + ", ".join(map(repr, defined))
                else:
                    what = "the pipeline defines no run-time parameters"
                issues.append(
                    Issue(
                        Severity.ERROR,
                        Code.UNDEFINED_PARAM,
                        f"{{{{ params.{name} }}}} refers to the run-time parameter {name!r}, which is not defined; "
                        f"{what}. Add it in the pipeline settings or correct the name.{hint}",
                        node=node.id,
                        field=field,
                        suggestions=suggestions,
                    )
                )
    return issues
