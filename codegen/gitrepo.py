"""The git repository an export reads and writes: opening it, branches, and files in a commit's tree.

Fixed paths on a branch hold an export (``dags/<dag_id>.py`` and ``pipelines/<dag_id>.dagsmith.json``).
These helpers read through dulwich and never write; ``gitexport`` writes, ``history`` reads versions.
"""

from __future__ import annotations

import difflib
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from dulwich.errors import NotGitRepository, NotTreeError
from dulwich.object_store import tree_lookup_path
from dulwich.objects import Blob, Commit, ObjectID, SubmoduleEncountered
from dulwich.refs import HEADREF, LOCAL_BRANCH_PREFIX, Ref, check_ref_format
from dulwich.repo import Repo

from dagsmith.nodes.checks import dag_id_problem


class GitExportError(Exception):
    """A file or git export problem; ``str()`` is a message for the user that says what to do."""


class RepositoryError(GitExportError):
    """The repository or branch cannot be used: missing, not git, unknown branch, or a failed write."""


def check_dag_id(dag_id: str) -> str:
    """``dag_id`` if it can name a file, by validation's own rule (``dag_id_problem``); raises otherwise."""
    problem = dag_id_problem(dag_id)
    if problem:
        raise GitExportError(problem)
    return dag_id


def dag_path(dag_id: str) -> str:
    """The DAG file's path inside the repository."""
    return f"dags/{check_dag_id(dag_id)}.py"


def pipeline_path(dag_id: str) -> str:
    """The pipeline source's path inside the repository."""
    return f"pipelines/{check_dag_id(dag_id)}.dagsmith.json"


@contextmanager
def open_repo(repo_path: str | Path) -> Iterator[Repo]:
    """Open the git repository whose top folder is ``repo_path``; clear errors when there is none."""
    path = Path(repo_path)
    if not path.exists():
        raise RepositoryError(f"{path} does not exist; create the repository first (git init {path})")
    if not path.is_dir():
        raise RepositoryError(f"{path} is a file, not a git repository; choose the repository's folder")
    try:
        repo = Repo(str(path))
    except NotGitRepository:
        raise RepositoryError(
            f"{path} is not the top folder of a git repository; run 'git init' there or choose the repository's folder"
        ) from None
    try:
        yield repo
    finally:
        repo.close()


def branch_ref(branch: str) -> Ref:
    """The full ref name of a local branch; raises for names ``git check-ref-format --branch`` refuses."""
    problem = branch_name_problem(branch)
    if problem:
        raise RepositoryError(
            f"{branch!r} is not a valid git branch name: {problem}; use e.g. 'main' or 'dagsmith/exports'"
        )
    return Ref(LOCAL_BRANCH_PREFIX + branch.encode())


_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def branch_name_problem(branch: str) -> str | None:
    """Why git would refuse ``branch`` as a branch name (as ``git check-ref-format --branch``), or None."""
    parts = branch.split("/")
    forbidden = _REF_FORBIDDEN.search(branch)
    checks = (
        (not branch, "it is empty"),
        (branch == "HEAD", "HEAD names the checked-out commit, not a branch"),
        (branch.startswith("-"), "it starts with '-'"),
        (forbidden is not None, f"it contains {forbidden.group() if forbidden else ''!r}"),
        (".." in branch, "it contains '..'"),
        ("@{" in branch, "it contains '@{'"),
        ("" in parts, "it has an empty part (a '/' at either end, or '//')"),
        (branch.endswith("."), "it ends with '.'"),
        (any(part.startswith(".") for part in parts), "a part starts with '.'"),
        (any(part.endswith(".lock") for part in parts), "a part ends with '.lock'"),
        (not check_ref_format(Ref(LOCAL_BRANCH_PREFIX + branch.encode())), "git does not allow it"),
    )
    return next((reason for failed, reason in checks if failed), None)


def branch_tip(repo: Repo, ref: Ref) -> ObjectID | None:
    """The commit a branch points at, or None when the branch does not exist (yet)."""
    try:
        sha = repo.refs[ref]
    except KeyError:
        return None
    if not isinstance(repo[sha], Commit):
        raise RepositoryError(f"{ref.decode()} does not point at a commit; repair the repository")
    return sha


def require_tip(repo: Repo, ref: Ref) -> ObjectID:
    """The commit a branch points at; raises with the known branches when it does not exist."""
    tip = branch_tip(repo, ref)
    if tip is None:
        names = sorted(
            r[len(LOCAL_BRANCH_PREFIX) :].decode() for r in repo.refs.allkeys() if r.startswith(LOCAL_BRANCH_PREFIX)
        )
        branch = ref[len(LOCAL_BRANCH_PREFIX) :].decode()
        close = difflib.get_close_matches(branch, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        known = ", ".join(names) if names else "none yet; export first"
        raise RepositoryError(f"the repository has no branch {branch!r}; {hint}branches: {known}")
    return tip


def commit_tree(repo: Repo, commit_id: ObjectID) -> ObjectID:
    """The root tree of a commit."""
    commit = repo[commit_id]
    assert isinstance(commit, Commit)
    return commit.tree


def _lookup(repo: Repo, tree_id: ObjectID, path: str) -> tuple[int, ObjectID] | None:
    """The (mode, sha) at ``path`` in a tree; None when missing; raises NotTreeError or SubmoduleEncountered."""
    try:
        return tree_lookup_path(repo.object_store.__getitem__, tree_id, path.encode())
    except KeyError:
        return None


def read_blob(repo: Repo, tree_id: ObjectID | None, path: str) -> bytes | None:
    """The bytes of the regular file at ``path`` in a tree; None when there is no such file."""
    if tree_id is None:
        return None
    try:
        found = _lookup(repo, tree_id, path)
    except (NotTreeError, SubmoduleEncountered):
        return None
    if found is None or not stat.S_ISREG(found[0]):
        return None
    obj = repo.object_store[found[1]]
    return obj.as_raw_string() if isinstance(obj, Blob) else None


def path_kind(repo: Repo, tree_id: ObjectID | None, path: str) -> Literal["missing", "file", "blocked"]:
    """Whether a file can be written at ``path`` in a tree: it is missing, a regular file, or blocked.

    Blocked: a folder, link or submodule is there, or a folder on the way is a file or submodule.
    """
    if tree_id is None:
        return "missing"
    try:
        found = _lookup(repo, tree_id, path)
    except (NotTreeError, SubmoduleEncountered):
        return "blocked"
    if found is None:
        return "missing"
    return "file" if stat.S_ISREG(found[0]) else "blocked"


def head_commit(repo: Repo) -> ObjectID | None:
    """The commit HEAD points at; None in an empty repository."""
    try:
        sha = repo.refs[HEADREF]
    except KeyError:
        return None
    return sha if isinstance(repo[sha], Commit) else None


def checked_out(repo: Repo, ref: Ref) -> Path | None:
    """The working tree's root when ``ref`` is the branch checked out there (None for a bare repository)."""
    if repo.bare:
        return None
    names, _sha = repo.refs.follow(HEADREF)
    return Path(repo.path) if names and names[-1] == ref else None


def current_branch(repo: Repo) -> str | None:
    """The branch HEAD names (also before its first commit, as after ``git init``); None when HEAD is detached."""
    try:
        target = repo.refs.get_symrefs().get(HEADREF)
    except (OSError, KeyError):
        return None
    if target is None or not target.startswith(LOCAL_BRANCH_PREFIX):
        return None
    return target[len(LOCAL_BRANCH_PREFIX) :].decode("utf-8", errors="replace")
