"""The store: migrations, where the database lives, drafts that survive crashes, immutable versions."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from dagsmith.codegen import content_hash
from dagsmith.editor.store import (
    LOCAL_USER,
    Conflict,
    NotFound,
    PipelineInfo,
    Project,
    SchemaError,
    Store,
    StoreError,
    alembic_config,
    dagsmith_home,
    database_url,
    head_revision,
    open_store,
)
from dagsmith.editor.store.engine import VERSION_TABLE, make_engine, upgrade
from dagsmith.editor.store.models import metadata
from dagsmith.nodes import Pipeline, PipelineSettings, dumps, load_example, parse

TABLES = {"user", "project", "project_member", "pipeline", "draft", "version", "review", "export"}
TABLES |= {"user_login", "auth_session", "api_token", "login_failure"}  # the team server's sign-in
TABLES |= {"deployment"}  # the Airflow deployments a project names
TABLES |= {"protected_target", "review_comment", "notification"}  # four-eyes review before production
TABLES |= {"review_opening"}  # who opened which content of a review (an approval needs it)


def url_for(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return url_for(tmp_path / "dagsmith.db")


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    with open_store(db) as opened:
        yield opened


@pytest.fixture
def example() -> Pipeline:
    return load_example("keyword_recommendation")


def new_pipeline(store: Store, document: Pipeline) -> tuple[Project, PipelineInfo]:
    project = store.create_project("ML")
    return project, store.create_pipeline(project.id, document)


def described(document: Pipeline, text: str) -> Pipeline:
    return document.model_copy(update={"settings": document.settings.model_copy(update={"description": text})})


def test_the_public_face_is_a_sorted_all() -> None:
    import dagsmith.editor.store as package

    assert package.__all__ == sorted(package.__all__)
    assert [name for name in package.__all__ if not hasattr(package, name)] == []


# Migrations


def test_upgrade_creates_every_table_from_an_empty_database(db: str) -> None:
    engine = make_engine(db)
    assert sa.inspect(engine).get_table_names() == []
    upgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) == TABLES | {VERSION_TABLE}
    with engine.connect() as connection:
        assert connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one() == head_revision()
    engine.dispose()
    assert head_revision() == "0007"


def test_models_and_migrations_do_not_drift(db: str) -> None:
    engine = make_engine(db)
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE, "compare_type": True})
        assert compare_metadata(context, metadata) == []
        config = alembic_config()
        config.attributes["connection"] = connection
        command.check(config)  # what `alembic check` runs: raises when autogenerate would write a migration
    engine.dispose()


def test_downgrade_to_base_and_upgrade_again(db: str) -> None:
    engine = make_engine(db)
    upgrade(engine)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(sa.inspect(engine).get_table_names()) == {VERSION_TABLE}
    upgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_opening_again_is_a_no_op_and_keeps_data(db: str, example: Pipeline) -> None:
    with open_store(db) as first:
        _, pipeline = new_pipeline(first, example)
    with open_store(db) as second:
        assert second.get_draft(pipeline.id).pipeline() == example
        assert [u.name for u in second.list_users()] == [LOCAL_USER]


def test_a_database_from_a_newer_dagsmith_is_refused(db: str) -> None:
    open_store(db).close()
    engine = make_engine(db)
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaError, match=r"schema revision '9999'.*a newer dagsmith wrote it; upgrade dagsmith"):
        open_store(db)


def test_postgresql_sql_renders_offline_with_the_trigger() -> None:
    # No PostgreSQL driver is installed; offline mode still renders the migration for a DBA to run.
    config = alembic_config("postgresql://dagsmith@localhost/dagsmith")
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()
    assert 'CREATE TABLE "user"' in sql
    assert "CREATE TRIGGER version_immutable BEFORE UPDATE ON version" in sql
    assert "LANGUAGE plpgsql" in sql
    assert f"INSERT INTO {VERSION_TABLE} (version_num) VALUES ('0001')" in sql


# Where the database lives


def test_database_url_prefers_the_argument_then_the_environment_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSMITH_DATABASE_URL", raising=False)
    assert dagsmith_home() == tmp_path / "home"
    assert database_url() == f"sqlite:///{tmp_path / 'home' / 'dagsmith.db'}"
    monkeypatch.setenv("DAGSMITH_DATABASE_URL", "sqlite:////elsewhere.db")
    assert database_url() == "sqlite:////elsewhere.db"
    assert database_url("sqlite:////given.db") == "sqlite:////given.db"


def test_open_store_honours_dagsmith_database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "from-env" / "team.db"
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "unused-home"))
    monkeypatch.setenv("DAGSMITH_DATABASE_URL", url_for(target))
    with open_store() as store:
        store.create_project("from env")
    assert target.exists()
    assert not (tmp_path / "unused-home").exists()
    with open_store(url_for(target)) as store:
        assert [p.name for p in store.list_projects()] == ["from env"]


def test_open_store_defaults_to_dagsmith_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSMITH_DATABASE_URL", raising=False)
    open_store().close()
    assert (tmp_path / "home" / "dagsmith.db").is_file()


def test_a_missing_postgresql_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    with pytest.raises(SchemaError, match=r"no database driver.*install psycopg"):
        open_store("postgresql://dagsmith@localhost/dagsmith")


def test_a_bad_url_is_refused_with_an_example() -> None:
    with pytest.raises(SchemaError, match=r"not a database URL; use e.g. sqlite:///"):
        open_store("not a url")


def test_the_store_loads_no_nicegui() -> None:
    code = "import sys, dagsmith.editor.store; assert 'nicegui' not in sys.modules, 'nicegui imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unusable_location_says_what_to_do(tmp_path: Path) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    with pytest.raises(SchemaError, match=r"cannot create the database folder .*a-file.*set DAGSMITH_HOME or"):
        open_store(url_for(in_the_way / "sub" / "dagsmith.db"))


# Drafts


def test_a_new_pipeline_starts_with_its_document_as_draft(store: Store, example: Pipeline) -> None:
    project, pipeline = new_pipeline(store, example)
    assert (pipeline.name, pipeline.dag_id, pipeline.project_id) == (example.settings.name, example.dag_id, project.id)
    draft = store.get_draft(pipeline.id)
    assert draft.revision == 1
    assert draft.document == dumps(example)
    assert parse(draft.document) == example
    assert store.list_pipelines(project.id) == [pipeline]


def test_save_draft_round_trips_and_counts_revisions(store: Store, example: Pipeline) -> None:
    _, pipeline = new_pipeline(store, example)
    changed = described(example, "second")
    assert store.save_draft(pipeline.id, changed) == 2
    assert store.save_draft(pipeline.id, dumps(changed)) == 3
    draft = store.get_draft(pipeline.id)
    assert (draft.revision, draft.pipeline()) == (3, changed)
    assert draft.updated_at.tzinfo == dt.UTC


def test_save_draft_refuses_to_overwrite_a_newer_save(store: Store, example: Pipeline) -> None:
    _, pipeline = new_pipeline(store, example)
    assert store.save_draft(pipeline.id, described(example, "tab A"), expected_revision=1) == 2
    with pytest.raises(Conflict, match=r"saved elsewhere meanwhile \(revision 2, this editor had 1\); reload it"):
        store.save_draft(pipeline.id, described(example, "tab B"), expected_revision=1)
    assert store.get_draft(pipeline.id).pipeline().settings.description == "tab A"


def test_save_draft_refuses_unknown_pipelines_and_text_that_is_no_document(store: Store, example: Pipeline) -> None:
    _, pipeline = new_pipeline(store, example)
    with pytest.raises(NotFound, match="pipeline 99 does not exist"):
        store.save_draft(99, example)
    with pytest.raises(ValueError, match=r"must be a Pipeline or the text of dagsmith\.nodes\.dumps"):
        store.save_draft(pipeline.id, '{"nodes": []}')


def test_restore_version_makes_it_the_draft_again(store: Store, example: Pipeline) -> None:
    _, pipeline = new_pipeline(store, example)
    store.create_version(pipeline.id)
    store.save_draft(pipeline.id, described(example, "experiment"))
    draft = store.restore_version(pipeline.id, 1)
    assert (draft.revision, draft.pipeline()) == (3, example)


# Versions


def test_versions_are_numbered_per_pipeline_and_keep_their_documents(store: Store, example: Pipeline) -> None:
    project, pipeline = new_pipeline(store, example)
    other = store.create_pipeline(project.id, Pipeline(settings=PipelineSettings(name="other")))
    documents = [described(example, f"v{n}") for n in (1, 2, 3)]
    for n, document in enumerate(documents, start=1):
        store.save_draft(pipeline.id, document)
        version = store.create_version(pipeline.id, message=f"change {n}")
        assert (version.number, version.created_by, version.message) == (n, LOCAL_USER, f"change {n}")
        assert version.content_hash == content_hash(document)
    assert store.create_version(other.id).number == 1
    summaries = store.list_versions(pipeline.id)
    assert [v.number for v in summaries] == [1, 2, 3]
    assert [v.message for v in summaries] == ["change 1", "change 2", "change 3"]
    assert all(v.created_at.tzinfo == dt.UTC and v.dag_id == example.dag_id for v in summaries)
    for n, document in enumerate(documents, start=1):
        assert store.get_version(pipeline.id, n).pipeline() == document
    assert store.get_version(pipeline.id).number == 3


def test_a_version_can_come_from_a_given_document(store: Store, example: Pipeline) -> None:
    _, pipeline = new_pipeline(store, example)
    imported = described(example, "from a file")
    assert store.create_version(pipeline.id, document=imported).pipeline() == imported
    assert store.get_draft(pipeline.id).pipeline() == example


def test_an_unchanged_document_makes_no_new_version(store: Store, example: Pipeline) -> None:
    _, pipeline = new_pipeline(store, example)
    store.create_version(pipeline.id)
    with pytest.raises(Conflict, match=r"nothing changed since version 1 of .*; edit the pipeline"):
        store.create_version(pipeline.id)
    assert [v.number for v in store.list_versions(pipeline.id)] == [1]


def test_versions_cannot_be_changed_through_the_orm(store: Store, example: Pipeline) -> None:
    from sqlmodel import Session

    from dagsmith.editor.store.models import VersionRow

    _, pipeline = new_pipeline(store, example)
    version = store.create_version(pipeline.id)
    with Session(store.engine) as session:
        row = session.get(VersionRow, version.id)
        assert row is not None
        row.message = "rewritten history"
        with pytest.raises(StoreError, match="versions are immutable; create a new version"):
            session.commit()
    assert store.get_version(pipeline.id, 1).message == ""
    assert not [name for name in dir(Store) if "version" in name and name.startswith(("update", "set", "edit"))]


def test_versions_cannot_be_changed_with_sql(store: Store, example: Pipeline) -> None:
    _, pipeline = new_pipeline(store, example)
    version = store.create_version(pipeline.id)
    with pytest.raises(sa.exc.DatabaseError, match="versions are immutable"), store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE version SET document = '{}' WHERE id = :id"), {"id": version.id})
    assert store.get_version(pipeline.id, 1).document == version.document


def test_a_version_takes_the_documents_name_and_dag_id(store: Store, example: Pipeline) -> None:
    project, pipeline = new_pipeline(store, example)
    renamed = example.model_copy(update={"settings": example.settings.model_copy(update={"name": "Keywords v2"})})
    store.save_draft(pipeline.id, renamed)
    assert store.get_pipeline(pipeline.id).dag_id == example.dag_id  # a draft save is one UPDATE of the draft
    version = store.create_version(pipeline.id)
    assert (version.dag_id, store.get_pipeline(pipeline.id).name) == ("keywords_v2", "Keywords v2")
    with pytest.raises(
        Conflict, match=r"dag_id 'keywords_v2' already; rename this pipeline .* e.g. to 'keywords_v2_2'"
    ):
        store.create_pipeline(project.id, renamed)


def test_missing_versions_and_pipelines_say_what_exists(store: Store, example: Pipeline) -> None:
    _, pipeline = new_pipeline(store, example)
    with pytest.raises(NotFound, match="has no versions yet; save one first"):
        store.get_version(pipeline.id)
    store.create_version(pipeline.id)
    with pytest.raises(NotFound, match="has no version 7; it has versions 1 to 1"):
        store.get_version(pipeline.id, 7)
    with pytest.raises(NotFound, match="pipeline 42 does not exist"):
        store.list_versions(42)


def test_a_pipeline_needs_a_usable_dag_id(store: Store) -> None:
    project = store.create_project("ML")
    with pytest.raises(StoreError, match=r"the dag_id '' must have 1 to 250 characters; set the pipeline's name"):
        store.create_pipeline(project.id, Pipeline(settings=PipelineSettings(name="!!!")))


def test_a_draft_that_cannot_be_read_makes_no_version(store: Store, example: Pipeline) -> None:
    _, pipeline = new_pipeline(store, example)
    store.save_draft(pipeline.id, '{"format": "dagsmith.pipeline", "version": 99}')
    with pytest.raises(StoreError, match=r"newer than this dagsmith reads .*; fix the draft in the editor or restore"):
        store.create_version(pipeline.id)
    assert store.list_versions(pipeline.id) == []
