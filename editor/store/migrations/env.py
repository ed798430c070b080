"""Alembic's entry point: migrates the connection the store passes in, or a URL (offline: prints SQL)."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from dagsmith.editor.store.engine import VERSION_TABLE, make_engine
from dagsmith.editor.store.models import UTCDateTime, metadata

config = context.config


def _render_item(kind: str, item: object, _context: object) -> str | bool:
    # Migrations must not import the models they outlive: spell the store's own type by its database type.
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _options() -> dict[str, Any]:
    # Batch mode lets later migrations alter SQLite tables (it rebuilds them); other databases ignore it.
    return {
        "target_metadata": metadata,
        "version_table": VERSION_TABLE,
        "render_as_batch": True,
        "render_item": _render_item,
    }


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **_options())
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    """Migrate: offline (SQL script), the store's connection, or a new engine for ``sqlalchemy.url``."""
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **_options())
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("set sqlalchemy.url on the alembic config (engine.alembic_config(url)) to migrate")
    engine = make_engine(url)
    try:
        with engine.begin() as new_connection:
            _run(new_connection)
    finally:
        engine.dispose()


main()
