"""Versioned export to a folder and to git: version numbers, refusals, atomicity, branches and working trees."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import dulwich.index
import dulwich.refs
import pytest

from dagsmith.codegen import versioning
from dagsmith.codegen.gitexport import ExportRefused, export_to_dir, export_to_git
from dagsmith.codegen.history import GitExportError, RepositoryError
from dagsmith.nodes import Pipeline, PipelineSettings, parse

DAG = "dags/keyword_recommendation.py"
SOURCE = "pipelines/keyword_recommendation.dagsmith.json"


def fake_render(pipeline: Pipeline, *, version: int, target: str) -> str:
    """A stand-in renderer: the real header, and a body that shows the description."""
    body = f"version = {version}\ndescription = {pipeline.settings.description!r}\n"
    return versioning.seal(versioning.header_lines(pipeline, version=version, target=target), body)


def doc(description: str = "first") -> Pipeline:
    return Pipeline(settings=PipelineSettings(name="keyword recommendation", description=description))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(autouse=True)
def identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same identity for dulwich and the git CLI, whatever the machine's git config says."""
    for kind in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{kind}_NAME", "Export Bot")
        monkeypatch.setenv(f"GIT_{kind}_EMAIL", "bot@example.com")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty non-bare repository with ``main`` checked out (unborn)."""
    path = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    return path


def commit_file(repo: Path, rel: str, text: str, message: str = "by hand") -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)
    git(repo, "add", rel)
    git(repo, "commit", "-q", "-m", message)


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.tmp") if ".git" not in p.parts]


# --- git export ---------------------------------------------------------------------------------


def test_first_export_commits_v1_with_the_dag_and_its_source(repo: Path) -> None:
    result = export_to_git(doc(), repo, render_fn=fake_render)
    assert (result.version, result.unchanged, result.branch) == (1, False, "main")
    assert result.paths == (DAG, SOURCE)
    assert result.commit == git(repo, "rev-parse", "main").strip()
    assert git(repo, "log", "--format=%s", "main").splitlines() == [
        f"dagsmith: export keyword_recommendation v1 (content {result.content_hash[:8]})"
    ]
    assert git(repo, "ls-tree", "-r", "--name-only", "main").split() == [DAG, SOURCE]
    assert git(repo, "show", f"main:{DAG}") == fake_render(doc(), version=1, target="airflow3")
    assert parse(git(repo, "show", f"main:{SOURCE}")) == doc()
    git(repo, "fsck", "--strict")


def test_reexporting_the_same_pipeline_makes_no_commit(repo: Path) -> None:
    first = export_to_git(doc(), repo, render_fn=fake_render)
    again = export_to_git(doc(), repo, render_fn=fake_render, message="again")
    assert again.unchanged
    assert (again.version, again.commit) == (1, first.commit)
    assert "already exported" in again.describe()
    assert len(git(repo, "log", "--format=%H", "main").splitlines()) == 1


def test_a_changed_pipeline_becomes_the_next_version(repo: Path) -> None:
    first = export_to_git(doc(), repo, render_fn=fake_render)
    second = export_to_git(doc("second"), repo, render_fn=fake_render)
    assert second.version == 2
    assert second.content_hash != first.content_hash
    assert git(repo, "rev-parse", "main^").strip() == first.commit
    header = versioning.read_header(git(repo, "show", f"main:{DAG}"))
    assert header == versioning.Header("keyword_recommendation", 2, second.content_hash)
    assert json.loads(git(repo, "show", f"main:{SOURCE}"))["settings"]["description"] == "second"


def test_the_same_pipeline_with_different_output_is_a_new_version(repo: Path) -> None:
    export_to_git(doc(), repo, render_fn=fake_render)
    other_target = export_to_git(doc(), repo, render_fn=fake_render, target="airflow2")
    assert (other_target.version, other_target.unchanged) == (2, False)


def test_a_hand_edited_dag_file_is_refused_unless_forced(repo: Path) -> None:
    export_to_git(doc(), repo, render_fn=fake_render)
    commit_file(repo, DAG, git(repo, "show", f"main:{DAG}") + "extra = 1\n")
    before = git(repo, "rev-parse", "main")
    with pytest.raises(ExportRefused, match=r"dags/keyword_recommendation\.py.*edited by hand since .*v1.*--force"):
        export_to_git(doc("second"), repo, render_fn=fake_render)
    assert git(repo, "rev-parse", "main") == before
    forced = export_to_git(doc("second"), repo, render_fn=fake_render, force=True)
    assert forced.version == 2
    assert versioning.is_pristine(git(repo, "show", f"main:{DAG}"))


def test_a_file_dagsmith_did_not_generate_is_refused_unless_forced(repo: Path) -> None:
    commit_file(repo, DAG, "print('written by a person')\n")
    with pytest.raises(ExportRefused, match=r"dags/keyword_recommendation\.py.*not generated by dagsmith.*--force"):
        export_to_git(doc(), repo, render_fn=fake_render)
    assert git(repo, "show", f"main:{DAG}") == "print('written by a person')\n"
    assert export_to_git(doc(), repo, render_fn=fake_render, force=True).version == 1


def test_a_hand_edited_pipeline_source_is_refused_unless_forced(repo: Path) -> None:
    export_to_git(doc(), repo, render_fn=fake_render)
    data = json.loads(git(repo, "show", f"main:{SOURCE}"))
    data["settings"]["owner"] = "someone else"
    commit_file(repo, SOURCE, json.dumps(data, indent=2))
    with pytest.raises(ExportRefused, match=r"pipelines/keyword_recommendation\.dagsmith\.json.*changed since v1"):
        export_to_git(doc("second"), repo, render_fn=fake_render)
    assert export_to_git(doc("second"), repo, render_fn=fake_render, force=True).version == 2


def test_a_version_deleted_from_the_branch_is_not_reused(repo: Path) -> None:
    export_to_git(doc(), repo, render_fn=fake_render)
    export_to_git(doc("second"), repo, render_fn=fake_render)
    git(repo, "rm", "-q", DAG)
    git(repo, "commit", "-q", "-m", "retire the DAG")
    assert export_to_git(doc("third"), repo, render_fn=fake_render).version == 3


@pytest.mark.parametrize(
    ("step", "error", "message"),
    [
        ("ref", RepositoryError, r"cannot write to the repository at .*: injected ref failure"),
        ("files", RepositoryError, r"cannot update the working tree of .*: injected disk full; nothing was exported"),
        ("index", RuntimeError, r"injected index failure"),
    ],
)
def test_an_interrupted_export_leaves_the_repository_as_it_was(
    repo: Path, monkeypatch: pytest.MonkeyPatch, step: str, error: type[Exception], message: str
) -> None:
    export_to_git(doc(), repo, render_fn=fake_render)
    before = git(repo, "rev-parse", "main")
    before_dag = (repo / DAG).read_bytes()
    if step == "ref":

        def fail_ref(*args: object, **kwargs: object) -> bool:
            raise OSError(5, "injected ref failure")

        monkeypatch.setattr(dulwich.refs.DiskRefsContainer, "set_if_equals", fail_ref)
    elif step == "files":
        real_replace = pathlib.Path.replace
        calls: list[Path] = []

        def fail_second_replace(self: Path, target: Path) -> Path:
            calls.append(self)
            if len(calls) == 2:
                raise OSError(28, "injected disk full")
            return real_replace(self, target)

        monkeypatch.setattr(pathlib.Path, "replace", fail_second_replace)
    else:

        def fail_index(self: object) -> None:
            raise RuntimeError("injected index failure")

        monkeypatch.setattr(dulwich.index.Index, "write", fail_index)
    with pytest.raises(error, match=message):
        export_to_git(doc("second"), repo, render_fn=fake_render)
    monkeypatch.undo()
    assert git(repo, "rev-parse", "main") == before
    assert (repo / DAG).read_bytes() == before_dag
    assert git(repo, "status", "--porcelain") == ""
    assert temp_files(repo) == []
    assert export_to_git(doc("second"), repo, render_fn=fake_render).version == 2


@pytest.mark.parametrize("lock", [".git/refs/heads/main.lock", ".git/index.lock"])
def test_a_lock_held_by_another_git_command_is_a_clear_error(repo: Path, lock: str) -> None:
    export_to_git(doc(), repo, render_fn=fake_render)
    before = git(repo, "rev-parse", "main")
    (repo / lock).write_text("")
    with pytest.raises(
        RepositoryError, match=r"\.lock exists, so another git command is at work.*nothing was exported"
    ):
        export_to_git(doc("second"), repo, render_fn=fake_render)
    (repo / lock).unlink()
    assert git(repo, "rev-parse", "main") == before
    assert git(repo, "status", "--porcelain") == ""


def test_an_interrupted_first_export_creates_nothing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail_ref(*args: object, **kwargs: object) -> bool:
        raise OSError(5, "injected ref failure")

    monkeypatch.setattr(dulwich.refs.DiskRefsContainer, "add_if_new", fail_ref)
    with pytest.raises(RepositoryError, match="cannot write to the repository"):
        export_to_git(doc(), repo, render_fn=fake_render)
    assert subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", "main"], check=False).returncode != 0
    assert not (repo / "dags").exists()
    assert not (repo / "pipelines").exists()


def test_a_missing_branch_is_created_from_head(repo: Path) -> None:
    commit_file(repo, "README.md", "dags\n", message="start")
    main = git(repo, "rev-parse", "main").strip()
    result = export_to_git(doc(), repo, branch="dagsmith/exports", render_fn=fake_render)
    assert git(repo, "rev-parse", "dagsmith/exports^").strip() == main
    assert git(repo, "rev-parse", "main").strip() == main
    assert git(repo, "ls-tree", "-r", "--name-only", "dagsmith/exports").split() == ["README.md", DAG, SOURCE]
    assert result.branch == "dagsmith/exports"
    assert not (repo / "dags").exists(), "a branch that is not checked out leaves the working tree alone"
    assert git(repo, "status", "--porcelain") == ""


def test_an_empty_bare_repository_gets_its_first_branch(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "trunk", str(bare)], check=True)
    result = export_to_git(doc(), bare, branch="exports", render_fn=fake_render)
    assert result.version == 1
    assert git(bare, "rev-parse", "exports").strip() == result.commit
    assert git(bare, "rev-list", "--count", "exports").strip() == "1"


def test_author_and_message_are_recorded(repo: Path) -> None:
    export_to_git(
        doc(), repo, render_fn=fake_render, author="Jane Doe <jane@example.com>", message="  Tune the threshold\n"
    )
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>").strip() == (
        "Jane Doe <jane@example.com>|Export Bot <bot@example.com>"
    )
    subject, body = git(repo, "log", "-1", "--format=%s|%b").strip().split("|")
    assert subject.startswith("dagsmith: export keyword_recommendation v1 (content ")
    assert body == "Tune the threshold"


def test_a_malformed_author_is_refused(repo: Path) -> None:
    with pytest.raises(GitExportError, match=r"author 'jane' must look like 'Jane Doe <jane@example\.com>'"):
        export_to_git(doc(), repo, render_fn=fake_render, author="jane")


def test_the_checked_out_branch_gets_its_working_tree_and_index_updated(repo: Path) -> None:
    export_to_git(doc(), repo, render_fn=fake_render)
    export_to_git(doc("second"), repo, render_fn=fake_render)
    assert (repo / DAG).read_text() == git(repo, "show", f"main:{DAG}")
    assert parse((repo / SOURCE).read_text()).settings.description == "second"
    assert git(repo, "status", "--porcelain") == ""
    assert temp_files(repo) == []


def test_uncommitted_changes_in_the_working_tree_are_refused_unless_forced(repo: Path) -> None:
    export_to_git(doc(), repo, render_fn=fake_render)
    (repo / SOURCE).write_text((repo / SOURCE).read_text().replace('"first"', '"work in progress"'))
    with pytest.raises(ExportRefused, match=r"pipelines/keyword_recommendation\.dagsmith\.json has uncommitted"):
        export_to_git(doc("second"), repo, render_fn=fake_render)
    assert "work in progress" in (repo / SOURCE).read_text()
    export_to_git(doc("second"), repo, render_fn=fake_render, force=True)
    assert git(repo, "status", "--porcelain") == ""


def test_an_untracked_file_that_already_holds_the_export_is_no_conflict(repo: Path) -> None:
    export_to_dir(doc(), repo / "dags", render_fn=fake_render)
    result = export_to_git(doc(), repo, render_fn=fake_render)
    assert result.version == 1
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", r"does not exist; create the repository first"),
        (lambda tmp: tmp, r"is not the top folder of a git repository"),
    ],
)
def test_a_path_that_is_no_repository_is_a_clear_error(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    with pytest.raises(RepositoryError, match=message):
        export_to_git(doc(), make(tmp_path), render_fn=fake_render)


def test_an_invalid_branch_name_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(RepositoryError, match=r"'bad..name' is not a valid git branch name"):
        export_to_git(doc(), repo, branch="bad..name", render_fn=fake_render)


def test_a_dag_id_that_cannot_name_a_file_is_refused(repo: Path) -> None:
    pipeline = Pipeline(settings=PipelineSettings(name="x", dag_id="../escape"))
    with pytest.raises(GitExportError, match=r"dag_id '\.\./escape' cannot name a file"):
        export_to_git(pipeline, repo, render_fn=fake_render)


# --- folder export ------------------------------------------------------------------------------


def test_folder_export_versions_against_the_file_it_replaces(tmp_path: Path) -> None:
    out = tmp_path / "dags"
    first = export_to_dir(doc(), out, render_fn=fake_render)
    path = out / "keyword_recommendation.py"
    assert (first.version, first.paths, first.commit) == (1, (str(path),), None)
    assert path.read_text() == fake_render(doc(), version=1, target="airflow3")
    stamp = path.stat().st_mtime_ns
    again = export_to_dir(doc(), out, render_fn=fake_render)
    assert (again.version, again.unchanged) == (1, True)
    assert path.stat().st_mtime_ns == stamp, "an unchanged export does not rewrite the file"
    second = export_to_dir(doc("second"), out, render_fn=fake_render)
    assert (second.version, second.unchanged) == (2, False)
    header = versioning.read_header(path.read_text())
    assert header is not None
    assert header.version == 2
    assert temp_files(out) == []


@pytest.mark.parametrize(
    ("existing", "message", "forced_version"),
    [
        (lambda text: text.replace("'first'", "'patched'"), r"edited by hand since dagsmith exported v1.*--force", 2),
        (lambda text: "print('mine')\n", r"not generated by dagsmith.*--force", 1),
    ],
)
def test_folder_export_refuses_files_that_are_not_dagsmiths(
    tmp_path: Path, existing: Callable[[str], str], message: str, forced_version: int
) -> None:
    path = tmp_path / "keyword_recommendation.py"
    export_to_dir(doc(), tmp_path, render_fn=fake_render)
    path.write_text(existing(path.read_text()))
    kept = path.read_text()
    with pytest.raises(ExportRefused, match=re.escape(str(path)) + ".*" + message):
        export_to_dir(doc("second"), tmp_path, render_fn=fake_render)
    assert path.read_text() == kept
    forced = export_to_dir(doc("second"), tmp_path, render_fn=fake_render, force=True)
    assert forced.version == forced_version
    assert versioning.is_pristine(path.read_text())


def test_an_interrupted_folder_export_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keyword_recommendation.py"
    export_to_dir(doc(), tmp_path, render_fn=fake_render)
    before = path.read_bytes()

    def fail_replace(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "replace", fail_replace)
    with pytest.raises(GitExportError, match=r"cannot write .*keyword_recommendation\.py: No space left on device"):
        export_to_dir(doc("second"), tmp_path, render_fn=fake_render)
    assert path.read_bytes() == before
    assert temp_files(tmp_path) == []


def test_folder_export_to_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(GitExportError, match="is a file, not a folder"):
        export_to_dir(doc(), tmp_path / "file", render_fn=fake_render)


# --- with the real renderer ---------------------------------------------------------------------


def test_exports_with_the_real_renderer(repo: Path, tmp_path: Path) -> None:
    from dagsmith.codegen.history import list_versions
    from dagsmith.nodes import Node

    def pipeline(script: str) -> Pipeline:
        settings = PipelineSettings(name="keyword recommendation", default_image="python:3.12-slim")
        return Pipeline(settings=settings, nodes=[Node(id="train", type="script", params={"script": script})])

    first = export_to_git(pipeline("train.py"), repo)
    assert export_to_git(pipeline("train.py"), repo).unchanged
    second = export_to_git(pipeline("train_v2.py"), repo)
    assert (first.version, second.version) == (1, 2)
    text = git(repo, "show", f"main:{DAG}")
    assert versioning.is_pristine(text)
    assert versioning.read_header(text) == versioning.Header("keyword_recommendation", 2, second.content_hash)
    compile(text, DAG, "exec")
    assert [v.version for v in list_versions(repo, "keyword_recommendation")] == [2, 1]
    folder = export_to_dir(pipeline("train.py"), tmp_path / "out")
    assert (tmp_path / "out" / "keyword_recommendation.py").read_text() == git(repo, "show", f"main~1:{DAG}")
    assert folder.version == 1
    from dagsmith.codegen.errors import ExportError

    tip = git(repo, "rev-parse", "main")
    with pytest.raises(ExportError, match="cannot be exported") as caught:
        export_to_git(pipeline(""), repo)
    assert caught.value.issues
    assert git(repo, "rev-parse", "main") == tip
