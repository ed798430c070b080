"""A pipeline page for a user who may read it but not edit it (a team server's viewer, an archived project).

The server refuses every edit from such a user regardless (``team.access``); this only stops the page from
offering what would be refused: the editing controls are hidden, the canvas is read-only, and every form
field is disabled, while selecting a node still shows its form so that the pipeline can be read.
"""

from __future__ import annotations

from collections.abc import Iterable

from nicegui import ui
from nicegui.elements.mixins.disableable_element import DisableableElement

READING_MARKERS = frozenset({"view-notebook"})
"""Controls inside a form that only show something (kept enabled in a read-only form)."""


def disable_fields(container: ui.element) -> None:
    """Disable every field and button under ``container``, except its sections (they still open and close)
    and the controls that only show something (``READING_MARKERS``)."""
    for element in container.descendants():
        if not isinstance(element, DisableableElement) or isinstance(element, ui.expansion):
            continue
        if READING_MARKERS.intersection(element._markers):
            continue
        element.disable()
        # A forged event for the field still reaches the session, whose guard refuses and logs it (not dropped
        # unheard by NiceGUI): the access matrix's walk of a viewer's form event sees that refusal.
        element.ignores_events_when_disabled = False


AIRFLOW_ACTIONS = frozenset({"add-deployment", "deployment-pause", "deployment-clear", "deployment-trigger"})
"""The Airflow tab's controls that change something on a deployment (deployments_panel.py marks them)."""


def hide_marked(container: ui.element, markers: frozenset[str]) -> None:
    """Hide every element under ``container`` that carries one of ``markers``."""
    for element in container.descendants():
        if markers.intersection(element._markers):
            element.set_visibility(False)


def show_read_only(reason: str, editing: Iterable[ui.element]) -> None:
    """Hide the ``editing`` controls and say why the page is read-only (in the current slot: the header)."""
    for element in editing:
        element.set_visibility(False)
    ui.chip(reason, icon="visibility", color="amber-2", text_color="black").props("dense").mark("read-only").tooltip(
        "You can read this pipeline, select its steps and download it, but not change it"
    )
