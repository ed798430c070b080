"""The palette: node types grouped by family, with search; drag onto the canvas or click to add."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from dagsmith.nodes import CATALOG, Family

from ..canvas import FAMILY_COLORS, PALETTE_ATTRIBUTE

FAMILY_TITLES = {
    Family.FEATURES: "Features",
    Family.DEVELOP: "Develop",
    Family.TUNE: "Tune",
    Family.TRACK: "Track",
    Family.DEPLOY: "Deploy",
    Family.MONITOR: "Monitor",
}


def matches(query: str, *texts: str) -> bool:
    """True when every word of ``query`` occurs in one of ``texts`` (case-insensitive)."""
    haystack = " ".join(texts).lower()
    return all(word in haystack for word in query.lower().split())


class Palette:
    """The node type list. ``on_add(kind)`` is called for a click; drags go straight to the canvas."""

    def __init__(self, on_add: Callable[[str], None]) -> None:
        self.on_add = on_add
        self.items: dict[str, ui.element] = {}
        self.groups: dict[Family, ui.element] = {}
        self.search = ui.input(placeholder="Search node types", on_change=lambda e: self.filter(e.value or ""))
        self.search.props("dense clearable outlined").classes("w-full").mark("palette-search")
        for family in Family:
            types = [t for t in CATALOG if t.family is family]
            with ui.column().classes("w-full gap-1 q-mt-sm") as group:
                ui.label(FAMILY_TITLES[family]).classes("text-overline").style(f"color: {FAMILY_COLORS[family]}")
                for node_type in types:
                    item = (
                        ui.item(on_click=lambda k=node_type.kind: self.on_add(k))
                        .props(f'{PALETTE_ATTRIBUTE}="{node_type.kind}" draggable="true" dense clickable')
                        .classes("rounded-borders")
                        .style(f"border-left: 4px solid {FAMILY_COLORS[family]}")
                        .mark(f"palette-{node_type.kind}")
                    )
                    with item, ui.item_section():
                        ui.item_label(node_type.title)
                        ui.item_label(node_type.summary).props("caption lines=2")
                    item.tooltip("Drag onto the canvas, or click to add")
                    self.items[node_type.kind] = item
            self.groups[family] = group

    def filter(self, query: str) -> list[str]:
        """Show only the types matching ``query``; the visible type names."""
        visible = []
        for family, group in self.groups.items():
            shown = False
            for node_type in (t for t in CATALOG if t.family is family):
                hit = matches(query, node_type.kind, node_type.title, node_type.summary, family.value)
                self.items[node_type.kind].set_visibility(hit)
                shown = shown or hit
                if hit:
                    visible.append(node_type.kind)
            group.set_visibility(shown)
        return visible
