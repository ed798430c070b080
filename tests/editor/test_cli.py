"""The dagsmith command line: exit codes, messages, JSON output, and what it must not import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dagsmith.editor.cli import run
from dagsmith.nodes import Pipeline, example_names, load, load_example, save

EXAMPLE = "keyword_recommendation"


@pytest.fixture
def valid_file(tmp_path: Path) -> Path:
    path = tmp_path / "kw.dagsmith.json"
    save(load_example(EXAMPLE), path)
    return path


@pytest.fixture
def invalid_file(tmp_path: Path) -> Path:
    pipeline = load_example(EXAMPLE)
    train = pipeline.node("train")
    assert train is not None
    train.params["pod"]["resources"]["cpu_limit"] = "2x"  # type: ignore[index]
    path = tmp_path / "bad.dagsmith.json"
    save(pipeline, path)
    return path


def test_validate_valid_file_exits_0(valid_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", str(valid_file)]) == 0
    assert "valid" in capsys.readouterr().out


def test_validate_errors_exit_1_with_node_and_field(invalid_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", str(invalid_file)]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "[invalid-value]" in line)
    assert "node 'train' (Train)" in line
    assert "field 'pod.resources.cpu_limit'" in line
    assert "'2x' is not a Kubernetes quantity" in line


def test_validate_truncated_json_exits_2_with_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cut.dagsmith.json"
    path.write_text('{\n  "format": "dagsmith.pipeline",\n  "version": 2,\n  "nodes": [', encoding="utf-8")
    assert run(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4:" in err
    assert "malformed JSON" in err


def test_validate_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", str(tmp_path / "nope.json")]) == 2
    assert "cannot read the file" in capsys.readouterr().err


def test_validate_worst_status_wins_over_several_files(valid_file: Path, invalid_file: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("[]", encoding="utf-8")
    assert run(["validate", str(valid_file), str(invalid_file)]) == 1
    assert run(["validate", str(valid_file), str(invalid_file), str(broken)]) == 2


def test_validate_json_output(invalid_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "--json", str(invalid_file)]) == 1
    [result] = json.loads(capsys.readouterr().out)
    assert result["dag_id"] == "keyword_recommendation"
    assert result["errors"] == 1
    [issue] = [i for i in result["issues"] if i["severity"] == "error"]
    assert issue == {
        "severity": "error",
        "code": "invalid-value",
        "message": issue["message"],
        "node": "train",
        "edge": None,
        "field": "pod.resources.cpu_limit",
        "suggestions": [],
    }


def test_schema_is_json_schema_of_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["properties"]["format"] == {"const": "dagsmith.pipeline"}
    assert {"nodes", "edges", "settings"} <= set(schema["properties"])


def test_catalog_lists_every_type_with_ports(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["catalog", "--json"]) == 0
    entries = {e["type"]: e for e in json.loads(capsys.readouterr().out)}
    assert {"script", "notebook", "model_gate", "bentoml_deploy", "monitor"} <= set(entries)
    assert [p["name"] for p in entries["register_model"]["inputs"]] == ["run"]
    assert entries["register_model"]["fields"]["model_name"]["required"] is True
    assert run(["catalog"]) == 0
    assert "model_gate  [track]" in capsys.readouterr().out


def test_import_elyra_reports_unmapped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Our own fixture (in every clone): two Airflow package operators, which have no dagsmith type.
    source = Path(__file__).resolve().parents[1] / "nodes" / "elyra_fixtures" / "v4_airflow_package_operators.pipeline"
    out = tmp_path / "bash.dagsmith.json"
    assert run(["import", str(source), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "not mapped: node 'Say hello' (op 'bash-operator_BashOperator')" in captured.err
    assert "not mapped: node 'Mail the team'" in captured.err
    assert load(out).nodes[0].unmapped
    assert run(["import", str(source), "-o", str(out)]) == 2  # refuses to overwrite
    assert "--force" in capsys.readouterr().err


def test_export_to_folder_prints_path_and_is_stable(
    valid_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dags"
    assert run(["export", str(valid_file), "--out", str(out)]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == out / "keyword_recommendation.py"
    first = path.read_bytes()
    assert run(["export", str(valid_file), "--out", str(out)]) == 0
    assert path.read_bytes() == first


def test_export_refuses_invalid_pipeline(
    invalid_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["export", str(invalid_file), "--out", str(tmp_path)]) == 1
    assert "cpu_limit" in capsys.readouterr().err
    assert not (tmp_path / "keyword_recommendation.py").exists()


def test_export_git_versions_and_diff(valid_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert run(["export", str(valid_file), "--git", str(repo), "-m", "first"]) == 0
    pipeline = load(valid_file)
    pipeline.settings.description = "Changed description."
    save(pipeline, valid_file)
    assert run(["export", str(valid_file), "--git", str(repo)]) == 0
    capsys.readouterr()
    assert run(["versions", "keyword_recommendation", "--git", str(repo)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["v2", "v1"]
    assert run(["diff", str(valid_file), "1", "2", "--git", str(repo), "--what", "pipeline"]) == 0
    assert '+    "description": "Changed description.",' in capsys.readouterr().out
    assert run(["diff", "keyword_recommendation", "1", "7", "--git", str(repo)]) == 2


def test_internal_error_has_no_traceback(
    monkeypatch: pytest.MonkeyPatch, valid_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(pipeline: Pipeline) -> list[object]:
        raise RuntimeError("kaboom")

    monkeypatch.setattr("dagsmith.editor.cli.validate", boom)
    monkeypatch.delenv("DAGSMITH_DEBUG", raising=False)
    assert run(["validate", str(valid_file)]) == 70
    err = capsys.readouterr().err
    assert "internal error (RuntimeError: kaboom)" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [["catalog"], ["schema"], ["validate", "FILE"]])
def test_document_commands_load_neither_nicegui_nor_airflow(command: list[str], valid_file: Path) -> None:
    argv = [str(valid_file) if arg == "FILE" else arg for arg in command]
    code = (
        "import sys\nfrom dagsmith.editor.cli import run\n"
        f"status = run({argv!r})\n"
        "heavy = sorted(m for m in ('nicegui', 'airflow', 'jinja2', 'dulwich', 'sqlmodel') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(status)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in result.stdout


def test_every_example_validates_through_the_cli(tmp_path: Path) -> None:
    paths = []
    for name in example_names():
        path = tmp_path / f"{name}.dagsmith.json"
        save(load_example(name), path)
        paths.append(str(path))
    assert run(["validate", *paths]) == 0
