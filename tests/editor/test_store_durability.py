"""The store under stress: durable drafts across crashes, and several stores writing one database."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagsmith.editor.store import LOCAL_USER, PipelineInfo, Store, open_store
from dagsmith.nodes import Pipeline, load_example


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dagsmith.db'}"


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    with open_store(db) as opened:
        yield opened


@pytest.fixture
def example() -> Pipeline:
    return load_example("keyword_recommendation")


def new_pipeline(store: Store, document: Pipeline) -> PipelineInfo:
    return store.create_pipeline(store.create_project("ML").id, document)


def described(document: Pipeline, text: str) -> Pipeline:
    return document.model_copy(update={"settings": document.settings.model_copy(update={"description": text})})


# Durability


def test_sqlite_runs_in_wal_mode_with_durable_commits(store: Store) -> None:
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_draft_survives_a_killed_server_process(db: str, example: Pipeline) -> None:
    with open_store(db) as store:
        pipeline = new_pipeline(store, example)
    script = textwrap.dedent(
        f"""
        import os, signal
        from dagsmith.editor.store import open_store
        from dagsmith.nodes import load_example
        store = open_store({db!r})
        document = load_example("keyword_recommendation")
        document.settings.description = "typed just before the crash"
        store.save_draft({pipeline.id}, document)
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no dispose, no atexit
        """
    )
    result = subprocess.run([sys.executable, "-c", script], check=False)
    assert result.returncode == -9
    with open_store(db) as reopened:
        draft = reopened.get_draft(pipeline.id)
    assert (draft.revision, draft.pipeline().settings.description) == (2, "typed just before the crash")


def test_a_draft_survives_an_engine_dropped_without_closing(db: str, example: Pipeline) -> None:
    store = open_store(db)
    pipeline = new_pipeline(store, example)
    store.save_draft(pipeline.id, described(example, "unsaved?"))
    del store  # the pooled connection is never closed cleanly
    with open_store(db) as reopened:
        assert reopened.get_draft(pipeline.id).pipeline().settings.description == "unsaved?"


# Concurrency


def test_two_stores_on_one_file_see_each_others_writes(db: str, example: Pipeline) -> None:
    with open_store(db) as a, open_store(db) as b:
        pipeline = new_pipeline(a, example)
        b.save_draft(pipeline.id, described(example, "from b"))
        assert a.get_draft(pipeline.id).pipeline().settings.description == "from b"
        numbers = []
        for n in range(4):
            writer = (a, b)[n % 2]
            writer.save_draft(pipeline.id, described(example, f"edit {n}"))
            numbers.append(writer.create_version(pipeline.id).number)
        assert numbers == [1, 2, 3, 4]


def test_concurrent_writers_get_distinct_version_numbers(db: str, example: Pipeline) -> None:
    with open_store(db) as setup:
        pipeline = new_pipeline(setup, example)
    stores = [open_store(db), open_store(db)]
    errors: list[BaseException] = []

    def work(store: Store, name: str) -> None:
        try:
            for n in range(10):
                store.create_version(pipeline.id, document=described(example, f"{name}{n}"))
                store.save_draft(pipeline.id, described(example, f"draft {name}{n}"))
        except BaseException as exc:  # reported below; a thread cannot raise into the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, name)) for s, name in zip(stores, "ab", strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [v.number for v in stores[0].list_versions(pipeline.id)] == list(range(1, 21))
    assert stores[1].get_draft(pipeline.id).revision == 21
    for store in stores:
        store.close()


@pytest.mark.parametrize("attempt", range(3))
def test_stores_opening_a_new_database_at_once_all_succeed(tmp_path: Path, attempt: int) -> None:
    # Separate engines (separate SQLite connections) race to migrate the same new file, as processes would.
    db = f"sqlite:///{tmp_path / f'fresh{attempt}.db'}"
    barrier = threading.Barrier(4)
    opened: list[Store] = []
    errors: list[BaseException] = []

    def race() -> None:
        barrier.wait()
        try:
            opened.append(open_store(db))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(opened) == 4
    assert [u.name for u in opened[0].list_users()] == [LOCAL_USER]
    for store in opened:
        store.close()
