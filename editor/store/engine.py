"""Where the database is, how to connect to it, and bringing its schema up to date.

The database is embedded SQLite at ``$DAGSMITH_HOME/dagsmith.db`` unless ``DAGSMITH_DATABASE_URL`` names
another one (PostgreSQL for a team server: ``postgresql+psycopg://user@host/dagsmith``). ``DAGSMITH_HOME``
defaults to the user data folder (platformdirs when installed, else ``$XDG_DATA_HOME/dagsmith`` or
``~/.local/share/dagsmith``).

SQLite runs in WAL mode with ``synchronous=FULL``: every committed transaction (each draft save) is on
disk before the call returns, so a crash of the browser, the server process or the machine loses
nothing that was saved. NORMAL would survive process crashes too but may lose the last saves on power
loss; a WAL commit with FULL costs one fsync, which is cheap next to a user's edit rate.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

from .errors import SchemaError

ENV_HOME = "DAGSMITH_HOME"
ENV_URL = "DAGSMITH_DATABASE_URL"
DB_FILENAME = "dagsmith.db"
VERSION_TABLE = "dagsmith_alembic_version"
"""Alembic's bookkeeping table; named so that a shared PostgreSQL database can hold other applications."""
IMMEDIATE = "dagsmith_write"
"""Execution option: begin the transaction as a writer (SQLite ``BEGIN IMMEDIATE``)."""
MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x646167736D697468  # "dagsmith": serialises concurrent upgrades on PostgreSQL
PING_AFTER_IDLE_SECONDS = 2.0
"""A pooled PostgreSQL connection unused for this long is checked before it is used again (``_ping_when_idle``)."""
_IDLE_SINCE = "dagsmith_idle_since"


def dagsmith_home() -> Path:
    """The folder for dagsmith's local data: ``$DAGSMITH_HOME`` or the platform's user data folder."""
    configured = os.environ.get(ENV_HOME)
    if configured:
        return Path(configured).expanduser()
    try:
        import platformdirs
    except ImportError:
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        return Path(base) / "dagsmith"
    return Path(platformdirs.user_data_path("dagsmith", appauthor=False))


def database_url(url: str | None = None) -> str:
    """The database to use: ``url``, else ``$DAGSMITH_DATABASE_URL``, else SQLite in ``dagsmith_home()``."""
    chosen = url or os.environ.get(ENV_URL)
    if chosen:
        return chosen
    return f"sqlite:///{dagsmith_home() / DB_FILENAME}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, durable commits, foreign keys and writer transactions."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SchemaError(
            f"{url!r} is not a database URL; use e.g. sqlite:////path/dagsmith.db or "
            f"postgresql+psycopg://user@host/dagsmith (check {ENV_URL})"
        ) from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SchemaError(
                    f"cannot create the database folder {folder}: {exc.strerror or exc}; "
                    f"set {ENV_HOME} or {ENV_URL} to a writable place"
                ) from None
        kwargs["connect_args"] = {"check_same_thread": False}
    try:
        engine = create_engine(parsed, **kwargs)
    except ModuleNotFoundError as exc:
        raise SchemaError(
            f"no database driver for {parsed.drivername!r} ({exc.name} is not installed); for PostgreSQL "
            "install psycopg ('pip install \"psycopg[binary]\"') and use a postgresql+psycopg:// URL"
        ) from None
    except ArgumentError as exc:
        raise SchemaError(f"cannot use the database URL {parsed!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        event.listen(engine, "checkin", _idle_from_now)
        event.listen(engine, "checkout", functools.partial(_ping_when_idle, engine.dialect))
    return engine


def _idle_from_now(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _ping_when_idle(dialect: Dialect, dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: object) -> None:
    """A pooled connection idle for ``PING_AFTER_IDLE_SECONDS`` is pinged before use; a dead one is replaced.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: one more round trip per session, which under the
    team load bench was a tenth of a replica's event loop time and a quarter of its database round trips. A
    connection in steady use was used a moment ago, so the database was there then; one that sat idle (e.g.
    over a database restart) is checked as before. A fresh connection was just made and needs no ping.
    """
    since = record.info.pop(_IDLE_SINCE, None)
    if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as exc:  # the pool opens a new connection instead (and gives up after a few tries)
        raise DisconnectionError(f"a pooled database connection is gone: {exc}") from exc


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    # The driver's own implicit transactions would defer BEGIN past our pragmas and ignore IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("busy_timeout=30000", "journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A writer takes the lock up front; upgrading a read lock later can fail at once with "database is locked".
    immediate = connection.get_execution_options().get(IMMEDIATE)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration for the store's migrations, without an ``alembic.ini``.

    Developers add a migration after changing ``models``::

        command.revision(alembic_config("sqlite:////tmp/dev.db"), "what changed", autogenerate=True,
                         rev_id="0002")
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_table", VERSION_TABLE)
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest schema revision this dagsmith knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the store's migrations folder holds no revisions"
    return head


def current_revision(connection: Connection) -> str | None:
    """The schema revision of the connected database; None when it has no dagsmith tables yet."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision in one transaction; a no-op when it is there already.

    Concurrent callers wait for each other (SQLite write lock, PostgreSQL advisory lock), so two
    processes opening a new database at once both succeed.
    """
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    where = engine.url.render_as_string(hide_password=True)
    with engine.connect().execution_options(**{IMMEDIATE: True}) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        current = current_revision(connection)
        if current is not None:
            try:
                script.get_revision(current)
            except CommandError:
                raise SchemaError(
                    f"the database {where} has schema revision {current!r}, which this dagsmith does not know: "
                    f"a newer dagsmith wrote it; upgrade dagsmith, or set {ENV_URL} to another database"
                ) from None
        if current == script.get_current_head():
            return
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
