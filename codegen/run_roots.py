"""The per-run folders that artifact paths start with, written once as module-level string constants.

Every artifact path and staging folder of a run starts with a root and the run's key (``{{ run_id |
replace(...) }}``): ``/tmp/dagsmith-artifacts/project/{{ run_id | ... }}/n0/output``. Repeated on every
input and output of every task, that prefix was the bulk of a large DAG file. A prefix that several
environment values share becomes a constant (``ARTIFACTS_RUN = "...{{ run_id | ... }}"``) and each value
``ARTIFACTS_RUN + "/n0/output"``: the same string once Python evaluates it, so Airflow renders and the pod
receives exactly what the inline literal gave. Both parts are written with ``py_literal``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .artifacts import RUN_KEY, STAGING_ROOT
from .jinja import templated, tpl_key_filter
from .literals import py_literal
from .model import Task
from .templating import Tmpl

RUN_MARK = "{{ " + RUN_KEY + " }}"
"""How the run key reads in a finished templated value."""

_MIN_USES = 2
_RUFF_WIDTH = 88  # ruff format's default line length, which generated files keep


def _prefix(value: object) -> str | None:
    """The part of a finished env value up to and including the run key, or None."""
    if not isinstance(value, str):
        return None
    at = value.find(RUN_MARK)
    return value[: at + len(RUN_MARK)] if at > 0 else None


def run_roots(tasks: list[Task]) -> dict[str, str]:
    """Prefix -> constant name, for the run prefixes that at least two env values of the file share."""
    counts: Counter[str] = Counter()
    for task in tasks:
        if task.pod is not None:
            for value in task.pod.env.values():
                prefix = _prefix(templated(value))
                if prefix is not None:
                    counts[prefix] += 1
    names: dict[str, str] = {}
    for prefix, uses in counts.items():  # in order of first use: deterministic
        if uses < _MIN_USES:
            continue
        stem = "STAGING_RUN" if prefix.startswith(STAGING_ROOT + "/") else "ARTIFACTS_RUN"
        name, number = stem, 2
        while name in names.values():
            name, number = f"{stem}_{number}", number + 1
        names[prefix] = name
    return names


@dataclass(frozen=True, slots=True)
class EnvValues:
    """Writes env values for a templated field (``env_value(value, indent)`` in the templates)."""

    roots: dict[str, str]  # prefix -> constant name (``run_roots``)
    lines: dict[tuple[object, ...], str] = field(default_factory=dict, compare=False, repr=False)
    """Lines written so far, by name, value and indent: many tasks share most of their env entries."""

    def __call__(self, value: object, indent: int = 0, key: str = "") -> str:
        """``CONSTANT + "rest"`` when the finished value starts with a hoisted root, else its literal.

        ``key`` is the dict key the value follows on its line (``"KEY": value,``): a line longer than ruff's
        88 columns is broken before the ``+`` the way ``ruff format`` writes it.
        """
        return self._literal(templated(value), indent, len(tpl_key_filter(key)))

    def entries(self, env: dict[str, object], indent: int) -> str:
        """The lines ``"KEY": value,`` of an env dict, ``indent`` spaces in (names escaped as ``tpl_key``).

        One call writes a task's whole env: per entry, a template loop and call cost more than the entry.
        """
        pad = " " * indent
        lines = []
        for name, value in env.items():
            # A Tmpl by its text (its dataclass hash is a Python call); the tuple's length tells it from a str.
            memo: tuple[object, ...] | None = (name, value.text, indent, True) if isinstance(value, Tmpl) else None
            if isinstance(value, str):
                memo = (name, value, indent)
            line = self.lines.get(memo) if memo is not None else None
            if line is None:
                key = tpl_key_filter(name)
                line = f"{pad}{key}: {self._literal(templated(value), indent, len(key))},\n"
                if memo is not None:
                    self.lines[memo] = line
            lines.append(line)
        return "".join(lines)

    def _literal(self, final: object, indent: int, key_width: int) -> str:
        prefix = _prefix(final)
        if not (isinstance(final, str) and prefix is not None and prefix in self.roots):
            return py_literal(final, indent)
        rest = final[len(prefix) :]
        if not rest:
            return self.roots[prefix]
        joined = self.roots[prefix] + " + " + py_literal(rest, indent)
        if indent + key_width + len(": ") + len(joined) + len(",") <= _RUFF_WIDTH:
            return joined
        return self.roots[prefix] + "\n" + " " * indent + "+ " + py_literal(rest, indent)
