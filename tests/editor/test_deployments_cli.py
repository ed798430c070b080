"""``dagsmith deployments`` and ``dagsmith remote`` without an Airflow: settings, and errors that are one line.

The commands against a real Airflow 3 are in ``test_deployments_airflow.py``.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlite_dump import sqlite_dump

from dagsmith.editor.cli import run
from dagsmith.editor.store import DB_FILENAME


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path))
    monkeypatch.delenv("DAGSMITH_DATABASE_URL", raising=False)
    return tmp_path


def dagsmith(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = run(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_add_list_remove_keep_only_a_reference(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, _, err = dagsmith(capsys, "deployments", "add", "prod", "--url", "https://a.example.com", "--secret", "tok")
    assert status == 2
    assert err.startswith("dagsmith deployments add: secret: give where the token or password is, not the secret")
    monkeypatch.setenv("PROD_TOKEN", "tok-value-1234")
    status, out, _ = dagsmith(
        capsys, "deployments", "add", "prod", "--url", "https://a.example.com/", "--secret", "env:PROD_TOKEN"
    )
    assert status == 0 and "prod  https://a.example.com  api auto  token from env:PROD_TOKEN" in out
    stored = sqlite_dump(home / DB_FILENAME)  # through SQLite: WAL rows included, no locks dropped
    assert "env:PROD_TOKEN" in stored and "tok-value-1234" not in stored
    status, _, err = dagsmith(capsys, "deployments", "add", "prod", "--url", "https://b.example.com", "--auth", "none")
    assert status == 2 and "pass --replace to change it" in err
    status, out, _ = dagsmith(capsys, "deployments", "list")
    assert out.splitlines() == ["prod  https://a.example.com  api auto  token from env:PROD_TOKEN"]
    status, out, _ = dagsmith(capsys, "deployments", "remove", "prod")
    assert status == 0 and "removed the deployment 'prod'" in out
    status, out, _ = dagsmith(capsys, "deployments", "list")
    assert "has no deployments" in out


def test_remote_errors_are_one_line_that_says_what_to_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    status, _, err = dagsmith(capsys, "remote", "status", "keyword_recommendation")
    assert status == 2 and "--deployment: name the deployment" in err and "none yet" in err
    dagsmith(capsys, "deployments", "add", "gone", "--url", url, "--user", "ops", "--secret", "env:GONE_PW")
    monkeypatch.delenv("GONE_PW", raising=False)
    status, _, err = dagsmith(capsys, "remote", "runs", "keyword_recommendation")
    assert status == 2 and "the environment variable GONE_PW (its password) is not set" in err
    monkeypatch.setenv("GONE_PW", "pw")
    status, _, err = dagsmith(capsys, "remote", "status", "keyword_recommendation", "-d", "gone")
    assert status == 2 and f"deployment 'gone': cannot reach the Airflow API at {url}" in err
    status, _, err = dagsmith(capsys, "remote", "status", "no_such_pipeline")
    assert status == 2 and "pipeline 'no_such_pipeline': not a dag_id or name" in err
    status, _, err = dagsmith(capsys, "remote", "trigger", "keyword_recommendation", "--param", "rows")
    assert status == 2 and "--param 'rows': write NAME=VALUE" in err
    status, _, err = dagsmith(capsys, "remote", "pause", "keyword_recommendation", "-d", "prod")
    assert status == 2 and "deployment 'prod': the project has no deployment of that name (it has: gone)" in err
