"""Saving a version while another page edits the same draft (issue 13): merged, not refused, unless both pages
changed the same field; on SQLite and on a real PostgreSQL.

A page saves a version once its own draft saves landed (``write_draft=False``); the draft may have moved on
since, saved by another page. ``base`` is the draft the saving page last saved or loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from team_servers import postgres

from dagsmith.editor.services import EditorServices, UserError
from dagsmith.nodes import Pipeline, load_example


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('versions') / 'store.db'}"
    else:
        with postgres() as url:
            yield url


@pytest.fixture
def services(database: str) -> Iterator[EditorServices]:
    services = EditorServices.open(database)
    try:
        yield services
    finally:
        services.store.close()


def new_pipeline(services: EditorServices) -> tuple[int, Pipeline, int]:
    """A fresh pipeline of the local project (its own dag_id); its id, draft and draft revision."""
    project = services.local_project().id
    document = load_example("keyword_recommendation")
    document.settings.dag_id = f"keywords_{len(services.store.list_pipelines(project)) + 1}"
    info = services.store.create_pipeline(project, document)
    _, draft, revision = services.open_draft(info.id)
    return info.id, draft, revision


def edited(document: Pipeline, *, label: tuple[str, str] | None = None, description: str | None = None) -> Pipeline:
    result = document.model_copy(deep=True)
    if label is not None:
        node = result.node(label[0])
        assert node is not None
        node.label = label[1]
    if description is not None:
        result.settings.description = description
    return result


def test_a_version_saved_while_another_page_edits_holds_both_pages_changes(services: EditorServices) -> None:
    pipeline_id, loaded, revision = new_pipeline(services)
    # Alice's page saved her description; Bob's page, which had merged it, then saved his label.
    alice = edited(loaded, description="Alice's description")
    revision = services.save_draft(pipeline_id, alice, expected_revision=revision)
    bob = edited(alice, label=("train", "Train (Bob)"))
    services.save_draft(pipeline_id, bob, expected_revision=revision)
    # Alice saves a version, her page not yet showing Bob's change (it used to be refused: "reload the page").
    number = services.save_version(pipeline_id, alice, write_draft=False, base=alice)
    version = services.store.get_version(pipeline_id, number).pipeline()
    assert version.settings.description == "Alice's description"
    assert version.node("train").label == "Train (Bob)"  # type: ignore[union-attr]
    # Alice's page also has a change its saver has not written yet (typed just before she clicked): it is in
    # the version, merged with Bob's, and in the draft.
    alice_now = edited(alice, label=("gate", "Gate (Alice)"))
    number = services.save_version(pipeline_id, alice_now, write_draft=False, base=alice)
    version = services.store.get_version(pipeline_id, number).pipeline()
    assert (version.node("train").label, version.node("gate").label) == ("Train (Bob)", "Gate (Alice)")  # type: ignore[union-attr]
    assert version.settings.description == "Alice's description"
    _, draft, _ = services.open_draft(pipeline_id)
    assert draft == version


def test_a_version_both_pages_changed_a_field_of_is_refused_naming_it_and_nothing_is_lost(
    services: EditorServices,
) -> None:
    pipeline_id, loaded, revision = new_pipeline(services)
    bob = edited(loaded, label=("train", "Train (Bob)"))
    services.save_draft(pipeline_id, bob, expected_revision=revision)
    versions = services.store.list_versions(pipeline_id)
    alice = edited(loaded, label=("train", "Train (Alice)"), description="Alice's description")
    with pytest.raises(UserError) as refused:
        services.save_version(pipeline_id, alice, write_draft=False, base=loaded)
    message = str(refused.value)
    assert "The version is not saved" in message
    assert "field label of node 'Train (Bob)' (train)" in message
    assert "'Train (Bob)' there" in message and "'Train (Alice)' here" in message
    assert "traceback" not in message.lower()
    # Nothing was written: the draft is Bob's, and no version was made.
    _, draft, _ = services.open_draft(pipeline_id)
    assert draft == bob
    assert services.store.list_versions(pipeline_id) == versions


def test_without_a_base_a_moved_draft_is_still_refused(services: EditorServices) -> None:
    """Callers that cannot merge (no base) keep the old answer: the page must reload."""
    pipeline_id, loaded, revision = new_pipeline(services)
    services.save_draft(pipeline_id, edited(loaded, description="elsewhere"), expected_revision=revision)
    with pytest.raises(UserError, match="reload the page"):
        services.save_version(pipeline_id, loaded, write_draft=False)


def test_a_merged_version_is_what_a_commit_exports(services: EditorServices, tmp_path: Path) -> None:
    from dulwich.repo import Repo

    pipeline_id, loaded, revision = new_pipeline(services)
    repo = tmp_path / "repo"
    Repo.init(str(repo), mkdir=True)
    services.set_git(services.local_project().id, str(repo), "main")
    alice = edited(loaded, description="Alice's description")
    revision = services.save_draft(pipeline_id, alice, expected_revision=revision)
    services.save_draft(pipeline_id, edited(alice, label=("train", "Train Bob")), expected_revision=revision)
    number, result = services.export_to_project_git(pipeline_id, alice, write_draft=False, base=alice)
    assert result.version == number
    text = _committed(repo, result.paths[0])
    assert "train_bob" in text and "Alice's description" in text  # Bob's task id, Alice's description


def _committed(path: Path, name: str) -> str:
    """A file's text in the repository's main branch."""
    from dulwich.object_store import tree_lookup_path
    from dulwich.objects import Blob, Commit
    from dulwich.repo import Repo

    repo = Repo(str(path))
    commit = repo[b"refs/heads/main"]
    assert isinstance(commit, Commit)
    _, sha = tree_lookup_path(repo.__getitem__, commit.tree, name.encode())
    blob = repo[sha]
    assert isinstance(blob, Blob)
    return blob.data.decode()
