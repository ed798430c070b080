"""The team server's operator commands (issue 13, "Identity" and "Two modes"), run as ``dagsmith`` runs them.

- ``dagsmith users add/list/disable/enable/reset-password/token/tokens/revoke-token`` on the server's
  database: passwords stored only as argon2id hashes, disabling and a reset end the user's sessions, API
  tokens stored only as digests and revocable, every refusal a sentence without a traceback.
- ``dagsmith projects create/grant``.
- ``dagsmith serve`` takes its settings from a config file and the environment (the environment wins, the
  command line over both) and refuses SQLite without ``--trial``, before anything starts.

The CLI runs in this process (``cli.run``) on a SQLite file named by ``DAGSMITH_DATABASE_URL``; the database
is then read directly, as an attacker who copied it would.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from dagsmith.editor import cli
from dagsmith.editor.store import Role, open_store
from dagsmith.editor.team import server
from dagsmith.editor.team.accounts import Accounts, digest
from dagsmith.editor.team.settings import TeamSettings

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new staple"
SECRET = "s" * 48


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'team.db'}"
    monkeypatch.setenv("DAGSMITH_DATABASE_URL", url)
    monkeypatch.delenv("DAGSMITH_CONFIG", raising=False)
    return url


def dagsmith(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> Any:
    """Run ``dagsmith ARGV`` with ``stdin``; (exit status, stdout, stderr)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = cli.run(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def everything_stored(url: str) -> str:
    """Every value of every table in the database, as one text (what a copy of the database gives away)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            tables = sa.inspect(connection).get_table_names()
            rows = [row for table in tables for row in connection.execute(sa.text(f'SELECT * FROM "{table}"'))]
    finally:
        engine.dispose()
    return "\n".join(repr(tuple(row)) for row in rows)


@pytest.fixture
def accounts(database: str) -> Iterator[Accounts]:
    store = open_store(database, local_user=False)
    yield Accounts(store)
    store.close()


def test_users_add_stores_an_argon2id_hash_and_the_password_signs_in(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = dagsmith(
        monkeypatch, capsys, "users", "add", "alice", "--admin", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert status == 0, err
    assert out.strip() == "added alice (organisation admin)"
    stored = everything_stored(database)
    assert PASSWORD not in stored  # never the password itself
    engine = sa.create_engine(database)
    with engine.connect() as connection:
        (hashed,) = connection.execute(sa.text("SELECT password_hash FROM user_login")).one()
    engine.dispose()
    assert hashed.startswith("$argon2id$")
    assert PasswordHasher().verify(hashed, PASSWORD)
    store = open_store(database, local_user=False)
    try:
        accounts = Accounts(store)
        assert accounts.authenticate("alice", PASSWORD, address="198.51.100.1") is not None
        assert accounts.authenticate("alice", "not the password", address="198.51.100.1") is None
    finally:
        store.close()


def test_a_short_password_and_a_taken_name_are_refused_in_a_sentence(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = dagsmith(monkeypatch, capsys, "users", "add", "bob", "--password-stdin", stdin="short\n")
    assert status == 2 and "dagsmith users add: a password needs at least" in err and "Traceback" not in err
    assert dagsmith(monkeypatch, capsys, "users", "add", "bob", "--password-stdin", stdin=PASSWORD)[0] == 0
    status, _, err = dagsmith(monkeypatch, capsys, "users", "add", "bob", "--password-stdin", stdin=PASSWORD)
    assert status == 2 and err.startswith("dagsmith users add: ") and "bob" in err and "Traceback" not in err


def test_list_disable_enable_and_reset_password(
    database: str, accounts: Accounts, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, flag in (("alice", "--admin"), ("carol", "--password-stdin")):
        assert dagsmith(monkeypatch, capsys, "users", "add", name, flag, "--password-stdin", stdin=PASSWORD)[0] == 0
    accounts.store.create_user("sso-dan")  # made by the proxy or OIDC: no password here
    sessions = [accounts.start_session("carol", hours=8) for _ in range(2)]
    assert all(accounts.session_identity(secret) for secret in sessions)

    status, out, _ = dagsmith(monkeypatch, capsys, "users", "disable", "carol")
    assert status == 0 and out.strip() == "disabled carol"
    assert not any(accounts.session_identity(secret) for secret in sessions)  # disabling ended them
    assert accounts.authenticate("carol", PASSWORD, address="198.51.100.2") is None
    lines = {line.split()[0]: line for line in dagsmith(monkeypatch, capsys, "users", "list")[1].splitlines()}
    assert set(lines) == {"alice", "carol", "sso-dan"}
    assert lines["alice"].endswith("admin") and lines["carol"].endswith("disabled")
    assert lines["sso-dan"].endswith("no password")

    assert dagsmith(monkeypatch, capsys, "users", "enable", "carol")[1].strip() == "enabled carol"
    assert not any(accounts.session_identity(secret) for secret in sessions)  # ended, not only paused
    assert accounts.authenticate("carol", PASSWORD, address="198.51.100.3") is not None
    live = accounts.start_session("carol", hours=8)
    status, out, _ = dagsmith(
        monkeypatch, capsys, "users", "reset-password", "carol", "--password-stdin", stdin=NEW_PASSWORD + "\n"
    )
    assert status == 0 and "their sessions were ended" in out
    assert accounts.session_identity(live) is None
    assert accounts.authenticate("carol", PASSWORD, address="198.51.100.4") is None
    assert accounts.authenticate("carol", NEW_PASSWORD, address="198.51.100.4") is not None
    status, _, err = dagsmith(monkeypatch, capsys, "users", "disable", "nobody")
    assert status == 2 and "nobody" in err and "Traceback" not in err


def test_tokens_are_shown_once_stored_as_digests_and_revoked(
    database: str, accounts: Accounts, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dagsmith(monkeypatch, capsys, "users", "add", "ci-bot", "--password-stdin", stdin=PASSWORD)[0] == 0
    status, out, err = dagsmith(monkeypatch, capsys, "users", "token", "ci-bot", "--label", "nightly")
    secret = out.strip()
    assert status == 0 and "shown once" in err and secret
    stored = everything_stored(database)
    assert secret not in stored and digest(secret) in stored  # only the digest is kept
    identity = accounts.token_identity(secret)
    assert identity is not None and identity.name == "ci-bot"
    (listed,) = dagsmith(monkeypatch, capsys, "users", "tokens", "ci-bot")[1].splitlines()
    token_id = listed.split()[0]
    assert "nightly" in listed and listed.endswith("active")

    status, out, _ = dagsmith(monkeypatch, capsys, "users", "revoke-token", "ci-bot", token_id)
    assert status == 0 and out.strip() == f"revoked token {token_id} of ci-bot"
    assert accounts.token_identity(secret) is None
    assert "revoked" in dagsmith(monkeypatch, capsys, "users", "tokens", "ci-bot")[1]
    status, _, err = dagsmith(monkeypatch, capsys, "users", "revoke-token", "ci-bot", "999")
    assert status == 2 and "has no API token 999" in err


def test_projects_create_and_grant(
    database: str, accounts: Accounts, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("alice", "bob"):
        assert dagsmith(monkeypatch, capsys, "users", "add", name, "--password-stdin", stdin=PASSWORD)[0] == 0
    status, out, _ = dagsmith(monkeypatch, capsys, "projects", "create", "Recsys", "--owner", "alice")
    assert status == 0 and "created project 'Recsys'" in out
    status, out, _ = dagsmith(monkeypatch, capsys, "projects", "grant", "Recsys", "bob", "editor")
    assert status == 0 and out.strip() == "bob is now editor of 'Recsys'"
    (project,) = accounts.store.list_projects(user="bob")
    assert accounts.store.role_of("bob", project.id) is Role.EDITOR
    status, _, err = dagsmith(monkeypatch, capsys, "projects", "grant", "Recsys", "bob", "superuser")
    assert status == 2 and "there is no role 'superuser'" in err
    status, _, err = dagsmith(monkeypatch, capsys, "projects", "grant", "Nope", "bob", "viewer")
    assert status == 2 and "there is no project 'Nope'" in err


# ---- dagsmith serve: settings and the SQLite rule ------------------------------------------------------


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[TeamSettings]:
    """What ``dagsmith serve`` would have started the server with (nothing is started)."""
    runs: list[TeamSettings] = []
    monkeypatch.setattr(server, "run_team_server", runs.append)
    for name in ("DATABASE_URL", "SECRET_KEY", "SECRET_KEY_FILE", "HOST", "PORT", "TRIAL", "CONFIG"):
        monkeypatch.delenv(f"DAGSMITH_{name}", raising=False)
    return runs


def test_serve_refuses_sqlite_without_trial_before_starting(
    tmp_path: Path, started: list[TeamSettings], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSMITH_DATABASE_URL", f"sqlite:///{tmp_path / 'team.db'}")
    monkeypatch.setenv("DAGSMITH_SECRET_KEY", SECRET)
    status, _, err = dagsmith(monkeypatch, capsys, "serve")
    assert status == 2 and not started
    assert "DAGSMITH_DATABASE_URL names SQLite: a team server needs PostgreSQL" in err and "--trial" in err
    assert dagsmith(monkeypatch, capsys, "serve", "--trial")[0] == 0
    assert len(started) == 1 and started[0].trial and started[0].is_sqlite


def test_serve_reads_a_config_file_and_the_environment_wins(
    tmp_path: Path, started: list[TeamSettings], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "server.toml"
    config.write_text(
        "[server]\n"
        'database_url = "postgresql+psycopg://dagsmith@db.internal/dagsmith"\n'
        f'secret_key = "{SECRET}"\n'
        'host = "0.0.0.0"\n'
        "port = 9000\n"
    )
    status, out, err = dagsmith(monkeypatch, capsys, "serve", "--config", str(config))
    assert status == 0, err
    (settings,) = started
    assert (settings.database_url, settings.host, settings.port) == (
        "postgresql+psycopg://dagsmith@db.internal/dagsmith",
        "0.0.0.0",
        9000,
    )
    assert "http://0.0.0.0:9000/" in out
    monkeypatch.setenv("DAGSMITH_CONFIG", str(config))
    monkeypatch.setenv("DAGSMITH_PORT", "9100")
    assert dagsmith(monkeypatch, capsys, "serve")[0] == 0 and started[-1].port == 9100  # the environment wins
    assert dagsmith(monkeypatch, capsys, "serve", "--port", "9200")[0] == 0 and started[-1].port == 9200
    monkeypatch.delenv("DAGSMITH_CONFIG")
    monkeypatch.delenv("DAGSMITH_PORT")
    status, _, err = dagsmith(monkeypatch, capsys, "serve")
    assert status == 2 and len(started) == 3 and "DAGSMITH_DATABASE_URL" in err and "Traceback" not in err
