"""Opening a file given on the command line (``dagsmith desktop FILE``, a double-click in the file manager).

The file (a ``*.dagsmith.json`` document or an Elyra ``*.pipeline``) is imported into the local project
the way the start page's "Import" does, and the window opens its pipeline page. Opening the same file
again opens the pipeline imported the first time, as long as its draft still equals the file. No NiceGUI
here: what the window shows is a page path plus notices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .services import EditorServices, UserError
from .store import NotFound

MAX_FILE_BYTES = 16 * 2**20
"""The start page's upload limit, for files opened from the command line too."""
SUFFIXES = (".dagsmith.json", ".pipeline")


@dataclass(slots=True)
class Opened:
    """Where the window starts, and what to tell the user there (import notes or why the file did not open)."""

    path: str = "/"
    notices: list[tuple[str, str]] = field(default_factory=list)  # (type, message) for ui.notify


def _read(file: Path) -> bytes:
    """The file's bytes; UserError names the file and says what to do."""
    if not file.name.endswith(SUFFIXES):
        raise UserError(f"{file}: dagsmith opens *.dagsmith.json pipelines and Elyra *.pipeline files")
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise UserError(f"{file}: larger than {MAX_FILE_BYTES // 2**20} MB; is it really a pipeline file?")
        return file.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{file}: no such file; check the path") from None
    except IsADirectoryError:
        raise UserError(f"{file}: a folder, not a pipeline file") from None
    except OSError as exc:
        raise UserError(f"{file}: cannot be read ({exc.strerror or exc}); check its permissions") from None


def open_file(services: EditorServices, file: Path) -> Opened:
    """Import ``file`` into the local project (or find its earlier import) and return its pipeline page."""
    try:
        imported = services.read_upload(file.name, _read(file))
    except UserError as exc:
        return Opened(notices=[("negative", f"Could not open {exc}")])
    project = services.local_project()
    for info in services.pipelines(project.id):
        if info.dag_id != imported.pipeline.dag_id:
            continue
        try:
            _, draft, _ = services.open_draft(info.id)
        except (UserError, NotFound):
            continue
        if draft == imported.pipeline:
            return Opened(f"/pipeline/{info.id}")
    try:
        created = services.create(project.id, imported.pipeline)
    except UserError as exc:
        return Opened(notices=[("negative", f"Could not open {file}: {exc}")])
    notices = [("warning", f"Not mapped: {line}") for line in imported.unmapped]
    notices += [("warning", line) for line in imported.warnings]
    return Opened(f"/pipeline/{created.id}", notices)
