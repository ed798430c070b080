"""A run's stored artifacts in the Runs tab: each with its manifest, and a download that streams it.

The list comes from the manifests in the run's store (``runs.artifacts``). A download is served by one route
of the editor's own server (behind its launch-token guard) under a random key made when the user clicks, so
the browser never names a path: only an artifact listed from its manifest, inside the run's store root, is
streamed (a file as stored, a folder as a zip). The local editor has one user, who owns every artifact;
a team server sets a ``DownloadGate`` (``team.downloads``): the artifact's access is checked for the user
before the key is made and again when it is used, and a key works only for the user it was made for.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Protocol

from fastapi import HTTPException
from fastapi.responses import StreamingResponse
from nicegui import app, run, ui

from ..runs.artifacts import ArtifactAccessError, RunStore, StoredArtifact, check_download, run_artifacts, stream

ROUTE = "/_dagsmith/run-artifact/"
KEY_SECONDS = 600.0


class DownloadGate(Protocol):
    """A team server's check of who downloads what (``team.downloads.TeamDownloads``)."""

    def requester(self) -> str | None:
        """The user the current request or event runs as."""

    def check(self, pipeline_id: int, artifact: StoredArtifact) -> None:
        """Raise ``ArtifactAccessError`` unless the requester may download the artifact of this pipeline's run."""


gate: DownloadGate | None = None
"""None in the local editor (its one user owns every artifact); set by the team server."""
_keys: dict[str, tuple[float, RunStore, StoredArtifact, int | None, str | None]] = {}


def _size(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def offer(store: RunStore, artifact: StoredArtifact, pipeline_id: int | None = None) -> str:
    """A download URL for an artifact that was checked; valid for ``KEY_SECONDS``, for the user who asked."""
    now = time.monotonic()
    for key in [key for key, entry in _keys.items() if now - entry[0] > KEY_SECONDS]:
        del _keys[key]
    key = secrets.token_urlsafe(24)
    _keys[key] = (now, store, artifact, pipeline_id, gate.requester() if gate is not None else None)
    return ROUTE + key


def check_gate(pipeline_id: int | None, artifact: StoredArtifact, user: str | None = None) -> None:
    """The team server's check (nothing in the local editor); ``user``: whom a download key was made for."""
    if gate is None:
        return
    if pipeline_id is None or (user is not None and gate.requester() != user):
        raise ArtifactAccessError("no such artifact, or you have no access to it; press download again")
    gate.check(pipeline_id, artifact)


@app.get(ROUTE + "{key}")
def _download(key: str) -> StreamingResponse:
    entry = _keys.get(key)
    if entry is None or time.monotonic() - entry[0] > KEY_SECONDS:
        raise HTTPException(status_code=404, detail="this download link expired; press download again")
    _, store, artifact, pipeline_id, user = entry
    try:
        check_gate(pipeline_id, artifact, user)
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

    def __init__(self, record: dict[str, Any], pipeline_id: int | None = None) -> None:
        self.record = record
        self.pipeline_id = pipeline_id
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
            check_gate(self.pipeline_id, artifact)
            await run.io_bound(check_download, self.store, artifact)
        except (ArtifactAccessError, OSError) as exc:
            ui.notify(f"Not downloaded: {exc}", type="warning")
            return
        ui.download.from_url(offer(self.store, artifact, self.pipeline_id), artifact.filename)
