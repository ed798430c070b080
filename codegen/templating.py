"""Airflow template safety: which run-time macros a user string may use, and escaping for the rest.

Airflow renders every string in an operator's templated fields with Jinja. A user string may use
the run-time macros in ``MACROS`` (``{{ ds }}``, ``{{ params.name }}``, ...); any other Jinja syntax
(``{{ conf }}``, ``{% ... %}``, ``{# #}``) is escaped so that it renders back to the text as written.
Generated code puts templated values through ``Tmpl``: user text enters it escaped, and only
dagsmith itself adds macros.

An allowed date macro is written as the expression in ``RUN_MACROS``, not as the bare name: Airflow 3
leaves ``ds``, ``ts``, ``logical_date``, the data interval and their kin out of the context of a run
without a logical date (a manual or API run may have none), and StrictUndefined would fail the task.
The expression gives Airflow's own value when the name is defined and otherwise the same format of
``dag_run.run_after`` (Airflow 2 always defines them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from dagsmith.nodes.param_refs import PARAM_MACRO

MACROS = (
    "ds",
    "ds_nodash",
    "ts_nodash",
    "run_id",
    "logical_date",
    "data_interval_start",
    "data_interval_end",
)
"""Run-time macros a user string may use, besides ``{{ params.<name> }}``."""

RUN_AFTER = "dag_run.run_after"
"""When an Airflow 3 run was due; set on every run, with or without a logical date."""

_NO_LOGICAL_DATE = {
    "ds": RUN_AFTER + " | ds",
    "ds_nodash": RUN_AFTER + " | ds_nodash",
    "ts": RUN_AFTER + " | ts",
    "ts_nodash": RUN_AFTER + " | ts_nodash",
    "logical_date": RUN_AFTER,
    "data_interval_start": RUN_AFTER,
    "data_interval_end": RUN_AFTER,
}
"""The value of each date macro in a run without a logical date: ``run_after`` in the macro's format.

``ds``/``ds_nodash``/``ts``/``ts_nodash`` are also Airflow's filters (Airflow 2 and 3) and format a
datetime as the context value does; ``logical_date`` and the data interval render as a datetime's str.
"""

RUN_MACROS: dict[str, str] = {
    "run_id": "run_id",
    **{name: f"{name} if {name} is defined else {value}" for name, value in _NO_LOGICAL_DATE.items()},
}
"""The Jinja expression dagsmith writes for each run-time macro (the one place that says so).

With a logical date the expression is the macro itself, so it renders exactly as ``{{ ds }}`` would;
without one (Airflow 3 leaves these names out of the context) it renders ``dag_run.run_after``.
``ts`` is not allowed in user text but is used by dagsmith's own artifact paths and variables.
"""

MACRO_RE = re.compile(r"\{\{\s*(?P<name>" + "|".join(MACROS) + "|" + PARAM_MACRO + r")\s*\}\}")
TEMPLATE_EXTENSIONS = ("yaml", "yml", "json")
"""Endings that make Airflow load a templated string as a template file (``template_ext``).

Matched without the dot, because some operators list them so; a templated string that ends with
one gets an empty expression appended, which renders to nothing.
"""

_OPEN_BRACE = "{{ '{' }}"
_CARRIAGE_RETURN = "{{ '\\r' }}"
_FINAL_NEWLINE = "{{ '\\n' }}"
_EMPTY = "{{ '' }}"


def _escape_literal(text: str) -> str:
    """Text that renders to ``text``: every brace that could open a Jinja tag becomes an expression."""
    if "{" not in text and "\r" not in text:
        return text
    out = []
    last = len(text) - 1
    for index, char in enumerate(text):
        # "\r" is itself replaced by an expression, so a brace before it would open one too.
        if char == "{" and (index == last or text[index + 1] in "{%#\r"):
            out.append(_OPEN_BRACE)
        elif char == "\r":
            out.append(_CARRIAGE_RETURN)  # Jinja turns a raw \r or \r\n into \n
        else:
            out.append(char)
    return "".join(out)


def _escape_keep_macros(text: str) -> str:
    parts = []
    position = 0
    for match in MACRO_RE.finditer(text):
        parts.append(_escape_literal(text[position : match.start()]))
        name = match.group("name")
        parts.append(run_macro(name).text if name in RUN_MACROS else match.group(0))
        position = match.end()
    parts.append(_escape_literal(text[position:]))
    return "".join(parts)


@lru_cache(maxsize=16384)  # many values repeat across the tasks of one file (and across exports)
def _finish(text: str) -> str:
    if text.endswith("\n"):
        body = text[:-1]  # Jinja drops one trailing newline; an expression keeps it
        if body.endswith("{"):  # an escaped part ends in "}}", so this brace is bare
            body = body[:-1] + _OPEN_BRACE
        text = body + _FINAL_NEWLINE
    if text.endswith(TEMPLATE_EXTENSIONS):
        text += _EMPTY
    return text


def escape(text: str, *, macros: bool = True) -> str:
    """Template text that Airflow renders to ``text``, keeping only the allowed run-time macros.

    An allowed date macro becomes its ``RUN_MACROS`` expression, which renders to the same value.

    With ``macros=False`` nothing is rendered: the result renders to ``text`` exactly.
    """
    if not isinstance(text, str):
        raise TypeError(f"escape() takes a str, not {type(text).__name__}")
    return _escaped(text, macros)


@lru_cache(maxsize=16384)
def _escaped(text: str, macros: bool) -> str:
    return _finish(_escape_keep_macros(text) if macros else _escape_literal(text))


@dataclass(frozen=True, slots=True)
class Tmpl:
    """Safe Airflow template text: escaped user text plus macros that dagsmith added itself.

    Build one with ``Tmpl.user``, ``Tmpl.literal`` or ``Tmpl.macro`` and join them with ``+``;
    the ``tpl`` filter writes it as a string literal without escaping it again.
    """

    text: str

    @classmethod
    def user(cls, text: str) -> Tmpl:
        """User text that may use the allowed run-time macros (date macros as in ``RUN_MACROS``)."""
        return cls(_escape_keep_macros(text))

    @classmethod
    def literal(cls, text: str) -> Tmpl:
        """Text that must render exactly as written."""
        return cls(_escape_literal(text))

    @classmethod
    def macro(cls, expression: str) -> Tmpl:
        """A Jinja expression written by dagsmith (never pass user text here)."""
        return cls("{{ " + expression + " }}")

    def __add__(self, other: Tmpl) -> Tmpl:
        if not isinstance(other, Tmpl):
            return NotImplemented
        # An escaped part never ends with a bare "{", so joining cannot open a new tag.
        return Tmpl(self.text + other.text)

    def final(self) -> str:
        """The text to write into a templated field."""
        return _finish(self.text)


def run_macro(name: str) -> Tmpl:
    """The run-time macro ``name`` (a key of ``RUN_MACROS``) as written: with or without a logical date."""
    return Tmpl.macro(RUN_MACROS[name])


def uses_macros(text: str) -> bool:
    """True when ``text`` uses an allowed run-time macro (and so differs once rendered)."""
    return MACRO_RE.search(text) is not None
