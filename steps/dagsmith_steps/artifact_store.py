"""dagsmith artifact layer: every output stored where its form says, with its manifest, readable by whom it says.

Runs around a step's command: in pods, embedded after the step runtime (``runtime.run_step``); in local runs,
embedded in the launcher. ``artifact_prepare`` downloads path-mode inputs from an object store before the
command; ``artifact_finish``, after the command exits 0, uploads path-mode outputs (a file, or a folder
recursively), writes each manifest and enforces access where the data lives: POSIX owning group, mode bits
and ACLs; S3 object tags; GCS object metadata. The environment is the contract in ``codegen/CONTRACT.md``
("Artifact layer"). Standard library at import; fsspec with s3fs or gcsfs when the store is a bucket.

This module is the layer's public face: every public name of its parts (``artifact_manifest``,
``artifact_access``, ``artifact_transfer``) is importable from here, as before the split.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from dagsmith_steps.artifact_access import artifact_posix_access  # dagsmith: not embedded
from dagsmith_steps.artifact_manifest import (  # dagsmith: not embedded
    ARTIFACT_FILE_MANIFEST,
    ARTIFACT_FOLDER_MANIFEST,
    ARTIFACT_LAYER,
    ARTIFACT_LEVELS,
    ARTIFACT_RUNTIME_VERSION,
    ArtifactError,
    _artifact_files,
    _artifact_path,
    artifact_access,
    artifact_folder_hash,
    artifact_hash_file,
    artifact_is_remote,
    artifact_manifest,
    artifact_ports,
    artifact_tags,
)
from dagsmith_steps.artifact_transfer import (  # dagsmith: not embedded
    _artifact_store_remote,
    artifact_cleanup,
    artifact_filesystem,
    artifact_prepare,
)

# The layer's public names, importable from here as before it was split into parts:
__all__ = (  # dagsmith: not embedded
    "ARTIFACT_FILE_MANIFEST",
    "ARTIFACT_FOLDER_MANIFEST",
    "ARTIFACT_LAYER",
    "ARTIFACT_LEVELS",
    "ARTIFACT_RUNTIME_VERSION",
    "ArtifactError",
    "artifact_access",
    "artifact_cleanup",
    "artifact_filesystem",
    "artifact_finish",
    "artifact_folder_hash",
    "artifact_hash_file",
    "artifact_is_remote",
    "artifact_manifest",
    "artifact_ports",
    "artifact_posix_access",
    "artifact_prepare",
    "artifact_run",
    "artifact_tags",
)


def _artifact_store_posix(
    name: str, port: dict[str, str], env: dict[str, str], access: dict[str, Any]
) -> tuple[bool, list[tuple[str, str, int]], str]:
    path = _artifact_path(port["uri"])
    folder = path.is_dir()
    files = _artifact_files(path) if folder else [("", path)]
    entries = [(rel, *artifact_hash_file(item)) for rel, item in files]
    manifest = path / ARTIFACT_FOLDER_MANIFEST if folder else Path(str(path) + ARTIFACT_FILE_MANIFEST)
    document = artifact_manifest(name, port["uri"], env, access, folder=folder, entries=entries)
    partial = manifest.with_name(manifest.name + ".partial")
    partial.write_text(json.dumps(document, indent=2), encoding="utf-8")
    partial.replace(manifest)
    how = artifact_posix_access(name, [path] if folder else [path, manifest], env, access)
    print(f"[dagsmith] output {name.lower()!r}: access {access['level']} by {how}", flush=True)
    return folder, entries, str(manifest)


def _artifact_exists(port: dict[str, str], env: dict[str, str]) -> bool:
    if port["mode"] == "uri" and artifact_is_remote(port["uri"]):
        return bool(artifact_filesystem(port["uri"], env).exists(port["uri"]))
    return _artifact_path(port["local"] if port["mode"] == "path" else port["uri"]).exists()


def artifact_finish(env: dict[str, str]) -> list[str]:
    """After the command exited 0: store every output, write its manifest, enforce its access; the manifests.

    Fails, storing nothing, when an output was not written.
    """
    outputs = artifact_ports(env, "OUTPUT")
    unwritten = [name for name, port in outputs.items() if not _artifact_exists(port, env)]
    for name in unwritten:
        if outputs[name]["optional"] == "1":  # no step reads it: nothing to store, and no reason to fail
            print(f"[dagsmith] output {name.lower()!r} was not written; no step reads it, so nothing is stored")
            del outputs[name]
    missing = [name for name in unwritten if name in outputs]
    if missing:
        where = "; ".join(f"{name.lower()!r} at {outputs[name]['local']}" for name in missing)
        raise ArtifactError(
            f"the step did not write output {where}; it must write each output to the path in "
            "DAGSMITH_OUTPUT_<PORT> (or to DAGSMITH_OUTPUT_<PORT>_URI in uri mode). Nothing was stored"
        )
    accesses = {name: artifact_access(name, port["access"]) for name, port in outputs.items()}
    manifests = []
    for name, port in outputs.items():
        store = _artifact_store_remote if artifact_is_remote(port["uri"]) else _artifact_store_posix
        folder, entries, manifest = store(name, port, env, accesses[name])
        size = sum(item[2] for item in entries)
        what = f"{len(entries)} files" if folder else "1 file"
        print(f"[dagsmith] stored output {name.lower()!r} at {port['uri']} ({what}, {size} bytes)", flush=True)
        manifests.append(manifest)
    return manifests


def artifact_run(argv: list[str], env: dict[str, str], cwd: str | None = None) -> int:
    """Run a command inside the layer: inputs before, outputs after it exits 0; its exit status.

    Raises ArtifactError (nothing stored) when an input cannot be fetched or an output cannot be stored.
    """
    artifact_prepare(env)
    try:
        code = subprocess.call(argv, env={**env, ARTIFACT_LAYER: "launcher"}, cwd=cwd)
    finally:
        artifact_cleanup(env)
    if code == 0:
        artifact_finish(env)
    return code
