"""The setuptools package list covers every package folder, and the wheel carries the data files."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {
    "dagsmith.nodes": "nodes",
    "dagsmith.codegen": "codegen",
    "dagsmith.editor": "editor",
    # The step runtime (its own distribution, dagsmith-steps, from steps/) also ships inside dagsmith: the local
    # target embeds its sources, and codegen pins its RUNTIME_VERSION.
    "dagsmith_steps": "steps/dagsmith_steps",
}


def test_every_package_folder_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert config["package-dir"] == MAPPING
    found = set()
    for package, folder in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            if "node_modules" in init.parts:
                continue
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join([package, *relative]))
    assert sorted(found) == sorted(config["packages"])
