"""The hint over an empty canvas: how to add the first step. It goes away once the pipeline has a node."""

from __future__ import annotations

from nicegui import ui

from ..session import EditorSession

EMPTY_CANVAS_HINT = "Drag a step from the palette, or click one to add it"


class EmptyCanvasHint:
    """A note in the middle of the canvas while the pipeline has no nodes (clicks and drops pass through it).

    Placed just before the canvas in its column: a box of no height, so the canvas keeps its size, from
    which the note hangs over the canvas.
    """

    def __init__(self, session: EditorSession) -> None:
        with ui.element("div").style("position: relative; height: 0; z-index: 5; pointer-events: none"):
            self.label = (
                ui.label(EMPTY_CANVAS_HINT)
                .classes("text-h6 text-grey-6 text-center text-weight-regular")
                .style("position: absolute; top: 30vh; left: 0; right: 0; pointer-events: none")
                .props("data-dagsmith=empty-canvas-hint")
                .mark("empty-canvas-hint")
            )
        # Bound to the document: an added, pasted, deleted or undone node shows or hides it without a hook.
        self.label.bind_visibility_from(session, "pipeline", backward=lambda pipeline: not pipeline.nodes)
