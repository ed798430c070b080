"""Pooled PostgreSQL connections are pinged only after sitting idle, and a dead one is replaced (issue 13, load).

``pool_pre_ping`` cost one round trip per session: under the team load bench a tenth of a replica's event-loop
time. A connection in steady use is not pinged now; one idle for ``PING_AFTER_IDLE_SECONDS`` still is, so a
connection the database dropped meanwhile (a restart, a terminated backend) is replaced instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from team_servers import postgres

from dagsmith.editor.store import engine as engine_module
from dagsmith.editor.store.engine import make_engine


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres() as url:
        yield url


@pytest.fixture
def pings(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, list[int]]]:
    engine = make_engine(database)
    done: list[int] = []
    ping = engine.dialect.do_ping

    def counting(dbapi_connection: object) -> bool:
        done.append(1)
        return ping(dbapi_connection)  # type: ignore[arg-type]

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    yield engine, done
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_in_steady_use_is_not_pinged(pings: tuple[Engine, list[int]]) -> None:
    engine, done = pings
    first = backend_pid(engine)
    for _ in range(5):
        assert backend_pid(engine) == first  # the same pooled connection, used again at once
    assert done == []


def test_an_idle_connection_the_database_dropped_is_replaced(
    pings: tuple[Engine, list[int]], database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, done = pings
    first = backend_pid(engine)
    with psycopg.connect(database.replace("postgresql+psycopg", "postgresql"), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if it sat idle that long
    again = backend_pid(engine)  # no error: the ping found it dead and the pool connected anew
    assert again != first
    assert done == [1]
