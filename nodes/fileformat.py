"""The ``*.dagsmith.json`` file format: loading with migration, dumping, and the JSON Schema.

A file is ``{"format": "dagsmith.pipeline", "version": N, ...}`` with the pipeline's fields beside the
marker. Older versions are migrated forward step by step on load; files from a newer dagsmith are
refused with a message, never guessed at.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .document import Pipeline

FORMAT = "dagsmith.pipeline"
VERSION = 2
MAX_BYTES = 64 * 1024 * 1024
"""Files larger than this are refused before parsing (a pipeline of 100,000 nodes is about 40 MB)."""


class DocumentError(Exception):
    """A pipeline file that cannot be read: says what and where (line and column for bad JSON)."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None, column: int | None = None):
        self.source = source
        self.line = line
        self.column = column
        where = source
        if line is not None:
            where = f"{source}:{line}:{column}" if source else f"line {line}, column {column}"
        super().__init__(f"{where}: {message}" if where else message)
        self.detail = message


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (pre-release) kept settings at the top level and edges as ``links`` of ``node:port`` strings."""
    settings = {
        key: data.pop(key) for key in list(data) if key not in ("format", "version", "nodes", "links", "comments")
    }
    links = data.pop("links", [])
    if not isinstance(links, list) or not all(isinstance(link, dict) for link in links):
        raise ValueError('"links" must be a list of {"from": "node:port", "to": "node:port"} objects')
    edges = []
    for index, link in enumerate(links):
        # Port names cannot contain ':', node ids can: split at the last one.
        source, _, source_port = str(link.get("from", "")).rpartition(":")
        target, _, target_port = str(link.get("to", "")).rpartition(":")
        edges.append(
            {
                "id": link.get("id") or f"e{index + 1}",
                "source": source,
                "source_port": source_port,
                "target": target,
                "target_port": target_port,
            }
        )
    data["settings"] = settings
    data["edges"] = edges
    return data


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}
"""``MIGRATIONS[n]`` turns a version-n document into version n+1."""


def migrate(data: dict[str, Any], *, source: str = "") -> dict[str, Any]:
    """Bring a parsed document to the current ``VERSION``; raises DocumentError if it cannot."""
    if data.get("format") != FORMAT:
        raise DocumentError(
            f'not a dagsmith pipeline (expected "format": {FORMAT!r}); '
            "for an Elyra .pipeline file use 'dagsmith import'",
            source=source,
        )
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DocumentError(f'"version" must be a positive integer, not {version!r}', source=source)
    if version > VERSION:
        raise DocumentError(
            f"this file is format version {version}, newer than this dagsmith reads ({VERSION}); upgrade dagsmith",
            source=source,
        )
    while version < VERSION:
        try:
            data = MIGRATIONS[version](dict(data))
        except ValueError as exc:
            raise DocumentError(f"cannot migrate from format version {version}: {exc}", source=source) from None
        version += 1
        data["version"] = version
    return data


def parse(text: str | bytes, *, source: str = "") -> Pipeline:
    """Parse, migrate and load a document's text."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise DocumentError(
            f"the file is {size / 2**20:.1f} MiB, over the {MAX_BYTES / 2**20:g} MiB limit; "
            "split the pipeline or check that this is the right file",
            source=source,
        )
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except DocumentError as exc:
        raise DocumentError(exc.detail, source=source) from None
    except json.JSONDecodeError as exc:
        raise DocumentError(f"malformed JSON: {exc.msg}", source=source, line=exc.lineno, column=exc.colno) from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise DocumentError(f"cannot read the file as JSON: {exc}", source=source) from None
    if not isinstance(data, dict):
        raise DocumentError(f"expected a JSON object at the top, found {type(data).__name__}", source=source)
    return from_dict(migrate(data, source=source), source=source)


def _refuse_constant(name: str) -> Any:
    raise DocumentError(f"{name} is not a JSON number; write a finite number or null")


def from_dict(data: dict[str, Any], *, source: str = "") -> Pipeline:
    """Load a current-version document mapping; structural errors become one DocumentError."""
    body = {key: value for key, value in data.items() if key not in ("format", "version")}
    try:
        return Pipeline.model_validate(body)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False)[:20]:
            loc = _loc(err["loc"], body)
            lines.append(f"{loc}: {err['msg']}" + ("; remove it" if err["type"] == "extra_forbidden" else ""))
        more = exc.error_count() - len(lines)
        if more > 0:
            lines.append(f"... and {more} more")
        raise DocumentError(
            "the document does not fit the pipeline format:\n  " + "\n  ".join(lines), source=source
        ) from None


def _loc(loc: tuple[Any, ...], body: dict[str, Any]) -> str:
    """``nodes[3] ('train').position.x`` style locations."""
    parts: list[str] = []
    current: Any = body
    for part in loc:
        if isinstance(part, int):
            label = ""
            if isinstance(current, list) and part < len(current) and isinstance(current[part], dict):
                ident = current[part].get("id")
                label = f" ({ident!r})" if isinstance(ident, str) else ""
            parts.append(f"[{part}]{label}")
        else:
            parts.append(("." if parts else "") + str(part))
        try:
            current = current[part]
        except (KeyError, IndexError, TypeError):
            current = None
    return "".join(parts) or "document"


def load(path: str | Path) -> Pipeline:
    """Read a ``*.dagsmith.json`` file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise DocumentError(
                f"the file is {size / 1e6:.0f} MB, over the {MAX_BYTES // 2**20} MiB limit", source=str(path)
            )
        text = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read the file: {exc.strerror or exc}", source=str(path)) from None
    return parse(text, source=str(path))


def to_dict(pipeline: Pipeline) -> dict[str, Any]:
    """The document as a JSON-ready mapping with the format marker first."""
    body = pipeline.model_dump(mode="json", exclude_none=False)
    return {"format": FORMAT, "version": VERSION, **body}


def content_hash(pipeline: Pipeline) -> str:
    """A short, stable hash of the whole document (canonical JSON), identifying a pipeline version.

    The exported DAG's header and the store's versions both carry it.
    """
    canonical = json.dumps(to_dict(pipeline), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def dumps(pipeline: Pipeline) -> str:
    """Canonical JSON text: stable key order and indentation, so versions diff cleanly."""
    return dumps_mapping(to_dict(pipeline))


def dumps_mapping(data: dict[str, Any]) -> str:
    """``dumps`` of a document already turned into ``to_dict(pipeline)`` (e.g. a snapshot taken earlier)."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def save(pipeline: Pipeline, path: str | Path) -> None:
    """Write atomically: a crash mid-write leaves the previous file intact."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(dumps(pipeline))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the current file format."""
    schema = Pipeline.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dagsmith pipeline"
    schema.setdefault("required", [])
    schema["properties"] = {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        **schema["properties"],
    }
    schema["required"] = ["format", "version", *schema["required"]]
    return schema
