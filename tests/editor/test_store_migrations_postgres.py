"""The store's migrations on a real PostgreSQL (a throw-away cluster, ``team_servers.postgres``), as
``test_store.py`` checks them on SQLite: every revision from an empty database, no drift from the models,
down to base and up again, migration 0006 (``user.idp_groups``) on an existing 0005 database, and migration
0007 (``review_opening``: who opened a review showing which content) on an existing 0006 database.

Each test gets its own database in the module's cluster.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from team_servers import postgres
from test_store import TABLES

from dagsmith.editor.store import alembic_config, head_revision, open_store
from dagsmith.editor.store.engine import VERSION_TABLE, make_engine, upgrade
from dagsmith.editor.store.models import metadata
from dagsmith.nodes import load_example

pytestmark = pytest.mark.slow
NUMBERS = itertools.count(1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with postgres() as url:
        yield url


@pytest.fixture
def db(cluster: str) -> Iterator[str]:
    """A new, empty database in the cluster; its URL."""
    name = f"migrations_{next(NUMBERS)}"
    admin = sa.create_engine(cluster, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    yield cluster.rsplit("/", 1)[0] + f"/{name}"


def columns(engine: sa.Engine, table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns(table)}


def revision_of(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        return str(connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one())


def test_every_migration_runs_from_an_empty_database_and_ends_at_the_models(db: str) -> None:
    engine = make_engine(db)
    assert engine.dialect.name == "postgresql"
    assert sa.inspect(engine).get_table_names() == []
    config = alembic_config()
    steps = [script.revision for script in ScriptDirectory.from_config(config).walk_revisions("base", "heads")]
    assert sorted(steps) == [f"{number:04d}" for number in range(1, 8)]
    for step in sorted(steps):  # one revision at a time, each in its own transaction, as upgrades happen
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, step)
        assert revision_of(engine) == step
    assert set(sa.inspect(engine).get_table_names()) == TABLES | {VERSION_TABLE}
    assert revision_of(engine) == head_revision() == "0007"
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE, "compare_type": True})
        assert compare_metadata(context, metadata) == []
    engine.dispose()


def test_0006_upgrades_an_existing_0005_database_and_keeps_its_users(db: str) -> None:
    engine = make_engine(db)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        for name in ("old", "older"):
            connection.execute(
                sa.text('INSERT INTO "user" (name, display_name, created_at) VALUES (:name, :name, now())'),
                {"name": name},
            )
    assert "idp_groups" not in columns(engine, "user")

    upgrade(engine)  # what opening the store runs
    assert "idp_groups" in columns(engine, "user") and revision_of(engine) == head_revision()
    with engine.connect() as connection:
        rows = connection.execute(sa.text('SELECT name, display_name, idp_groups FROM "user" ORDER BY name'))
        assert [tuple(row) for row in rows] == [("old", "old", None), ("older", "older", None)]
    engine.dispose()
    with open_store(db, local_user=False) as store:
        assert store.idp_groups("old") == set()
        assert store.set_idp_groups("old", ["marketing", "finance"])
        assert store.idp_groups("old") == {"marketing", "finance"}
        assert store.idp_groups("older") == set()


def test_0007_upgrades_an_existing_0006_database_and_keeps_its_reviews(db: str) -> None:
    with open_store(db) as store:  # a database in use: a version in review (no openings: 0006 has no table)
        project = store.create_project("ML")
        pipeline = store.create_pipeline(project.id, load_example("user_targeting"))
        store.create_version(pipeline.id)
        review = store.request_content_review(pipeline.id, 1, content_hash="c" * 64, by="local").id
        store.record_opening(review, by="local", content_hash="c" * 64)
    engine = make_engine(db)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    assert "review_opening" not in sa.inspect(engine).get_table_names() and revision_of(engine) == "0006"

    upgrade(engine)  # what opening the store runs
    assert revision_of(engine) == "0007"
    assert columns(engine, "review_opening") == {"id", "review_id", "user_id", "content_hash", "opened_at"}
    engine.dispose()
    with open_store(db) as store:
        assert store.openings(review) == []  # the record went with the downgrade: the reviewer opens it again
        assert store.get_review(review)[2].content_hash == "c" * 64
        store.record_opening(review, by="local", content_hash="c" * 64)
        assert [(o.user, o.content_hash) for o in store.openings(review)] == [("local", "c" * 64)]


def test_downgrade_to_base_and_upgrade_again(db: str) -> None:
    with open_store(db) as store:  # a database in use: a user with IdP groups (the column 0006 drops), a project
        assert store.set_idp_groups("local", ["marketing"])
        store.create_project("ML")
    engine = make_engine(db)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    assert "idp_groups" not in columns(engine, "user") and revision_of(engine) == "0005"
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(sa.inspect(engine).get_table_names()) == {VERSION_TABLE}
    with engine.connect() as connection:  # 0001's trigger and its function are gone with the tables
        functions = connection.execute(sa.text("SELECT proname FROM pg_proc WHERE proname LIKE 'dagsmith%'"))
        assert list(functions) == []
    upgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) == TABLES | {VERSION_TABLE}
    assert "idp_groups" in columns(engine, "user") and revision_of(engine) == "0007"
    engine.dispose()
    with open_store(db) as store:  # the tables are new: the data went with them, the store works again
        assert store.list_projects() == [] and store.idp_groups("local") == set()
        assert store.create_project("ML again").name == "ML again"
