"""Imports point one way (editor -> codegen -> nodes) and generated code never needs dagsmith."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"nodes": "dagsmith.nodes", "codegen": "dagsmith.codegen", "editor": "dagsmith.editor"}
# What each package may not import, directly or through a relative import of a sibling package.
FORBIDDEN = {
    "nodes": ("dagsmith.codegen", "dagsmith.editor", "nicegui", "jinja2", "airflow", "dulwich", "sqlmodel"),
    "codegen": ("dagsmith.editor", "nicegui", "sqlmodel"),
    "editor": (),
}


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module_parts = [*PACKAGES[package].split("."), *path.relative_to(ROOT / package).with_suffix("").parts]
    if module_parts[-1] == "__init__":
        module_parts.pop()
    else:
        module_parts.pop()  # the module's own package
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_parts[: len(module_parts) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_respects_its_layer(package: str) -> None:
    violations = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "steps" in path.relative_to(ROOT / package).parts:
            continue  # step sources run inside pods; checked by test_steps_import_no_dagsmith
        for line, name in _imports(path, package):
            for banned in FORBIDDEN[package]:
                if name == banned or name.startswith(banned + "."):
                    violations.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert violations == []


def test_relative_imports_resolve_inside_package() -> None:
    # Guard the checker itself: a relative import in nodes/types resolves to dagsmith.nodes.*.
    names = [name for _, name in _imports(ROOT / "nodes" / "types" / "base.py", "nodes")]
    assert "dagsmith.nodes.common" in names


def test_steps_import_no_dagsmith() -> None:
    # The step runtime (steps/dagsmith_steps, its own distribution) and the local-only programs import only
    # the runtime itself, never the editor's package: the step image installs dagsmith-steps alone.
    found = 0
    for steps in (ROOT / "codegen" / "steps", ROOT / "steps" / "dagsmith_steps"):
        for path in sorted(steps.rglob("*.py")):
            found += 1
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                    wrong = [n for n in names if n.split(".")[0] == "dagsmith"]
                    assert not wrong, f"{path} imports {wrong}"
                assert not (isinstance(node, ast.ImportFrom) and node.level), f"{path} uses a relative import"
    assert found > 15, "the step sources were not found"
