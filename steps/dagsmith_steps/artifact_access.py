"""dagsmith artifact layer, part 2: access enforced where the data lives on a POSIX store.

Owning group and mode bits, and POSIX ACL entries (``setfacl``) where the volume supports them. Standard
library only; embedded after ``artifact_manifest`` (see its docstring).
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from dagsmith_steps.artifact_manifest import ArtifactError  # dagsmith: not embedded


def _artifact_group_ids(name: str, groups: list[str], env: dict[str, str]) -> list[int]:
    """The POSIX group ids of named groups: ``DAGSMITH_POSIX_IDS``, else the system's group database.

    Without ``DAGSMITH_POSIX_IDS`` at all (a folder of a local run's workspace: the pipeline names no shared
    POSIX store), a group the system does not know is left out; validation requires the ids of a shared store.
    """
    configured = "DAGSMITH_POSIX_IDS" in env
    mapped = (json.loads(env.get("DAGSMITH_POSIX_IDS") or "{}").get("groups")) or {}
    ids = []
    for group in groups:
        if group in mapped:
            ids.append(int(mapped[group]))
            continue
        try:
            ids.append(grp.getgrnam(group).gr_gid)
        except KeyError:
            if not configured:
                continue
            raise ArtifactError(
                f"output {name.lower()!r}: access group {group!r} has no POSIX group id; map it in the "
                "pipeline settings (artifact store, group ids)"
            ) from None
    return ids


def _artifact_setfacl(path: Path, *arguments: str) -> str:
    """Run setfacl recursively; the error text, or '' when it worked."""
    done = subprocess.run(["setfacl", "-R", *arguments, str(path)], capture_output=True, text=True, check=False)
    return "" if done.returncode == 0 else (done.stderr.strip() or f"setfacl exited with {done.returncode}")


def artifact_posix_access(name: str, paths: list[Path], env: dict[str, str], access: dict[str, Any]) -> str:
    """Enforce access on stored paths (each a file or a folder, recursively); says how (ACLs or mode bits).

    private: group ``project_gid``, folders 0o2770, files 0o660 (no bits for others); groups: the same plus an
    ACL entry ``g:<gid>:rX`` per group, or, where the volume has no ACLs, one group as the owning group;
    public: folders 0o2775, files 0o664. Executable files keep their execute bits for those who may read them.
    """
    level = access["level"]
    group_ids = _artifact_group_ids(name, access["groups"], env) if level == "groups" else []
    if level == "groups" and not group_ids:  # no id for any of its groups here: readable as if private
        print(
            f"[dagsmith] output {name.lower()!r}: no POSIX group id for {', '.join(access['groups'])} here "
            "(no shared store is configured); stored readable by its owner and group only",
            flush=True,
        )
        level = "private"
    owner_gid = (json.loads(env.get("DAGSMITH_POSIX_IDS") or "{}")).get("project_gid")
    acl = shutil.which("setfacl") is not None
    how = "mode bits"
    if acl:
        problem = "".join(_artifact_setfacl(path, "-b") for path in paths)  # no grant left from an earlier write
        acl = not problem
    if level == "groups" and not acl:
        if len(group_ids) != 1:
            raise ArtifactError(
                f"output {name.lower()!r}: the store has no POSIX ACLs here (setfacl missing or unsupported), so "
                f"only one group can read an artifact, not {len(group_ids)}; name one group, or use a volume "
                "with ACLs (install the 'acl' package in the image)"
            )
        owner_gid, how = group_ids[0], "mode bits, owning group " + access["groups"][0] + " (no ACLs)"
    public = level == "public"
    for top in paths:
        for item in [top, *(top.rglob("*") if top.is_dir() else [])]:
            mode = item.lstat().st_mode
            if item.is_symlink():
                continue
            if owner_gid is not None:
                try:
                    os.chown(item, -1, int(owner_gid))
                except PermissionError:
                    raise ArtifactError(
                        f"output {name.lower()!r}: cannot give {item} the group {owner_gid}: the step's identity is "
                        "not a member; run the step with that supplemental group (fsGroup)"
                    ) from None
            if item.is_dir():
                item.chmod(0o2775 if public else 0o2770)
            else:
                execute = (0o111 if public else 0o110) if mode & 0o100 else 0
                item.chmod((0o664 if public else 0o660) | execute)
    if level == "groups" and acl:
        entries = ",".join(f"g:{gid}:rX" for gid in group_ids)
        problem = "".join(_artifact_setfacl(path, "-m", entries) for path in paths)
        if problem:
            raise ArtifactError(f"output {name.lower()!r}: setting the ACL for its groups failed: {problem}")
        how = "ACL entries for groups " + ", ".join(access["groups"])
    return how
