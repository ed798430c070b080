"""A git export stays inside its repository (no writing through links) and names branches as git allows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dagsmith.codegen import versioning
from dagsmith.codegen.gitexport import ExportRefused, export_to_git
from dagsmith.codegen.history import RepositoryError, branch_ref
from dagsmith.nodes import Pipeline, PipelineSettings

DAG = "dags/keyword_recommendation.py"
SOURCE = "pipelines/keyword_recommendation.dagsmith.json"


def fake_render(pipeline: Pipeline, *, version: int, target: str) -> str:
    body = f"version = {version}\ndescription = {pipeline.settings.description!r}\n"
    return versioning.seal(versioning.header_lines(pipeline, version=version, target=target), body)


def doc(description: str = "first") -> Pipeline:
    return Pipeline(settings=PipelineSettings(name="keyword recommendation", description=description))


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], check=check, capture_output=True, text=True)


@pytest.fixture(autouse=True)
def identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for kind in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{kind}_NAME", "Export Bot")
        monkeypatch.setenv(f"GIT_{kind}_EMAIL", "bot@example.com")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with ``main`` checked out and one commit."""
    path = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "README").write_text("hello\n")
    git(path, "add", "README")
    git(path, "commit", "-q", "-m", "start")
    return path


def tip(repo: Path) -> str:
    return git(repo, "rev-parse", "main").stdout.strip()


# --- links in the working tree (D9) ---------------------------------------------------------------


@pytest.mark.parametrize("folder", ["dags", "pipelines"])
def test_a_linked_folder_leading_out_of_the_repository_is_refused(repo: Path, tmp_path: Path, folder: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / folder).symlink_to(outside, target_is_directory=True)  # untracked, in the working tree
    before = tip(repo)
    refused = rf"{folder} in the working tree of .* is a link \(to .*outside, outside the repository\)"
    with pytest.raises(ExportRefused, match=refused):
        export_to_git(doc(), repo, render_fn=fake_render)
    assert list(outside.iterdir()) == []
    assert tip(repo) == before


def test_a_linked_folder_inside_the_repository_is_refused_too(repo: Path) -> None:
    """git itself does not add files beyond a link, so the index could not describe what was written."""
    (repo / "generated").mkdir()
    (repo / "dags").symlink_to("generated", target_is_directory=True)
    with pytest.raises(ExportRefused, match=r"dags in the working tree of .* is a link \(to .*generated, inside"):
        export_to_git(doc(), repo, render_fn=fake_render)
    assert list((repo / "generated").iterdir()) == []


def test_a_linked_dag_file_is_refused(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.py"
    target.write_text("keep me\n")
    (repo / "dags").mkdir()
    (repo / DAG).symlink_to(target)
    with pytest.raises(ExportRefused, match=r"is a folder or a link in the working tree"):
        export_to_git(doc(), repo, render_fn=fake_render)
    assert target.read_text() == "keep me\n"


def test_a_link_on_another_branch_than_the_one_checked_out_does_not_matter(repo: Path, tmp_path: Path) -> None:
    """Exporting to a branch that is not checked out writes only git objects, never the working tree."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "dags").symlink_to(outside, target_is_directory=True)
    result = export_to_git(doc(), repo, branch="exports", render_fn=fake_render)
    assert result.version == 1
    assert list(outside.iterdir()) == []
    assert "description = 'first'" in git(repo, "show", f"exports:{DAG}").stdout


# --- branch names (D10) ---------------------------------------------------------------------------

NAMES = [
    "main",
    "dagsmith/exports",
    "feature/x-1",
    "release-2.0",
    "ünïcode",
    "a.b",
    "@foo",
    "foo@bar",
    "HEAD",
    "head",
    "-dash",
    "a..b",
    "a b",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[b",
    "a\\b",
    "a\tb",
    "a\x7fb",
    "trailing/",
    "/leading",
    "a//b",
    "x.lock",
    "x/y.lock",
    "a@{b",
    "@",
    ".hidden",
    "a/.hidden",
    "ends.",
    "",
    "refs/heads/main",
    "HEAD/x",
    "x/HEAD",
    "@{-1}",
    "a.lock/b",
    "a/b.",
    ".",
    "a/./b",
    "a\x85b",
    "emoji-🚀",
]


def git_accepts(name: str, cwd: Path) -> bool:
    """What git itself says about the branch name (outside a repository, where it expands no ``@{-1}``)."""
    command = ["git", "check-ref-format", "--branch", name]
    done = subprocess.run(command, check=False, capture_output=True, text=True, cwd=cwd)
    return done.returncode == 0


@pytest.mark.parametrize("name", NAMES)
def test_branch_names_follow_git_check_ref_format(name: str, tmp_path: Path) -> None:
    accepted = git_accepts(name, tmp_path)
    if accepted:
        assert branch_ref(name) == b"refs/heads/" + name.encode()
    else:
        with pytest.raises(RepositoryError, match="is not a valid git branch name"):
            branch_ref(name)


def test_head_is_refused_with_a_message_and_creates_nothing(repo: Path) -> None:
    with pytest.raises(RepositoryError, match=r"'HEAD' is not a valid git branch name: .*HEAD"):
        export_to_git(doc(), repo, branch="HEAD", render_fn=fake_render)
    assert not (repo / ".git" / "refs" / "heads" / "HEAD").exists()
    assert git(repo, "rev-parse", "--verify", "-q", "refs/heads/HEAD", check=False).returncode != 0
