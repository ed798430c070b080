"""Bringing a git export into the repository: the branch moves and a checked-out working tree follows.

``read_worktree`` refuses when the checked-out files hold uncommitted work; ``publish`` moves the branch
to the export's commit and writes the files and index entries, all or nothing: when a step fails, the
branch goes back and the files get their old bytes.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from dulwich.file import FileLocked
from dulwich.index import index_entry_from_stat
from dulwich.objects import Blob, Commit, ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo

from .atomicfile import stage, write_atomic
from .gitrepo import RepositoryError, read_blob
from .overwrite import ExportRefused

FILE_MODE = 0o100644
"""The mode of every exported file (a regular, non-executable file)."""


def read_worktree(
    repo: Repo, root: Path, tree: ObjectID | None, files: dict[str, bytes], *, force: bool
) -> dict[str, bytes | None]:
    """The checked-out files' current bytes; refuses when they (or their index entries) hold uncommitted work."""
    index = repo.open_index()
    current: dict[str, bytes | None] = {}
    for rel, data in files.items():
        _refuse_linked_folders(root, rel)
        path = root / rel
        if path.is_symlink() or path.is_dir():
            raise ExportRefused(f"{path} is a folder or a link in the working tree; move it away and export again")
        try:
            current[rel] = path.read_bytes()
        except FileNotFoundError:
            current[rel] = None
        except OSError as exc:
            raise RepositoryError(f"cannot read {path}: {exc.strerror or exc}") from None
        committed = read_blob(repo, tree, rel)
        committed_id = Blob.from_string(committed).id if committed is not None else None
        try:
            staged_id: ObjectID | None = getattr(index[rel.encode()], "sha", None)
        except KeyError:
            staged_id = None
        new_id = Blob.from_string(data).id
        # A file that already holds the new bytes loses nothing when it is overwritten.
        if (current[rel] not in (committed, data) or staged_id not in (committed_id, new_id)) and not force:
            raise ExportRefused(
                f"{rel} has uncommitted changes in the working tree of {root}; commit or discard them "
                "(e.g. git stash), or pass --force to overwrite them"
            )
    return current


def _refuse_linked_folders(root: Path, rel: str) -> None:
    """Refuse a folder on the way to ``rel`` that is a link: writing through it could leave the repository.

    git does not add files beyond a link either, so even a link that stays inside is refused.
    """
    for parent in reversed(Path(rel).parents):
        folder = root / parent
        if parent != Path() and folder.is_symlink():
            target = folder.resolve()
            where = "outside the repository" if not target.is_relative_to(root.resolve()) else "inside the repository"
            raise ExportRefused(
                f"{parent.as_posix()} in the working tree of {root} is a link (to {target}, {where}); "
                "git does not write through links, so replace it with a real folder, or export to a branch "
                "that is not checked out"
            )


def publish(
    repo: Repo,
    commit: Commit,
    *,
    ref: Ref,
    tip: ObjectID | None,
    worktree: Path | None,
    blobs: dict[str, Blob],
    old_work: dict[str, bytes | None],
    branch: str,
) -> None:
    """Move the branch to ``commit`` and bring a checked-out working tree along; all or nothing."""
    staged: dict[str, Path] = {}
    made: list[Path] = []
    try:
        if worktree is not None:
            for rel, blob in blobs.items():
                made += _make_parents(worktree, worktree / rel)
                staged[rel] = stage(worktree / rel, blob.as_raw_string())
        log = b"commit: " + commit.message.splitlines()[0]
        moved = (
            repo.refs.add_if_new(ref, commit.id, message=log)
            if tip is None
            else repo.refs.set_if_equals(ref, tip, commit.id, message=log)
        )
        if not moved:
            raise RepositoryError(f"branch {branch!r} moved while exporting (someone else committed); export again")
    except BaseException as exc:
        _discard(staged, made)
        raise _user_error(exc, f"cannot write to the repository at {repo.path}") from None
    if worktree is None:
        return
    replaced: list[str] = []
    try:
        for rel, temp in staged.items():
            temp.replace(worktree / rel)
            replaced.append(rel)
        index = repo.open_index()
        for rel, blob in blobs.items():
            index[rel.encode()] = index_entry_from_stat(os.lstat(worktree / rel), blob.id, FILE_MODE)
        index.write()
    except BaseException as exc:
        # Undo: the branch goes back to where it was and the checked-out files get their old bytes.
        undone = _undo(repo, ref, commit, tip)
        for rel in replaced:
            undone = _undo_file(worktree / rel, old_work.get(rel)) and undone
        _discard({rel: temp for rel, temp in staged.items() if rel not in replaced}, made)
        outcome = "nothing was exported" if undone else "the undo failed too, so check 'git status' and 'git log'"
        raise _user_error(exc, f"cannot update the working tree of {worktree}", outcome) from None


def _user_error(exc: BaseException, what: str, outcome: str = "nothing was exported") -> BaseException:
    """The exception to raise for a failed write: OS and lock errors become a RepositoryError that says why."""
    if isinstance(exc, FileLocked):
        return RepositoryError(
            f"{what}: {os.fsdecode(exc.lockfilename)} exists, so another git command is at work; let it finish "
            f"(or delete that lock file if none is running), then export again; {outcome}"
        )
    if isinstance(exc, OSError):
        return RepositoryError(f"{what}: {exc.strerror or exc}; {outcome}")
    return exc


def _undo(repo: Repo, ref: Ref, commit: Commit, tip: ObjectID | None) -> bool:
    """Move the branch back from ``commit`` to ``tip`` (deleting a branch the export created); False if that fails."""
    try:
        if tip is None:
            return repo.refs.remove_if_equals(ref, commit.id)
        return repo.refs.set_if_equals(ref, commit.id, tip, message=b"dagsmith: undo an interrupted export")
    except (OSError, FileLocked):
        return False


def _undo_file(path: Path, data: bytes | None) -> bool:
    """Put back a working-tree file's old bytes (or remove it if it was not there); False if that fails."""
    try:
        if data is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, data)
    except OSError:
        return False
    return True


def _make_parents(root: Path, path: Path) -> list[Path]:
    """Create the missing folders above ``path`` (up to ``root``); return the ones made, deepest last."""
    missing = [p for p in reversed(path.relative_to(root).parents) if p != Path() and not (root / p).exists()]
    for rel in missing:
        (root / rel).mkdir()
    return [root / rel for rel in missing]


def _discard(staged: dict[str, Path], made: list[Path]) -> None:
    for temp in staged.values():
        temp.unlink(missing_ok=True)
    for folder in reversed(made):
        with contextlib.suppress(OSError):  # not empty after all: leave it
            folder.rmdir()
