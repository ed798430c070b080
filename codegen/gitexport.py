"""Writing versioned DAG files: to a plain folder, or as one commit on a git branch.

The version number comes from the file being replaced: the same content hash (and the same output)
keeps its version and writes nothing; anything else is the previous version + 1. A file that
dagsmith did not generate, or that was edited by hand since, is never overwritten without ``force``.
Writes are atomic: a folder export replaces the file in one rename, and a git export builds every
object first and moves the branch last, so an interrupted export leaves the repository as it was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from dulwich.object_store import commit_tree_changes
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.repo import DefaultIdentityNotFound, InvalidUserIdentity, Repo, check_user_identity, get_user_identity

from dagsmith.nodes import dumps

from . import versioning
from .atomicfile import write_atomic
from .gitrepo import (
    GitExportError,
    RepositoryError,
    branch_ref,
    branch_tip,
    check_dag_id,
    checked_out,
    commit_tree,
    current_branch,
    dag_path,
    head_commit,
    open_repo,
    path_kind,
    pipeline_path,
    read_blob,
)
from .history import iter_versions, last_export
from .overwrite import ExportRefused, RenderFn, check_source, plan_version
from .worktree import FILE_MODE, publish, read_worktree

if TYPE_CHECKING:
    from dagsmith.nodes import Pipeline

_FALLBACK_IDENTITY = b"dagsmith <dagsmith@localhost>"


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote.

    ``paths``: absolute file paths for a folder export; repository paths (``dags/…``, ``pipelines/…``)
    for a git export. ``commit``: the new commit, or the branch tip that already holds this version
    when ``unchanged``; None for a folder export. ``checked_out``: the branch the repository's working
    tree is on (None: a folder export, a bare repository or a detached HEAD); ``worktree_updated``:
    whether the export wrote its files into that working tree.
    """

    dag_id: str
    version: int
    content_hash: str
    paths: tuple[str, ...]
    commit: str | None = None
    branch: str | None = None
    unchanged: bool = False
    checked_out: str | None = None
    worktree_updated: bool = False

    def describe(self) -> str:
        """One line for the user."""
        where = f"branch {self.branch!r} ({self.commit[:10]})" if self.branch and self.commit else self.paths[0]
        if self.unchanged:
            return f"{self.dag_id} v{self.version} is already exported to {where}; nothing changed"
        done = f"exported {self.dag_id} v{self.version} (content {self.content_hash[:8]}) to {where}"
        return f"{done}; {self.worktree_note()}" if self.branch else done

    def worktree_note(self) -> str:
        """Whether the checked-out files show this export, and what to do when they do not ('' for a folder)."""
        if self.branch is None:
            return ""
        if self.worktree_updated:
            return f"the working tree (on {self.branch!r}) was updated"
        if self.branch == self.checked_out:
            return f"the working tree is on {self.branch!r}, which needed no change"
        if self.checked_out is None:
            return "the repository has no checked-out branch, so no working tree was updated"
        return (
            f"the working tree is on {self.checked_out!r}, not {self.branch!r}, so it was not updated; "
            f"run 'git checkout {self.branch}' there to see the files"
        )


def _renderer(render_fn: RenderFn | None) -> RenderFn:
    if render_fn is not None:
        return render_fn
    from .render import render  # the renderer is imported late so that this module works without it

    return render


def export_to_dir(
    pipeline: Pipeline,
    out_dir: str | Path,
    *,
    target: str = "airflow3",
    force: bool = False,
    render_fn: RenderFn | None = None,
) -> ExportResult:
    """Write ``out_dir/<dag_id>.py`` atomically, versioned against the file it replaces."""
    render = _renderer(render_fn)
    dag_id = check_dag_id(pipeline.dag_id)
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise GitExportError(f"{folder} is a file, not a folder; choose a folder to export to")
    path = folder / f"{dag_id}.py"
    if path.is_dir() or path.is_symlink():
        raise ExportRefused(f"{path} is a folder or a link; move it away or export to another folder")
    try:
        existing: bytes | None = path.read_bytes()
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise GitExportError(f"cannot read {path}: {exc.strerror or exc}; check its permissions") from None
    plan = plan_version(
        pipeline, existing, where=str(path), force=force, target=target, render=render, previous=lambda: 0
    )
    if not plan.unchanged:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(path, plan.text.encode())
        except OSError as exc:
            raise GitExportError(
                f"cannot write {path}: {exc.strerror or exc}; check the folder's permissions and free space"
            ) from None
    return ExportResult(
        dag_id=dag_id,
        version=plan.version,
        content_hash=versioning.content_hash(pipeline),
        paths=(str(path.absolute()),),
        unchanged=plan.unchanged,
    )


def export_to_git(
    pipeline: Pipeline,
    repo_path: str | Path,
    *,
    branch: str = "main",
    message: str | None = None,
    target: str = "airflow3",
    force: bool = False,
    author: str | None = None,
    render_fn: RenderFn | None = None,
    version: int | None = None,
    expected: str | None = None,
) -> ExportResult:
    """Commit ``dags/<dag_id>.py`` and ``pipelines/<dag_id>.dagsmith.json`` to ``branch`` in one commit.

    A missing branch is created from HEAD (or as the first commit of an empty repository). When the
    branch is checked out, the working tree and index are updated too. ``version``: the number the
    file carries (the editor's saved version) instead of one counted from the branch; ``expected``: the
    DAG file the user reviewed, so that a different one is refused rather than committed.
    """
    render = _renderer(render_fn)
    dag_id = check_dag_id(pipeline.dag_id)
    dag_file, source_file = dag_path(dag_id), pipeline_path(dag_id)
    ref = branch_ref(branch)
    author_id = _parse_author(author)
    with open_repo(repo_path) as repo:
        tip = branch_tip(repo, ref)
        base = tip if tip is not None else head_commit(repo)
        tree = commit_tree(repo, base) if base is not None else None
        for rel in (dag_file, source_file):
            if path_kind(repo, tree, rel) == "blocked":
                raise ExportRefused(
                    f"{rel} on branch {branch!r} of {repo_path} is a folder, link or submodule, or lies below a file; "
                    "move it away in the repository, or give the pipeline another dag_id"
                )
        old_dag = read_blob(repo, tree, dag_file)
        old_source = read_blob(repo, tree, source_file)
        plan = plan_version(
            pipeline,
            old_dag,
            where=f"{dag_file} on branch {branch!r} of {repo_path}",
            force=force,
            target=target,
            render=render,
            previous=lambda: max((v.version for v in iter_versions(repo, base, dag_id)), default=0) if base else 0,
            version=version,
        )
        if expected is not None and plan.text != expected:
            raise ExportRefused(
                f"the DAG file to commit differs from the one shown for review (v{plan.version} of {dag_id}); "
                "the pipeline changed since: review the export again, then commit"
            )
        new_hash = versioning.content_hash(pipeline)
        new_dag, new_source = plan.text.encode(), dumps(pipeline).encode()
        if not force:
            exported = last_export(repo, base, dag_id, old_dag)
            check_source(old_source, exported, new_hash, where=f"{source_file} on branch {branch!r} of {repo_path}")
        result = ExportResult(
            dag_id=dag_id,
            version=plan.version,
            content_hash=new_hash,
            paths=(dag_file, source_file),
            branch=branch,
            checked_out=None if repo.bare else current_branch(repo),
        )
        if base is not None and old_dag == new_dag and old_source == new_source:
            if tip is None and not repo.refs.add_if_new(ref, base, message=b"branch: created by dagsmith export"):
                raise RepositoryError(f"branch {branch!r} appeared while exporting; export again")
            return replace(result, commit=base.decode(), unchanged=True)
        files = {dag_file: new_dag, source_file: new_source}
        worktree = checked_out(repo, ref)
        old_work = read_worktree(repo, worktree, tree, files, force=force) if worktree else {}
        blobs = {rel: Blob.from_string(data) for rel, data in files.items()}
        for blob in blobs.values():
            repo.object_store.add_object(blob)
        new_tree = commit_tree_changes(
            repo.object_store,
            tree if tree is not None else Tree(),
            [(rel.encode(), FILE_MODE, blob.id) for rel, blob in blobs.items()],
        )
        commit = _commit(repo, new_tree, base, author_id, _message(dag_id, plan.version, new_hash, message))
        publish(repo, commit, ref=ref, tip=tip, worktree=worktree, blobs=blobs, old_work=old_work, branch=branch)
        return replace(result, commit=commit.id.decode(), worktree_updated=worktree is not None)


def _commit(repo: Repo, tree: ObjectID, parent: ObjectID | None, author: bytes | None, message: str) -> Commit:
    """Build and store the commit object (the branch does not move yet)."""
    try:
        committer = get_user_identity(repo.get_config_stack(), kind="COMMITTER")
        check_user_identity(committer)
    except (DefaultIdentityNotFound, InvalidUserIdentity):  # nothing configured or found: commit as dagsmith
        committer = _FALLBACK_IDENTITY
    commit = Commit()
    commit.tree = tree
    commit.parents = [parent] if parent is not None else []
    commit.author = author or committer
    commit.committer = committer
    commit.author_time = commit.commit_time = int(time.time())
    commit.author_timezone = commit.commit_timezone = time.localtime().tm_gmtoff
    commit.encoding = b"UTF-8"
    commit.message = message.encode()
    repo.object_store.add_object(commit)
    return commit


def _message(dag_id: str, version: int, content: str, extra: str | None) -> str:
    """``dagsmith: export <dag_id> v<n> (content <hash>)`` and the user's message below it."""
    summary = f"dagsmith: export {dag_id} v{version} (content {content[:8]})"
    extra = (extra or "").strip()
    return f"{summary}\n\n{extra}\n" if extra else summary + "\n"


def _parse_author(author: str | None) -> bytes | None:
    """``Name <email>`` as bytes; raises with an example when it is not that shape."""
    if author is None:
        return None
    identity = author.strip().encode()
    try:
        check_user_identity(identity)
    except InvalidUserIdentity:
        raise GitExportError(f"the author {author!r} must look like 'Jane Doe <jane@example.com>'") from None
    return identity
