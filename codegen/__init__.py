"""dagsmith.codegen: a validated pipeline document as one Airflow DAG file.

``render(pipeline, version=..., target=...)`` returns the file text. Values reach the file only as
Python literals, names only through ``ident``, strings in Airflow-templated fields only escaped
(see ``templating``), and every file passes ``check_source``'s allow-list before it is returned.
"""

from __future__ import annotations

from .compat import TARGETS
from .errors import ExportError
from .literals import ident, py_literal
from .render import render
from .safety import UnsafeCodeError, check_source
from .templating import MACROS, escape
from .versioning import Header, content_hash, is_pristine, read_header

__all__ = [
    "ExportError",
    "Header",
    "MACROS",
    "TARGETS",
    "UnsafeCodeError",
    "check_source",
    "content_hash",
    "escape",
    "ident",
    "is_pristine",
    "py_literal",
    "read_header",
    "render",
]
