"""The example pipelines shipped with dagsmith (the editor's templates)."""

from __future__ import annotations

from importlib import resources

from .document import Pipeline
from .fileformat import parse

_SUFFIX = ".dagsmith.json"


def example_names() -> list[str]:
    """Names of the bundled examples, sorted."""
    folder = resources.files(__package__).joinpath("examples")
    return sorted(entry.name.removesuffix(_SUFFIX) for entry in folder.iterdir() if entry.name.endswith(_SUFFIX))


def load_example(name: str) -> Pipeline:
    """Load a bundled example by name (see ``example_names()``); KeyError names the known ones."""
    if name not in example_names():
        raise KeyError(f"no example {name!r}; known: {', '.join(example_names())}")
    text = resources.files(__package__).joinpath("examples", name + _SUFFIX).read_text(encoding="utf-8")
    return parse(text, source=f"example {name}")
