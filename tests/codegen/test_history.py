"""Listing and diffing the exported versions of a DAG on a git branch."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest

from dagsmith.codegen import versioning
from dagsmith.codegen.gitexport import export_to_git
from dagsmith.codegen.history import RepositoryError, UnknownVersionError, diff_versions, list_versions
from dagsmith.nodes import Pipeline, PipelineSettings

DAG_ID = "keyword_recommendation"


def fake_render(pipeline: Pipeline, *, version: int, target: str) -> str:
    body = f"version = {version}\ndescription = {pipeline.settings.description!r}\n"
    return versioning.seal(versioning.header_lines(pipeline, version=version, target=target), body)


def doc(description: str) -> Pipeline:
    return Pipeline(settings=PipelineSettings(name="keyword recommendation", description=description))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(autouse=True)
def identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for kind in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{kind}_NAME", "Export Bot")
        monkeypatch.setenv(f"GIT_{kind}_EMAIL", "bot@example.com")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with three exported versions on ``main`` (descriptions one, two, three)."""
    path = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for number, text in enumerate(("one", "two", "three"), start=1):
        export_to_git(doc(text), path, render_fn=fake_render, message=f"step {number}")
    return path


def test_versions_are_listed_newest_first_with_their_commits(repo: Path) -> None:
    versions = list_versions(repo, DAG_ID)
    assert [v.version for v in versions] == [3, 2, 1]
    assert [v.commit for v in versions] == git(repo, "log", "--format=%H", "main").split()
    assert [v.content_hash for v in versions] == [versioning.content_hash(doc(t)) for t in ("three", "two", "one")]
    newest = versions[0]
    assert newest.author == "Export Bot <bot@example.com>"
    assert newest.message.startswith(f"dagsmith: export {DAG_ID} v3 (content {newest.content_hash[:8]})")
    assert newest.message.endswith("step 3")
    assert newest.time == dt.datetime.fromisoformat(git(repo, "log", "-1", "--format=%aI", "main").strip())


def test_commits_that_are_not_exports_are_not_versions(repo: Path) -> None:
    (repo / "README.md").write_text("hello\n")
    dag = repo / f"dags/{DAG_ID}.py"
    dag.write_text(dag.read_text() + "# a hand edit\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "hand edit and readme")
    assert [v.version for v in list_versions(repo, DAG_ID)] == [3, 2, 1]


def test_a_dag_never_exported_has_no_versions(repo: Path) -> None:
    assert list_versions(repo, "other_dag") == []


def test_diff_between_two_versions_shows_the_changed_line(repo: Path) -> None:
    diff = diff_versions(repo, DAG_ID, 1, 2)
    assert diff.startswith(f"--- dags/{DAG_ID}.py (v1)\n+++ dags/{DAG_ID}.py (v2)\n")
    assert "-description = 'one'\n" in diff
    assert "+description = 'two'\n" in diff
    assert "+description = 'three'" not in diff


def test_diff_of_the_pipeline_source(repo: Path) -> None:
    diff = diff_versions(repo, DAG_ID, 3, 1, what="pipeline")
    assert diff.startswith(f"--- pipelines/{DAG_ID}.dagsmith.json (v3)\n")
    assert '-    "description": "three",\n' in diff
    assert '+    "description": "one",\n' in diff


def test_a_version_diffed_with_itself_is_empty(repo: Path) -> None:
    assert diff_versions(repo, DAG_ID, 2, 2) == ""


@pytest.mark.parametrize(("a", "b"), [(1, 7), (0, 2)])
def test_an_unknown_version_lists_the_known_ones(repo: Path, a: int, b: int) -> None:
    missing = b if a == 1 else a
    with pytest.raises(UnknownVersionError, match=rf"no version {missing} on branch 'main'; known versions: 1, 2, 3$"):
        diff_versions(repo, DAG_ID, a, b)


def test_diff_of_a_dag_never_exported_says_so(repo: Path) -> None:
    with pytest.raises(UnknownVersionError, match=r"known versions: none \(export it to 'main' first\)"):
        diff_versions(repo, "other_dag", 1, 2)


def test_an_unknown_branch_suggests_a_close_one(repo: Path) -> None:
    with pytest.raises(RepositoryError, match=r"no branch 'mian'; did you mean 'main'\? branches: main"):
        list_versions(repo, DAG_ID, branch="mian")


def test_an_empty_repository_has_no_branches_yet(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with pytest.raises(RepositoryError, match=r"branches: none yet; export first"):
        list_versions(tmp_path, DAG_ID)


def test_a_folder_that_is_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match=r"is not the top folder of a git repository; run 'git init'"):
        diff_versions(tmp_path, DAG_ID, 1, 2)


def test_what_must_name_a_file(repo: Path) -> None:
    with pytest.raises(ValueError, match=r"what must be 'dag' or 'pipeline', not 'json'"):
        diff_versions(repo, DAG_ID, 1, 2, what="json")
