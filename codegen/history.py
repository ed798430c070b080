"""Versions of exported DAG files: choosing the next one, and reading them back from git.

``plan_version`` decides the version number from the file being replaced and refuses to overwrite
work that is not dagsmith's. Exports live at fixed paths on a branch (``dags/<dag_id>.py`` and
``pipelines/<dag_id>.dagsmith.json``); every commit that changed the DAG file to a pristine dagsmith
file is one exported version (``list_versions``, ``diff_versions``). Nothing here writes;
``gitexport`` does.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from dulwich.errors import NotGitRepository, NotTreeError
from dulwich.object_store import tree_lookup_path
from dulwich.objects import Blob, Commit, ObjectID, SubmoduleEncountered
from dulwich.refs import HEADREF, LOCAL_BRANCH_PREFIX, Ref, check_ref_format
from dulwich.repo import Repo

from dagsmith.nodes import DocumentError, parse
from dagsmith.nodes.checks import dag_id_problem

from . import versioning

if TYPE_CHECKING:
    from dagsmith.nodes import Pipeline


class GitExportError(Exception):
    """A file or git export problem; ``str()`` is a message for the user that says what to do."""


class RepositoryError(GitExportError):
    """The repository or branch cannot be used: missing, not git, unknown branch, or a failed write."""


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


class RenderFn(Protocol):
    """The renderer's signature (``dagsmith.codegen.render.render``)."""

    def __call__(self, pipeline: Pipeline, /, *, version: int, target: str) -> str: ...


class ExportRefused(GitExportError):  # noqa: N818 (the name the CLI and issue use)
    """Exporting would overwrite work that is not dagsmith's; the message names the file and the way out."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The chosen version and the rendered file; ``unchanged`` when it equals the existing one."""

    version: int
    text: str
    unchanged: bool


def plan_version(
    pipeline: Pipeline,
    existing: bytes | None,
    *,
    where: str,
    force: bool,
    target: str,
    render: RenderFn,
    previous: Callable[[], int],
    version: int | None = None,
) -> Plan:
    """Choose the version, render, and refuse to replace a foreign or hand-edited file unless forced.

    ``previous()`` gives the highest earlier version when the existing file does not say (0: none).
    ``version``: the number the caller has already given this pipeline (the editor's saved version), so
    the file carries that number; refused when the existing file holds a later version or another
    pipeline under the same number.
    """
    if version is not None:
        return _plan_pinned(pipeline, existing, version, where=where, force=force, target=target, render=render)
    if existing is None:
        version = previous() + 1
        return Plan(version, render(pipeline, version=version, target=target), unchanged=False)
    text = existing.decode("utf-8", errors="replace")
    header = versioning.read_header(text)
    if header is None:
        if not force:
            raise ExportRefused(
                f"{where} was not generated by dagsmith, so exporting would overwrite it; move or rename it, "
                "give the pipeline another dag_id, or pass --force to overwrite it"
            )
        version = previous() + 1
    elif header.dag_id != pipeline.dag_id and not force:
        raise ExportRefused(
            f"{where} was generated by dagsmith for another DAG ({header.dag_id!r}); "
            "give the pipeline another dag_id, or pass --force to overwrite it"
        )
    elif not versioning.is_pristine(text):
        if not force:
            raise ExportRefused(
                f"{where} was edited by hand since dagsmith exported v{header.version}, and exporting would "
                "lose those edits; move them into the pipeline (or save a copy), then pass --force to overwrite it"
            )
        version = header.version + 1
    elif header.content_hash == versioning.content_hash(pipeline):
        same = render(pipeline, version=header.version, target=target)
        if same.encode() == existing:
            return Plan(header.version, same, unchanged=True)
        # Same pipeline, different output (another target or renderer): still a new version of the file.
        version = header.version + 1
    else:
        version = header.version + 1
    return Plan(version, render(pipeline, version=version, target=target), unchanged=False)


def _plan_pinned(
    pipeline: Pipeline, existing: bytes | None, version: int, *, where: str, force: bool, target: str, render: RenderFn
) -> Plan:
    """``plan_version`` for a number the caller chose: the same refusals, and no going back in numbers."""
    text = render(pipeline, version=version, target=target)
    if existing is None:
        return Plan(version, text, unchanged=False)
    if text.encode() == existing:
        return Plan(version, text, unchanged=True)
    old = existing.decode("utf-8", errors="replace")
    header = versioning.read_header(old)
    if force:
        return Plan(version, text, unchanged=False)
    # The refusals of a foreign, another DAG's or a hand-edited file (nothing is rendered for them).
    plan_version(pipeline, existing, where=where, force=False, target=target, render=_no_render, previous=lambda: 0)
    assert header is not None  # plan_version refused every file without a header
    newer = header.version > version
    if newer or (header.version == version and header.content_hash != versioning.content_hash(pipeline)):
        held = "a later version" if newer else "another pipeline under the same number"
        raise ExportRefused(
            f"{where} holds v{header.version} (content {header.content_hash[:8]}), {held}, while this pipeline is "
            f"at v{version}; it was exported from another copy of the pipeline (or with `dagsmith export`), so "
            "export to another branch or give the pipeline another dag_id"
        )
    return Plan(version, text, unchanged=False)


def _no_render(pipeline: Pipeline, /, *, version: int, target: str) -> str:
    return ""


def check_source(old_source: bytes | None, exported: versioning.Header | None, new_hash: str, *, where: str) -> None:
    """Refuse to replace a pipeline source that differs from the one the last DAG version was exported from."""
    if old_source is None:
        return
    try:
        source_hash = versioning.content_hash(parse(old_source, source=where))
    except DocumentError as exc:
        raise ExportRefused(
            f"{where} is not a pipeline file this dagsmith can read ({exc.detail}); "
            "move it away, or pass --force to overwrite it"
        ) from None
    if source_hash == new_hash or (exported is not None and source_hash == exported.content_hash):
        return
    what = (
        f"was changed since v{exported.version} of the DAG was exported from it"
        if exported
        else "matches no exported version of the DAG"
    )
    raise ExportRefused(
        f"{where} {what}, and exporting would overwrite it; open that file in dagsmith to keep its changes, "
        "or pass --force to overwrite it"
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
