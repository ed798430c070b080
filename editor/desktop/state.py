"""What the desktop app remembers between launches: the window's geometry and the recently opened files.

Both are small JSON files in ``<DAGSMITH_HOME>/desktop/`` (``window.json``, ``recent.json``). A file that
is missing, unreadable or malformed counts as empty: the window then opens at its default size.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..store.engine import dagsmith_home

DEFAULT_SIZE = (1400, 900)
MIN_SIZE = (480, 360)
MAX_SIDE = 16384
RECENT_LIMIT = 8


def desktop_dir() -> Path:
    """``<DAGSMITH_HOME>/desktop``: the desktop app's own files (created on first use, private to the user)."""
    folder = dagsmith_home() / "desktop"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write(path: Path, data: object) -> None:
    """Write ``data`` as JSON atomically (a crash mid-write leaves the old file), readable by the user only."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2)
    temporary.replace(path)


@dataclass(frozen=True, slots=True)
class Geometry:
    """The window's outer size and position on the screen (pixels)."""

    width: int
    height: int
    x: int | None = None
    y: int | None = None

    @classmethod
    def parse(cls, data: object) -> Geometry | None:
        """The geometry in ``data`` (window.json's content), or None when it is not a sensible one."""
        if not isinstance(data, dict):
            return None
        width, height, x, y = (data.get(key) for key in ("width", "height", "x", "y"))
        if not all(isinstance(side, int) and not isinstance(side, bool) for side in (width, height)):
            return None
        assert isinstance(width, int) and isinstance(height, int)
        if not (MIN_SIZE[0] <= width <= MAX_SIDE and MIN_SIZE[1] <= height <= MAX_SIDE):
            return None
        place = all(isinstance(v, int) and not isinstance(v, bool) and -MAX_SIDE < v < MAX_SIDE for v in (x, y))
        return cls(width, height, x if place else None, y if place else None)


def load_geometry() -> Geometry | None:
    """The geometry the window had when it last closed; None the first time (or when the file is damaged)."""
    return Geometry.parse(_read(desktop_dir() / "window.json"))


def save_geometry(geometry: Geometry) -> None:
    """Remember ``geometry`` for the next launch (ignored when it is not a sensible one, e.g. minimized)."""
    if Geometry.parse(asdict(geometry)) is not None:
        _write(desktop_dir() / "window.json", asdict(geometry))


def recent_files() -> list[Path]:
    """The pipeline files opened lately, newest first, those still there only."""
    data = _read(desktop_dir() / "recent.json")
    names = data if isinstance(data, list) else []
    return [Path(name) for name in names if isinstance(name, str) and Path(name).is_file()][:RECENT_LIMIT]


def add_recent(file: Path) -> None:
    """Put ``file`` first in the recent files (once)."""
    file = file.resolve()
    kept = [str(file)] + [str(path) for path in recent_files() if path != file]
    _write(desktop_dir() / "recent.json", kept[:RECENT_LIMIT])
