"""The Kubernetes export warnings reach the user: on stderr from `dagsmith export`, in the export dialog."""

from __future__ import annotations

from pathlib import Path

import pytest
from nicegui.testing import User
from test_workbench import open_bench

from dagsmith.editor.cli import run
from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Pipeline, save


def pipeline(**settings: object) -> Pipeline:
    nodes = [{"id": "train", "type": "script", "params": {"script": "train.py"}}]
    return Pipeline.model_validate(
        {"settings": {"name": "Warned", "default_image": "img:1", **settings}} | {"nodes": nodes}
    )


@pytest.fixture
def services(tmp_path: Path) -> EditorServices:
    return EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")


def test_cli_export_warns_on_stderr_and_still_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "warned.dagsmith.json"
    save(pipeline(), source)
    assert run(["export", str(source), "--out", str(tmp_path / "dags")]) == 0
    out, err = capsys.readouterr()
    assert Path(out.strip()) == tmp_path / "dags" / "warned.py"
    lines = err.splitlines()
    assert any(
        line.startswith(f"{source}: warning: the artifact root") and "settings.artifact_store.pvc" in line
        for line in lines
    )
    assert any("settings.service_accounts.private" in line for line in lines)


def test_cli_export_is_quiet_when_the_cluster_settings_are_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "quiet.dagsmith.json"
    store = {"workload_identity": True}
    save(
        pipeline(artifact_root="s3://ml-artifacts/x", artifact_store=store, service_accounts={"private": "runner"}),
        source,
    )
    assert run(["export", str(source), "--out", str(tmp_path / "dags")]) == 0
    assert "warning" not in capsys.readouterr().err


async def test_the_export_dialog_shows_the_warnings(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services, pipeline())
    await page.bench.open_export()
    assert page.bench.export.source  # the export is not blocked
    await user.should_see("is a folder inside each pod")
    await user.should_see("no service account is mapped")
