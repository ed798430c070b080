"""The ``*.dagsmith.json`` file format: loading with migration, dumping, and the JSON Schema.

A file is ``{"format": "dagsmith.pipeline", "version": N, ...}`` with the pipeline's fields beside the
marker. Older versions are migrated forward step by step on load; files from a newer dagsmith are
refused with a message, never guessed at.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .document import Pipeline

FORMAT = "dagsmith.pipeline"
VERSION = 2
MAX_BYTES = 64 * 1024 * 1024
"""Files larger than this are refused before parsing (a pipeline of 100,000 nodes is about 40 MB)."""
MAX_INT_DIGITS = 300
"""Longer integers are refused: no field takes one (Python itself stops converting at 4,300 digits)."""


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
    data = parse_json(text, source=source)
    if not isinstance(data, dict):
        raise DocumentError(f"expected a JSON object at the top, found {type(data).__name__}", source=source)
    return from_dict(migrate(data, source=source), source=source)


class _Refused:
    """Stands in for a JSON value the hooks refused, so that the error can name where it was."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _short(token: str) -> str:
    return token if len(token) <= 24 else f"{token[:12]}... ({len(token)} characters)"


class _Hooks:
    """``json.loads`` hooks that put a ``_Refused`` where a value no pipeline can hold was."""

    __slots__ = ("refused",)

    def __init__(self) -> None:
        self.refused = False

    def on_constant(self, name: str) -> _Refused:
        self.refused = True
        return _Refused(f"{name} is not a JSON number; write a finite number or null")

    def on_float(self, token: str) -> float | _Refused:
        value = float(token)
        if math.isfinite(value):
            return value
        self.refused = True
        return _Refused(
            f"the number {_short(token)} is too large to be a finite floating-point number; write a smaller number"
        )

    def on_int(self, token: str) -> int | _Refused:
        if len(token) <= MAX_INT_DIGITS:
            return int(token)
        digits = len(token) - token.startswith("-")
        if digits <= MAX_INT_DIGITS:
            return int(token)
        self.refused = True
        return _Refused(f"an integer of {digits} digits is too long; write one of at most {MAX_INT_DIGITS} digits")


_SURROGATE = re.compile("[\\ud800-\\udfff]")


def _may_hold_surrogate(text: str) -> bool:
    """False when no parsed string can hold a surrogate: no ``\\uD...`` escape and no raw one.

    Substring tests and one encode run in C; a regular expression over 40 MB costs far more.
    """
    if "\\ud" in text or "\\uD" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_json(text: str | bytes, *, source: str = "") -> Any:
    """JSON text as Python values, refusing what no pipeline can hold; raises DocumentError saying where.

    Refused: ``NaN``/``Infinity``, numbers beyond the floating-point range (``1e999``), integers of
    more than ``MAX_INT_DIGITS`` digits, and lone UTF-16 surrogates (``"\\ud800"``), which no file or
    git object can store as UTF-8. The error names the place as ``nodes[3] ('train').params.lr``.
    """
    hooks = _Hooks()
    try:
        if isinstance(text, bytes | bytearray):
            # As json.loads decodes bytes (it, too, lets encoded surrogates through), so the scan sees them.
            text = bytes(text).decode(json.detect_encoding(text), "surrogatepass")
        data = json.loads(text, parse_constant=hooks.on_constant, parse_float=hooks.on_float, parse_int=hooks.on_int)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"malformed JSON: {exc.msg}", source=source, line=exc.lineno, column=exc.colno) from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise DocumentError(f"cannot read the file as JSON: {exc}", source=source) from None
    if hooks.refused or _may_hold_surrogate(text):
        problem = _first_problem(data)
        if problem is not None:
            loc, message = problem
            where = _loc(loc, data) if loc else ""
            raise DocumentError(f"{where}: {message}" if where else message, source=source)
    return data


def _first_problem(data: Any) -> tuple[tuple[Any, ...], str] | None:
    """The location and message of the first refused value or lone surrogate, in document order."""
    stack: list[tuple[tuple[Any, ...], Any]] = [((), data)]
    while stack:  # iterative: the document may be nested as deep as the JSON parser allows
        loc, value = stack.pop()
        if isinstance(value, _Refused):
            return loc, value.message
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return loc, f"the text {_short(value)!r} {_SURROGATE_HINT}"
        elif isinstance(value, dict):
            for key in value:
                if _SURROGATE.search(key):
                    return loc, f"the key {_short(key)!r} {_SURROGATE_HINT}"
            stack.extend(((*loc, key), item) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*loc, index), value[index]) for index in range(len(value) - 1, -1, -1))
    return None


_SURROGATE_HINT = (
    "contains a lone surrogate (an escape such as \\ud800 without its pair), which is not a character "
    "and cannot be saved; remove it or write the whole character"
)


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
    return parse(read_limited(path), source=str(path))


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int) -> str | None:
    """Why a file of this mode cannot be read as a document; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    return f"cannot read the file: it is {kind}, not a regular file; give the path of a saved pipeline file"


def read_limited(path: str | Path) -> bytes:
    """The bytes of a regular file of at most ``MAX_BYTES``; raises DocumentError for anything else.

    A named pipe would block forever and a device such as /dev/zero never ends, so both are refused
    before they are opened (and checked again on the open file, in case the path changed meanwhile).
    A file that grows while it is read is cut at ``MAX_BYTES + 1`` bytes and refused.
    """
    source = str(path)
    limit = MAX_BYTES

    def too_big(size: int) -> DocumentError:
        return DocumentError(
            f"the file is {size / 2**20:.1f} MiB, over the {limit / 2**20:g} MiB limit; "
            "split the pipeline or check that this is the right file",
            source=source,
        )

    try:
        problem = _not_regular(Path(path).stat().st_mode)
        if problem:
            raise DocumentError(problem, source=source)
        # O_NONBLOCK: should the path have become a pipe since the stat, opening it must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            info = os.fstat(fd)
            problem = _not_regular(info.st_mode)
            if problem:
                raise DocumentError(problem, source=source)
            if info.st_size > limit:
                raise too_big(info.st_size)
            chunks: list[bytes] = []
            remaining = limit + 1
            while remaining > 0:
                chunk = os.read(fd, min(remaining, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
        finally:
            os.close(fd)
    except OSError as exc:
        raise DocumentError(f"cannot read the file: {exc.strerror or exc}", source=source) from None
    data = b"".join(chunks)
    if len(data) > limit:
        raise too_big(len(data))
    return data


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
