"""Versions of exported DAG files, read back from git.

Every commit that changed a branch's ``dags/<dag_id>.py`` to a pristine dagsmith file is one exported
version (``list_versions``, ``diff_versions``). Nothing here writes; ``gitexport`` does. The repository
helpers live in ``gitrepo``, and the choice of the next version in ``overwrite``; the names callers
import from here are re-exported.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dulwich.objects import ObjectID
from dulwich.repo import Repo

from . import versioning
from .gitrepo import (
    GitExportError,
    RepositoryError,
    branch_name_problem,
    branch_ref,
    check_dag_id,
    commit_tree,
    current_branch,
    dag_path,
    open_repo,
    pipeline_path,
    read_blob,
    require_tip,
)

__all__ = [
    "GitExportError",
    "RepositoryError",
    "UnknownVersionError",
    "VersionInfo",
    "branch_name_problem",
    "branch_ref",
    "check_dag_id",
    "current_branch",
    "diff_versions",
    "iter_versions",
    "last_export",
    "list_versions",
    "open_repo",
]


class UnknownVersionError(GitExportError, LookupError):
    """A version number that the branch history does not hold; the message lists the known ones."""


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One exported version of a DAG on a branch."""

    version: int
    content_hash: str
    commit: str
    author: str
    time: dt.datetime
    message: str


def last_export(repo: Repo, base: ObjectID | None, dag_id: str, old_dag: bytes | None) -> versioning.Header | None:
    """What the DAG file says about its export, or (when it is gone) the newest version in the history."""
    header = versioning.read_header(old_dag.decode("utf-8", errors="replace")) if old_dag is not None else None
    if header is not None or base is None:
        return header
    newest = next(iter_versions(repo, base, dag_id), None)
    return versioning.Header(dag_id, newest.version, newest.content_hash) if newest else None


def iter_versions(repo: Repo, tip: ObjectID, dag_id: str) -> Iterator[VersionInfo]:
    """Exported versions reachable from ``tip``, newest first: commits that changed the DAG file to a pristine one.

    Commits that deleted the file, or left it edited by hand or foreign, are not versions.
    """
    path = dag_path(dag_id)
    for entry in repo.get_walker(include=[tip], paths=[path.encode()]):
        commit = entry.commit
        data = read_blob(repo, commit.tree, path)
        if data is None:
            continue
        text = data.decode("utf-8", errors="replace")
        header = versioning.read_header(text)
        if header is None or header.dag_id != dag_id or not versioning.is_pristine(text):
            continue
        tz = dt.timezone(dt.timedelta(seconds=commit.author_timezone))
        yield VersionInfo(
            version=header.version,
            content_hash=header.content_hash,
            commit=commit.id.decode(),
            author=commit.author.decode("utf-8", errors="replace"),
            time=dt.datetime.fromtimestamp(commit.author_time, tz=tz),
            message=commit.message.decode("utf-8", errors="replace").strip(),
        )


def list_versions(repo_path: str | Path, dag_id: str, *, branch: str = "main") -> list[VersionInfo]:
    """The exported versions of ``dags/<dag_id>.py`` on ``branch``, newest first ([] when never exported)."""
    check_dag_id(dag_id)
    with open_repo(repo_path) as repo:
        return list(iter_versions(repo, require_tip(repo, branch_ref(branch)), dag_id))


def diff_versions(
    repo_path: str | Path,
    dag_id: str,
    a: int,
    b: int,
    *,
    branch: str = "main",
    what: Literal["dag", "pipeline"] = "dag",
) -> str:
    """A unified diff from version ``a`` to version ``b`` of the DAG file or of the pipeline source ('' if equal).

    When a version number occurs more than once in the history, its newest commit is used.
    """
    if what not in ("dag", "pipeline"):
        raise ValueError(f"what must be 'dag' or 'pipeline', not {what!r}")
    path = dag_path(dag_id) if what == "dag" else pipeline_path(dag_id)
    with open_repo(repo_path) as repo:
        by_number: dict[int, VersionInfo] = {}
        for found in iter_versions(repo, require_tip(repo, branch_ref(branch)), dag_id):
            by_number.setdefault(found.version, found)
        texts = []
        for number in (a, b):
            info = by_number.get(number)
            if info is None:
                known = ", ".join(str(n) for n in sorted(by_number)) or "none"
                raise UnknownVersionError(
                    f"{dag_id} has no version {number} on branch {branch!r}; known versions: {known}"
                    + ("" if by_number else f" (export it to {branch!r} first)")
                )
            data = read_blob(repo, commit_tree(repo, ObjectID(info.commit.encode())), path)
            if data is None:
                raise RepositoryError(
                    f"{path} is missing from the commit of v{number} ({info.commit[:10]}); "
                    "that version was exported without it, so diff the DAG file instead"
                )
            texts.append(data.decode("utf-8", errors="replace"))
    lines = difflib.unified_diff(_lines(texts[0]), _lines(texts[1]), fromfile=f"{path} (v{a})", tofile=f"{path} (v{b})")
    return "".join(lines)


def _lines(text: str) -> list[str]:
    """Lines split at newlines only (``splitlines`` also splits at form feeds), marked like git when unterminated."""
    lines = [line + "\n" for line in text.split("\n")]
    if lines[-1] == "\n":
        lines.pop()
    else:
        lines[-1] = lines[-1][:-1] + "\n\\ No newline at end of file\n"
    return lines
