"""Smaller editor dialogs: canvas comments, the read-only notebook view, and downloading the document."""

from __future__ import annotations

from pathlib import Path

from nicegui import run, ui

from dagsmith.nodes import Pipeline, dumps

from ..session import EditorSession


class CommentDialog:
    """Edit a comment's text and the nodes it is attached to, or delete it."""

    def __init__(self, session: EditorSession) -> None:
        self.session = session
        self.comment_id: str | None = None
        with ui.dialog().mark("comment-dialog") as self.dialog, ui.card().style("min-width: 420px"):
            ui.label("Comment").classes("text-h6")
            self.text = ui.textarea("Text").classes("w-full").mark("comment-text")
            self.nodes = ui.select([], multiple=True, label="Attached to").classes("w-full").mark("comment-nodes")
            with ui.row().classes("w-full"):
                ui.button("Delete", icon="delete", on_click=self.delete).props("flat color=negative")
                ui.space()
                ui.button("Cancel", on_click=self.dialog.close).props("flat")
                ui.button("Save", on_click=self.save).mark("comment-save")

    def open(self, comment_id: str) -> bool:
        """Show the dialog for a comment; False when ``comment_id`` is not a comment."""
        comment = self.session.comment(comment_id)
        if comment is None:
            return False
        self.comment_id = comment_id
        self.text.value = comment.text
        self.nodes.set_options({n.id: n.display_name for n in self.session.pipeline.nodes}, value=list(comment.nodes))
        self.dialog.open()
        return True

    def save(self) -> None:
        if self.comment_id is not None:
            self.session.edit_comment(self.comment_id, self.text.value or "", list(self.nodes.value or []))
        self.dialog.close()

    def delete(self) -> None:
        if self.comment_id is not None:
            self.session.delete([self.comment_id])
        self.dialog.close()


def resolve_notebook(path: str, roots: list[Path]) -> Path | None:
    """The local file of a notebook parameter: absolute, or relative to one of ``roots``."""
    candidate = Path(path)
    options = [candidate] if candidate.is_absolute() else [root / candidate for root in roots]
    return next((option for option in options if option.is_file()), None)


def notebook_html(path: Path) -> str:
    """The notebook rendered read-only to HTML with nbconvert (inputs and outputs, no execution)."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(path, as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(notebook)
    return str(body)


class NotebookView:
    """A dialog showing a notebook rendered by nbconvert, in a sandboxed frame (no scripts run)."""

    def __init__(self) -> None:
        with ui.dialog().props("full-width") as self.dialog, ui.card().classes("w-full"):
            with ui.row().classes("w-full items-center"):
                self.title = ui.label().classes("text-h6")
                ui.space()
                ui.button(icon="close", on_click=self.dialog.close).props("flat round")
            self.frame = ui.element("iframe").props('sandbox=""').classes("w-full").style("height: 75vh; border: 0")
            self.frame.mark("notebook-frame")

    async def show(self, notebook: str, roots: list[Path]) -> None:
        """Render and show ``notebook``; a clear message when the file is not found or cannot be read."""
        path = resolve_notebook(notebook, roots)
        if path is None:
            where = ", ".join(str(r) for r in roots) or "no source folder (set the project's git repository)"
            ui.notify(f"{notebook!r} was not found locally (looked in {where})", type="warning", multi_line=True)
            return
        try:
            page = await run.io_bound(notebook_html, path)
        except Exception as exc:  # a broken notebook must not break the editor
            ui.notify(f"cannot render {path.name}: {exc}", type="negative", multi_line=True)
            return
        self.title.set_text(str(path))
        self.frame.props["srcdoc"] = page
        self.dialog.open()


def download_document(pipeline: Pipeline) -> None:
    """Send the pipeline document (``<dag_id>.dagsmith.json``) to the browser."""
    ui.download.content(dumps(pipeline).encode(), f"{pipeline.dag_id}.dagsmith.json")
