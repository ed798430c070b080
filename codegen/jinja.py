"""Jinja set up for safe code generation: the environment of the code templates and their filters.

Values reach a template only through these filters: ``py`` (a Python literal), ``tpl`` and ``tpl_key``
(strings escaped for Airflow-templated fields), ``ltpl`` (the same for a local BashOperator), ``ident``
and ``py_block``. Both renderers (``render``, ``local``) use this one environment.
"""

from __future__ import annotations

import ast
from functools import lru_cache

import jinja2

from .literals import ident, py_block, py_literal
from .templating import Tmpl, escape


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


_BASH_EXTENSIONS = (".sh", ".bash")  # BashOperator.template_ext: a value ending so is read as a template file


def local_templated(value: object) -> object:
    """``value`` made safe for a BashOperator's templated fields (see ``templated``).

    BashOperator also loads any templated string that ends with ``.sh`` or ``.bash`` as a template file;
    such a string gets an empty expression appended, which renders to nothing.
    """

    def finish(item: object) -> object:
        if isinstance(item, str):
            return item + "{{ '' }}" if item.endswith(_BASH_EXTENSIONS) else item
        if isinstance(item, list):
            return [finish(element) for element in item]
        if isinstance(item, dict):
            return {key: finish(element) for key, element in item.items()}
        return item

    return finish(templated(value))


def ltpl_filter(value: object, indent: int = 0) -> str:
    """Jinja filter: the literal of a value for a BashOperator's templated field."""
    return py_literal(local_templated(value), indent)


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
