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


Found = list[tuple[str, str, bool]]
"""Strings found in a value: (dotted field path, the string, whether it is a dict key)."""


def strings_containing(value: object, needle: str, *, keys: bool = False) -> Found:
    """Every string in ``value`` that contains ``needle``, with its dotted field path, in document order.

    ``keys=True`` includes dict keys (at the path of their dict, flagged). A path is written only for a string
    that matches and for the containers on the way to one: most strings of a document hold no macro at all.
    """
    if isinstance(value, str):
        return [("", value, False)] if needle in value else []
    found: Found = []
    stack: list[tuple[str, Iterator[tuple[object, object]]]] = []
    if isinstance(value, dict | list | tuple):
        stack.append(("", _entries(value)))
    while stack:
        where, entries = stack[-1]
        for key, item in entries:
            if keys and isinstance(key, str) and needle in key:
                found.append((where, key, True))
            if isinstance(item, str):
                if needle in item:
                    found.append((f"{where}.{key}" if where else str(key), item, False))
            elif isinstance(item, dict | list | tuple):
                stack.append((f"{where}.{key}" if where else str(key), _entries(item)))
                break  # the container's strings come before its later siblings'
        else:
            stack.pop()
    return found


def _entries(value: dict[object, object] | list[object] | tuple[object, ...]) -> Iterator[tuple[object, object]]:
    return iter(value.items()) if isinstance(value, dict) else enumerate(value)


def param_texts(pipeline: Pipeline) -> list[Found]:
    """Per node (in order), the strings of its parameters that mention ``params``, dict keys included.

    ``validate()`` finds them once for both parameter checks (undefined and unused).
    """
    return [strings_containing(node.params, "params", keys=True) for node in pipeline.nodes]


def undefined_param_issues(pipeline: Pipeline, texts: list[Found] | None = None) -> list[Issue]:
    """An error for each field that refers to a run-time parameter the pipeline settings do not define.

    ``texts``: ``param_texts(pipeline)`` when the caller has it already.
    """
    defined = sorted({param.name for param in pipeline.settings.params})
    known = set(defined)
    issues: list[Issue] = []
    for node, found in zip(pipeline.nodes, texts if texts is not None else param_texts(pipeline), strict=True):
        for field, text, is_key in found:
            if is_key:
                continue
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
