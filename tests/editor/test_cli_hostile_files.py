"""Files the loader refuses reach the user as exit 2 with a message that says where, never exit 70."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dagsmith.editor.cli import run
from dagsmith.nodes import dumps, load_example, save

EXAMPLE = "keyword_recommendation"


def _write_with(tmp_path: Path, field: str, raw: str) -> Path:
    """The example, with the script of node 'train' set to ``raw`` JSON text (a number or a string)."""
    data = json.loads(dumps(load_example(EXAMPLE)))
    train = next(n for n in data["nodes"] if n["id"] == "train")
    train["params"][field] = "@@PLACEHOLDER@@"
    path = tmp_path / "hostile.dagsmith.json"
    path.write_text(json.dumps(data, indent=2).replace('"@@PLACEHOLDER@@"', raw), encoding="utf-8")
    return path


HOSTILE = {
    "infinite number": ("seed", "1e999", "the number 1e999"),
    "5000-digit integer": ("seed", "7" * 5000, "an integer of 5000 digits"),
    "lone surrogate": ("script", '"\\ud800.py"', "the text '\\ud800.py' contains a lone surrogate"),
}


@pytest.mark.parametrize(("field", "raw", "said"), HOSTILE.values(), ids=HOSTILE)
def test_validate_refuses_with_exit_2_and_the_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, raw: str, said: str
) -> None:
    path = _write_with(tmp_path, field, raw)
    assert run(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: nodes[" in err
    assert f"('train').params.{field}: {said}" in err
    assert "internal error" not in err


@pytest.mark.parametrize(("field", "raw", "said"), HOSTILE.values(), ids=HOSTILE)
def test_export_to_a_folder_refuses_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, raw: str, said: str
) -> None:
    path = _write_with(tmp_path, field, raw)
    out = tmp_path / "dags"
    out.mkdir()
    assert run(["export", str(path), "--out", str(out)]) == 2
    assert said in capsys.readouterr().err
    assert not list(out.iterdir())


@pytest.mark.parametrize(("field", "raw", "said"), HOSTILE.values(), ids=HOSTILE)
def test_export_to_git_refuses_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, raw: str, said: str
) -> None:
    path = _write_with(tmp_path, field, raw)
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert run(["export", str(path), "--git", str(repo)]) == 2
    assert said in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_validate_refuses_a_named_pipe_and_a_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "pipe.dagsmith.json"
    os.mkfifo(fifo)
    targets = [str(fifo)] + (["/dev/zero"] if Path("/dev/zero").exists() else [])
    assert run(["validate", *targets]) == 2
    err = capsys.readouterr().err
    assert f"{fifo}: cannot read the file: it is a named pipe, not a regular file" in err
    if len(targets) > 1:
        assert "/dev/zero: cannot read the file: it is a device, not a regular file" in err


@pytest.mark.timeout(60)
def test_import_refuses_a_device_and_a_huge_integer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "pipe.pipeline"
    os.mkfifo(fifo)
    assert run(["import", str(fifo), "-o", str(tmp_path / "a.dagsmith.json")]) == 2
    assert "not a regular file" in capsys.readouterr().err
    elyra = tmp_path / "big.pipeline"
    elyra.write_text(
        '{"doc_type": "pipeline", "version": "3.0", "id": "x", "primary_pipeline": "p", "pipelines": '
        '[{"id": "p", "nodes": [], "app_data": {"version": ' + "9" * 5000 + "}}]}"
    )
    assert run(["import", str(elyra), "-o", str(tmp_path / "b.dagsmith.json")]) == 2
    err = capsys.readouterr().err
    assert f"{elyra}: " in err
    assert "digits" in err
    assert not (tmp_path / "b.dagsmith.json").exists()


def test_the_cli_reports_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 12 D12: a parameter that is never defined is a validation error, not a failed task at run time."""
    pipeline = load_example(EXAMPLE)
    train = pipeline.node("train")
    assert train is not None
    train.params["arguments"] = ["--lr", "{{ params.nope }}"]
    path = tmp_path / "p.dagsmith.json"
    save(pipeline, path)
    assert run(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "[undefined-param] node 'train' (Train) field 'arguments.1'" in out
