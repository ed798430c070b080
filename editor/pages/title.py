"""The page title of a pipeline: its name, with a dirty marker while a save is pending.

The desktop window shows the page's title as its own (desktop/window.py), so this is also the native
window's title; in the browser it is the tab's.
"""

from __future__ import annotations

DIRTY = "•"


def pipeline_title(name: str, *, dirty: bool) -> str:
    """``"• Name — dagsmith"`` while a change is not saved yet, ``"Name — dagsmith"`` once it is."""
    return f"{DIRTY + ' ' if dirty else ''}{name or 'Untitled'} — dagsmith"
