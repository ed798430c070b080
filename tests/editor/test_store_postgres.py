"""The store on a real PostgreSQL server (a throw-away cluster started for the test session)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from dagsmith.editor.store import Conflict, open_store
from dagsmith.nodes import load_example

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(*command: str) -> list[str]:
    # initdb and the server refuse to run as root; CI runs as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    assert binaries, "PostgreSQL server binaries are needed (apt-get install postgresql); .ci/run installs them"
    bin_dir = binaries[-1].parent
    # pytest's own temp folders are private to root; the server's user must reach its data folder.
    base = Path(tempfile.mkdtemp(prefix="dagsmith-pg-"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "dagsmith", "--no-sync"),
        check=True,
        capture_output=True,
    )
    options = f"-k {data} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(data / "log"), "start"),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            _as_postgres(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagsmith", "dagsmith"),
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://dagsmith@127.0.0.1:{port}/dagsmith"
    finally:
        subprocess.run(
            _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def test_store_round_trip_on_postgresql(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSMITH_DATABASE_URL", postgres_url)
    store = open_store()  # the URL comes from the environment
    try:
        assert store.engine.dialect.name == "postgresql"
        project = store.create_project("Team")
        pipeline = load_example("keyword_recommendation")
        info = store.create_pipeline(project.id, pipeline)
        pipeline.settings.description = "edited"
        store.save_draft(info.id, pipeline)
        assert store.get_draft(info.id).pipeline().settings.description == "edited"
        first = store.create_version(info.id, message="one")
        with pytest.raises(Conflict):
            store.create_version(info.id)
        pipeline.settings.retries = 3
        store.save_draft(info.id, pipeline)
        second = store.create_version(info.id)
        assert (first.number, second.number) == (1, 2)
        assert store.get_version(info.id, 1).pipeline().settings.retries == 2
        with store.engine.begin() as connection, pytest.raises(Exception, match=r"immutable|cannot be changed"):
            connection.execute(text("UPDATE version SET message = 'changed'"))
    finally:
        store.close()
    reopened = open_store(postgres_url)  # migrations are idempotent
    try:
        assert [p.name for p in reopened.list_projects()] == ["Team"]
    finally:
        reopened.close()
