"""The Elyra import's object-storage warning reaches the user: `dagsmith import` and the editor's upload."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagsmith.editor.cli import run
from dagsmith.editor.services import EditorServices

FIXTURES = Path(__file__).resolve().parents[1] / "nodes" / "elyra_fixtures"


def test_the_import_command_prints_the_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scoring.dagsmith.json"
    assert run(["import", str(FIXTURES / "v7_pipeline_defaults.pipeline"), "-o", str(out)]) == 0
    assert any(
        line.startswith("warning: pipeline: Elyra kept the output files")
        for line in capsys.readouterr().err.splitlines()
    )


def test_opening_an_elyra_file_in_the_editor_notifies_the_warning(tmp_path: Path) -> None:
    services = EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")
    content = (FIXTURES / "v7_pipeline_defaults.pipeline").read_bytes()
    imported = services.read_upload("scoring.pipeline", content)
    assert len(imported.warnings) == 1 and "prefix 'scoring/'" in imported.warnings[0]
