"""Reading Elyra ``.pipeline`` files: the envelope, the supported versions, and tolerant value access.

What changes here is how Elyra's file format is read (its versions, its JSON quirks); ``elyra`` converts
the nodes, links and settings found. The format is described in ``shared/design/elyra-format.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .document import slug
from .fileformat import FORMAT

MIN_VERSION = 3
MAX_VERSION = 8
"""The Elyra pipeline versions (``app_data.version``) this importer reads."""

TASK_ID_LIMIT = 200
"""``slug`` cuts task ids at this length: a number appended to a longer label would be cut off."""


class ElyraImportError(Exception):
    """A file that is not an Elyra pipeline this importer reads; the message says why (and where)."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def no_constant(name: str) -> Any:
    """``json.loads``' parse_constant: NaN and Infinity are no JSON numbers."""
    raise ValueError(f"{name} is not a JSON number")


def primary_flow(data: Any) -> dict[str, Any]:
    """The primary pipeline of an Elyra file of a supported version; raises ElyraImportError otherwise."""
    if not isinstance(data, dict):
        raise ElyraImportError(f"not an Elyra pipeline: expected a JSON object at the top, found {type(data).__name__}")
    if data.get("format") == FORMAT:
        raise ElyraImportError("this is already a dagsmith pipeline; open it directly instead of importing it")
    if data.get("doc_type") != "pipeline" or not isinstance(data.get("pipelines"), list):
        raise ElyraImportError(
            'not an Elyra pipeline: expected "doc_type": "pipeline" and a "pipelines" list at the top '
            "(Elyra saves these as .pipeline files)"
        )
    flows = [p for p in data["pipelines"] if isinstance(p, dict)]
    flow = next((p for p in flows if p.get("id") == data.get("primary_pipeline")), flows[0] if flows else None)
    if flow is None:
        raise ElyraImportError("the Elyra file contains no pipeline")
    app = flow.get("app_data")
    raw = app.get("version") if isinstance(app, dict) else None
    version = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if isinstance(raw, (float, str)) and not isinstance(raw, bool):
        try:
            number = float(raw)
            version = int(number) if number.is_integer() else None
        except ValueError:
            version = None
    supported = f"this importer reads Elyra pipeline versions {MIN_VERSION} to {MAX_VERSION}"
    if version is None:
        raise ElyraImportError(
            f"the pipeline has no valid Elyra version (app_data.version is {raw!r}); {supported}. "
            "Open and save the file in Elyra 3 or later, then import it again"
        )
    if version < MIN_VERSION:
        raise ElyraImportError(
            f"Elyra pipeline version {version} is too old; {supported}. "
            "Open and save the file in Elyra 3 or later to migrate it, then import it again"
        )
    if version > MAX_VERSION:
        raise ElyraImportError(f"Elyra pipeline version {version} is newer than this importer knows; {supported}")
    return flow


def as_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def coord(value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else 0.0


class Names:
    """Names made unique in one namespace, in time linear in their number.

    A fallback that is taken gets ``-2``, ``-3``, ...; the search for a fallback resumes where the last
    search for the same fallback stopped (names are never released, so the skipped ones are still taken).
    """

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.next: dict[str, int] = {}

    def pick(self, wanted: Any, fallback: str) -> str:
        """``wanted`` when it is a new non-empty string, else ``fallback`` made unique; recorded as taken."""
        if isinstance(wanted, str) and wanted and wanted not in self.taken:
            self.taken.add(wanted)
            return wanted
        count = self.next.get(fallback, 1)
        result = fallback if count == 1 else f"{fallback}-{count}"
        while result in self.taken:
            count += 1
            result = f"{fallback}-{count}"
        self.next[fallback] = count
        self.taken.add(result)
        return result


def numbered(name: str, count: int) -> str:
    """``"name count"``, with ``name`` shortened until the number survives in the task id (cut at 200)."""
    label = f"{name} {count}"
    if len(slug(label)) >= TASK_ID_LIMIT:
        name = name[: TASK_ID_LIMIT - 10]
        label = f"{name} {count}"
        while len(slug(label)) >= TASK_ID_LIMIT and name:
            name = name[:-10]
            label = f"{name.rstrip()} {count}"
    return label


__all__ = [
    "MAX_VERSION",
    "MIN_VERSION",
    "TASK_ID_LIMIT",
    "ElyraImportError",
    "Names",
    "as_list",
    "as_map",
    "coord",
    "no_constant",
    "numbered",
    "primary_flow",
    "as_text",
]
