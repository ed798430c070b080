"""A run's stored artifacts in the Runs tab: each with its manifest, and a download that streams it.

The list comes from the manifests in the run's store (``runs.artifacts``). A download is served by one route
of the editor's own server (behind its launch-token guard) under a random key made when the user clicks, so
the browser never names a path: only an artifact listed from its manifest, inside the run's store root, is
streamed (a file as stored, a folder as a zip). The local editor has one user, who owns every artifact;
team mode will check the artifact's access against the user's groups before the key is made.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from fastapi import HTTPException
from fastapi.responses import StreamingResponse
from nicegui import app, run, ui

from ..runs.artifacts import ArtifactAccessError, RunStore, StoredArtifact, check_download, run_artifacts, stream

ROUTE = "/_dagsmith/run-artifact/"
KEY_SECONDS = 600.0
_keys: dict[str, tuple[float, RunStore, StoredArtifact]] = {}


def _size(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def offer(store: RunStore, artifact: StoredArtifact) -> str:
    """A download URL for an artifact that was checked; valid for ``KEY_SECONDS``."""
    now = time.monotonic()
    for key in [key for key, (made, _, _) in _keys.items() if now - made > KEY_SECONDS]:
        del _keys[key]
    key = secrets.token_urlsafe(24)
    _keys[key] = (now, store, artifact)
    return ROUTE + key


@app.get(ROUTE + "{key}")
def _download(key: str) -> StreamingResponse:
    entry = _keys.get(key)
    if entry is None or time.monotonic() - entry[0] > KEY_SECONDS:
        raise HTTPException(status_code=404, detail="this download link expired; press download again")
    _, store, artifact = entry
    try:
        check_download(store, artifact)
    except ArtifactAccessError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    media = "application/zip" if artifact.kind == "folder" else "application/octet-stream"
    headers = {"Content-Disposition": f'attachment; filename="{artifact.filename}"'}
    if artifact.kind != "folder":
        headers["Content-Length"] = str(artifact.size)
    return StreamingResponse(stream(store, artifact), media_type=media, headers=headers)


class RunArtifacts:
    """The artifacts section of a run's details: read in the background, then one row per stored output."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.store = RunStore.of(record)
        self.box = ui.column().classes("gap-0 w-full").props("data-dagsmith=run-artifacts").mark("run-artifacts")
        ui.timer(0, self.load, once=True)

    async def load(self) -> None:
        box = self.box
        box.clear()
        with box:
            ui.spinner(size="sm")
        error = None
        found: list[StoredArtifact] = []
        try:
            found = await run.io_bound(run_artifacts, self.record, self.store) or []
        except (ArtifactAccessError, OSError, ValueError) as exc:
            error = f"the artifacts in {self.store.root} could not be listed: {exc}"
        if box.is_deleted:
            return
        box.clear()
        with box:
            with ui.row().classes("items-center gap-1"):
                ui.label("Artifacts").classes("text-subtitle2")
                ui.label(self.store.root).classes("text-caption font-mono")
                ui.button(icon="refresh", on_click=self.load).props("flat dense round size=sm").tooltip("Refresh")
            if error:
                ui.label(error).classes("text-warning text-caption whitespace-pre-wrap")
            elif not found:
                ui.label("No stored artifacts with a manifest for this run.").classes("text-caption")
            for artifact in found:
                self._row(artifact)

    def _row(self, artifact: StoredArtifact) -> None:
        mark = f"artifact-{artifact.node}-{artifact.port}"
        with ui.card().props(f"flat bordered data-dagsmith={mark}").classes("w-full q-pa-xs q-mb-xs").mark(mark):
            with ui.row().classes("items-center gap-2 w-full no-wrap"):
                ui.label(f"{artifact.node} · {artifact.port}").classes("text-body2")
                ui.badge(artifact.access_text, color="grey-7").mark(f"{mark}-access")
                ui.space()
                ui.button("download", icon="download", on_click=lambda a=artifact: self.download(a)).props(
                    f"flat dense no-caps size=sm data-dagsmith={mark}-download"
                ).mark(f"{mark}-download")
            ui.label(artifact.uri).classes("text-caption font-mono break-all").mark(f"{mark}-uri")
            what = f"{artifact.files} files, " if artifact.kind == "folder" else ""
            ui.label(f"{what}{_size(artifact.size)} · written {artifact.written_at}").classes("text-caption")
            ui.label(f"sha256 {artifact.sha256}").classes("text-caption font-mono break-all").mark(f"{mark}-sha256")

    async def download(self, artifact: StoredArtifact) -> None:
        try:
            await run.io_bound(check_download, self.store, artifact)
        except (ArtifactAccessError, OSError) as exc:
            ui.notify(f"Not downloaded: {exc}", type="warning")
            return
        ui.download.from_url(offer(self.store, artifact), artifact.filename)
