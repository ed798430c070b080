"""The command line with bad inputs and hostile text: exit 2 with a message (never 70), and no terminal controls."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dagsmith.editor.cli import run
from dagsmith.editor.terminal import printable
from dagsmith.nodes import load_example, save


def elyra(label: str = "Prepare") -> dict[str, Any]:
    """A small Elyra (version 8) pipeline with one Python step."""
    step = {
        "id": "n1",
        "type": "execution_node",
        "op": "execute-python-node",
        "app_data": {
            "label": label,
            "component_parameters": {"filename": "prep.py", "runtime_image": "python:3.11"},
            "ui_data": {"x_pos": 10, "y_pos": 20},
        },
    }
    return {
        "doc_type": "pipeline",
        "version": "3.0",
        "id": "p",
        "primary_pipeline": "primary",
        "pipelines": [{"id": "primary", "nodes": [step], "app_data": {"name": "mini", "version": 8}}],
        "schemas": [],
    }


@pytest.fixture
def elyra_file(tmp_path: Path) -> Path:
    path = tmp_path / "mini.pipeline"
    path.write_text(json.dumps(elyra()), encoding="utf-8")
    return path


def test_import_into_a_missing_folder_exits_2(
    elyra_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "missing" / "mini.dagsmith.json"
    assert run(["import", str(elyra_file), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert f"the folder {out.parent} does not exist" in err
    assert not out.parent.exists()


@pytest.mark.parametrize("force", [False, True])
def test_import_onto_a_folder_exits_2(
    elyra_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], force: bool
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    assert run(["import", str(elyra_file), "-o", str(folder), *(["--force"] if force else [])]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert f"{folder} is a folder" in err
    assert str(folder / "mini.dagsmith.json") in err  # suggests a file path inside it
    assert list(folder.iterdir()) == []


def test_import_of_text_that_is_not_unicode_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "surrogate.pipeline"
    source.write_text(json.dumps(elyra(label="bad \ud800 label")), encoding="utf-8")  # JSON escapes it: \ud800
    out = tmp_path / "surrogate.dagsmith.json"
    assert run(["import", str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert "not valid Unicode" in err
    assert not out.exists()


def test_import_still_writes_a_good_file(elyra_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mini.dagsmith.json"
    assert run(["import", str(elyra_file), "-o", str(out)]) == 0
    assert f"wrote {out} (1 nodes" in capsys.readouterr().out


def test_validate_escapes_terminal_controls_in_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = load_example("keyword_recommendation")
    train = pipeline.node("train")
    assert train is not None
    train.label = "Train\x1b[31m red\rover\x9b2J\x7f"
    train.params["pod"]["resources"]["cpu_limit"] = "2x"  # type: ignore[index]  # an issue on the labelled node
    path = tmp_path / "bad.dagsmith.json"
    save(pipeline, path)
    assert run(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert r"node 'train' (Train\x1b[31m red\rover\x9b2J\x7f)" in out
    assert not any(char in out for char in "\x1b\r\x9b\x7f")


def test_validate_json_escapes_c1_controls_and_stays_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kw \x9b31m \x7f.dagsmith.json"  # json.dumps leaves DEL and C1 controls raw
    save(load_example("keyword_recommendation"), path)
    assert run(["validate", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert not any(char in out for char in "\x9b\x7f")
    assert "\\u009b31m \\u007f" in out
    [result] = json.loads(out)
    assert result["file"] == str(path)


def test_a_file_name_with_controls_is_escaped_in_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", str(tmp_path / "no\x1b]0;title\x07.json")]) == 2
    err = capsys.readouterr().err
    assert r"no\x1b]0;title\x07.json" in err
    assert "\x1b" not in err and "\x07" not in err


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text\nnext line\n", "plain text\nnext line\n"),
        ("tab\there", r"tab\there"),
        ("\x00\x1f\x7f\x80\x9f", r"\x00\x1f\x7f\x80\x9f"),
        ("bell\x07", r"bell\x07"),
        ("lone \ud800", r"lone \ud800"),
        ("ünïcödé ✓", "ünïcödé ✓"),
    ],
)
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_export_and_runs_messages_escape_controls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = load_example("keyword_recommendation")
    train = pipeline.node("train")
    assert train is not None
    train.params["pod"]["resources"]["cpu_limit"] = "2x"  # type: ignore[index]
    path = tmp_path / "bad\x1b[2J.dagsmith.json"
    save(pipeline, path)
    assert run(["export", str(path), "--out", str(tmp_path / "dags")]) == 1  # export_cli's messages
    err = capsys.readouterr().err
    assert r"bad\x1b[2J.dagsmith.json: the pipeline cannot be exported" in err
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    assert run(["runs", str(path), "--workspace", str(tmp_path / "ws"), "--show", "x\x1b[2Jy"]) == 1  # run_cli's
    err = capsys.readouterr().err
    assert r"no run x\x1b[2Jy of keyword_recommendation" in err
    assert "\x1b" not in err


def test_export_to_branch_head_exits_2_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kw.dagsmith.json"
    save(load_example("keyword_recommendation"), path)
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    assert run(["export", str(path), "--git", str(repo), "--branch", "HEAD"]) == 2
    err = capsys.readouterr().err
    assert "dagsmith export: 'HEAD' is not a valid git branch name: HEAD names the checked-out commit" in err
    assert not (repo / ".git" / "refs" / "heads" / "HEAD").exists()
