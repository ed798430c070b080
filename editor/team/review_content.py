"""What a reviewer sees and what an approval binds to: a version, the files it runs, and their diffs.

The files a pipeline runs are its Script nodes' Python files and its Notebook nodes' notebooks, paths
inside the project's repository (the image's build context). The reviewed side of each file is the
project's checkout on this server; its base is the same path on the branch the project exports to (what
production has). The content hash covers the version's document and every one of those files, so
changing a notebook after an approval voids the approval just as changing a node does.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dagsmith.codegen import ExportError, render
from dagsmith.codegen.changes import describe_changes
from dagsmith.codegen.gitrepo import RepositoryError, branch_ref, branch_tip, commit_tree, open_repo, read_blob
from dagsmith.nodes import Pipeline

from ..store import Project, Version
from .notebook_diff import FileDiff, diff_file

HASH_PREFIX = "review-v1"
"""Changes when what the hash covers changes, so an old approval cannot match new content by accident."""


def run_files(pipeline: Pipeline) -> list[str]:
    """The notebooks and Python files the pipeline's steps run, as repository paths, sorted."""
    found: set[str] = set()
    for node in pipeline.nodes:
        for name in ("notebook", "script"):  # the Notebook and Script nodes' fields (and trials that run them)
            value = node.params.get(name)
            if isinstance(value, str) and value.strip():
                found.add(value.strip().removeprefix("./"))
    return sorted(found)


def safe_relative(path: str) -> str | None:
    """``path`` as a relative path inside a repository, or None when it leaves it (``..``, absolute)."""
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if not parts or parts[0] == "/" or ".." in parts or ":" in parts[0]:
        return None
    return "/".join(parts)


def checkout_of(project: Project) -> Path | None:
    """The project's repository folder on this server, or None when it has none here."""
    repo = project.git_repo
    return Path(repo) if repo and Path(repo).is_dir() else None


def read_checkout(checkout: Path | None, path: str) -> bytes | None:
    """A file's bytes in the checkout (None: absent, outside the checkout, or no checkout)."""
    relative = safe_relative(path)
    if checkout is None or relative is None:
        return None
    root = checkout.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target.read_bytes()


def read_branch(checkout: Path | None, branch: str, paths: list[str]) -> dict[str, bytes | None]:
    """The files on ``branch`` of the checkout's repository (None for each when it or the branch is absent)."""
    found: dict[str, bytes | None] = dict.fromkeys(paths)
    if checkout is None:
        return found
    try:
        with open_repo(checkout) as repo:
            tip = branch_tip(repo, branch_ref(branch))
            tree = commit_tree(repo, tip) if tip is not None else None
            for path in paths:
                relative = safe_relative(path)
                found[path] = read_blob(repo, tree, relative) if relative else None
    except RepositoryError:
        pass  # not a git repository: no base, every file shows as added
    return found


def content_hash(document_hash: str, files: dict[str, bytes | None]) -> str:
    """The hash an approval binds to: the document's hash and each run file's path and bytes."""
    digest = hashlib.sha256(f"{HASH_PREFIX}\0{document_hash}\0".encode())
    for path in sorted(files):
        data = files[path]
        digest.update(path.encode() + b"\0")
        digest.update(b"missing\0" if data is None else hashlib.sha256(data).hexdigest().encode() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ReviewContent:
    """Everything a reviewer opens for one version: DAG diff, change list, file diffs, and the hash."""

    version: int
    base_version: int | None
    content_hash: str
    dag_diff: str
    changes: list[str]
    files: list[FileDiff] = field(default_factory=list)


def dag_diff(old: Version | None, new: Version, *, target: str) -> str:
    """The unified diff of the DAG files two versions export to (the whole file when there is no base)."""

    def source(version: Version) -> str:
        try:
            return render(version.pipeline(), version=version.number, target=target)
        except ExportError as exc:
            return f"# version {version.number} does not export: {exc}\n"

    before = source(old) if old is not None else ""
    after = source(new)
    name = f"{new.dag_id}.py"
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"v{old.number}/{name}" if old is not None else "/dev/null",
            tofile=f"v{new.number}/{name}",
        )
    )


def version_files(project: Project, version: Version) -> dict[str, bytes | None]:
    """The reviewed side of every file the version runs (the project's checkout)."""
    checkout = checkout_of(project)
    return {path: read_checkout(checkout, path) for path in run_files(version.pipeline())}


def version_hash(project: Project, version: Version) -> str:
    """The content hash of a version with the files it runs as they are now."""
    return content_hash(version.content_hash, version_files(project, version))


def review_content(project: Project, new: Version, base: Version | None, *, target: str = "airflow3") -> ReviewContent:
    """What the reviewer opens: ``new`` against ``base`` (the version production has, or the one before)."""
    files = version_files(project, new)
    base_files = read_branch(checkout_of(project), project.git_branch, sorted(files))
    diffs = [diff_file(path, base_files[path], files[path]) for path in sorted(files)]
    changes = describe_changes(base.pipeline(), new.pipeline()) if base is not None else ["new pipeline"]
    return ReviewContent(
        version=new.number,
        base_version=base.number if base is not None else None,
        content_hash=content_hash(new.content_hash, files),
        dag_diff=dag_diff(base, new, target=target),
        changes=changes,
        files=diffs,
    )
