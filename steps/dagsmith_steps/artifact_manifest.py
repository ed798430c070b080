"""dagsmith artifact layer, part 1: the contract's names, an output's settings, hashes and the manifest.

The layer is four modules, embedded in this order after the step runtime and in the local launcher
(``dagsmith.codegen.steps``): ``artifact_manifest`` (this one), ``artifact_access`` (POSIX enforcement),
``artifact_transfer`` (object stores: upload, download, tags) and ``artifact_store`` (what runs around a
step). Standard library only. Every top-level name starts with ``artifact``/``Artifact``: the text is
embedded next to other programs.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

ARTIFACT_RUNTIME_VERSION = "1"
ARTIFACT_FOLDER_MANIFEST = "_dagsmith_manifest.json"
ARTIFACT_FILE_MANIFEST = ".manifest.json"
ARTIFACT_LEVELS = ("private", "groups", "public")
ARTIFACT_LAYER = "DAGSMITH_ARTIFACT_LAYER"
"""Set to ``launcher`` in the step's environment when the local launcher runs the layer around the command."""
_ARTIFACT_CHUNK = 8 << 20
_ARTIFACT_SUFFIXES = ("_URI", "_MODE", "_ACCESS", "_OPTIONAL")


class ArtifactError(Exception):
    """An artifact that cannot be read, stored or protected as its settings say; the message says what to do."""


def artifact_is_remote(location: str) -> bool:
    """True for an object-store URI (``s3://``, ``gs://``, ...); False for a path or ``file://``."""
    return "://" in location and not location.startswith("file://")


def _artifact_path(location: str) -> Path:
    return Path(location[len("file://") :] if location.startswith("file://") else location)


def artifact_ports(env: dict[str, str], kind: str) -> dict[str, dict[str, str]]:
    """The ``INPUT`` or ``OUTPUT`` ports under the artifact layer: those with a ``DAGSMITH_<kind>_<PORT>_URI``.

    A port without the ``_URI`` variable (a DAG from before the layer, a count) is left alone.
    """
    prefix = "DAGSMITH_" + kind + "_"
    names = {key[len(prefix) :] for key in env if key.startswith(prefix)}
    ports: dict[str, dict[str, str]] = {}
    for name in sorted(names):
        if any(name.endswith(suffix) and name[: -len(suffix)] in names for suffix in _ARTIFACT_SUFFIXES):
            continue
        uri = env.get(prefix + name + "_URI")
        if uri:
            ports[name] = {
                "local": env[prefix + name],
                "uri": uri,
                "mode": env.get(prefix + name + "_MODE") or "path",
                "access": env.get(prefix + name + "_ACCESS") or "",
                "optional": env.get(prefix + name + "_OPTIONAL") or "",
            }
    return ports


def artifact_access(name: str, text: str) -> dict[str, Any]:
    """The output's access setting (``{"level", "groups"}``); private when unset."""
    try:
        access = json.loads(text) if text else {"level": "private", "groups": []}
    except ValueError:
        access = None
    if not isinstance(access, dict) or access.get("level") not in ARTIFACT_LEVELS:
        raise ArtifactError(
            f"output {name.lower()!r}: DAGSMITH_OUTPUT_{name}_ACCESS is {text!r}; it must be a JSON "
            "object with 'level' (private, groups or public) and 'groups' (a list); re-export the DAG"
        )
    groups = [str(group) for group in access.get("groups") or []]
    if access["level"] == "groups" and not groups:
        raise ArtifactError(f"output {name.lower()!r}: access level 'groups' names no group; name one in its form")
    return {"level": access["level"], "groups": groups}


def artifact_tags(env: dict[str, str], access: dict[str, Any]) -> dict[str, str]:
    """The tags (S3) or metadata (GCS) every stored object of an output gets."""
    return {
        "dagsmith-access": access["level"],
        "dagsmith-groups": ".".join(access["groups"]),
        "dagsmith-project": env.get("DAGSMITH_PROJECT") or env.get("DAGSMITH_DAG_ID", ""),
        "dagsmith-pipeline": env.get("DAGSMITH_PIPELINE") or env.get("DAGSMITH_DAG_ID", ""),
    }


def artifact_hash_file(path: Path) -> tuple[str, int]:
    """The file's sha256 (hex) and size, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(_ARTIFACT_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def artifact_folder_hash(entries: list[tuple[str, str, int]]) -> str:
    """A folder's sha256: of the ``sha256sum`` lines (``<sha256>  <relative path>``) of its files, sorted."""
    lines = "".join(f"{sha}  {rel}\n" for rel, sha, _ in sorted(entries))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def _artifact_files(root: Path) -> list[tuple[str, Path]]:
    """(relative path, path) of every file in a folder, sorted; the folder's own manifest is left out."""
    found = [(item.relative_to(root).as_posix(), item) for item in root.rglob("*") if item.is_file()]
    return sorted(item for item in found if item[0] != ARTIFACT_FOLDER_MANIFEST)


def artifact_manifest(
    name: str,
    uri: str,
    env: dict[str, str],
    access: dict[str, Any],
    *,
    folder: bool,
    entries: list[tuple[str, str, int]],
) -> dict[str, Any]:
    """The manifest stored next to an output (keys as in the contract)."""
    version = env.get("DAGSMITH_PIPELINE_VERSION", "")
    return {
        "pipeline": env.get("DAGSMITH_PIPELINE") or env.get("DAGSMITH_DAG_ID", ""),
        "dag_id": env.get("DAGSMITH_DAG_ID", ""),
        "version": int(version) if version.isdigit() else version,
        "run_id": env.get("DAGSMITH_RUN_ID", ""),
        "node": env.get("DAGSMITH_NODE_ID", ""),
        "task_id": env.get("DAGSMITH_TASK_ID", ""),
        "port": name.lower(),
        "uri": uri,
        "kind": "folder" if folder else "file",
        "sha256": artifact_folder_hash(entries) if folder else entries[0][1],
        "size": sum(size for _, _, size in entries),
        "files": len(entries),
        "access": access,
        "written_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 (3.10)
        "runtime_version": ARTIFACT_RUNTIME_VERSION,
    }
