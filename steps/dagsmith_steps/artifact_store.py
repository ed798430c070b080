"""dagsmith artifact layer: every output stored where its form says, with its manifest, readable by whom it says.

Runs around a step's command: in pods, embedded after the step runtime (``runtime.run_step``); in local runs,
embedded in the launcher. ``artifact_prepare`` downloads path-mode inputs from an object store before the
command; ``artifact_finish``, after the command exits 0, uploads path-mode outputs (a file, or a folder
recursively), writes each manifest and enforces access where the data lives: POSIX owning group, mode bits
and ACLs; S3 object tags; GCS object metadata. The environment is the contract in ``codegen/CONTRACT.md``
("Artifact layer"). Standard library at import; fsspec with s3fs or gcsfs when the store is a bucket.
The text is embedded next to other programs, so every top-level name starts with ``artifact``/``Artifact``.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import grp
import hashlib
import json
import os
import shutil
import subprocess
import urllib.parse
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


def artifact_filesystem(uri: str, env: dict[str, str]) -> Any:
    """The fsspec filesystem for ``uri``; ``DAGSMITH_ARTIFACT_ENDPOINT`` names an S3-compatible server."""
    protocol = uri.split("://", 1)[0]
    try:
        import fsspec

        options: dict[str, Any] = {}
        if protocol in ("s3", "s3a") and env.get("DAGSMITH_ARTIFACT_ENDPOINT"):
            options["client_kwargs"] = {"endpoint_url": env["DAGSMITH_ARTIFACT_ENDPOINT"]}
        return fsspec.filesystem(protocol, **options)
    except ImportError as exc:
        package = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs"}.get(protocol, "its fsspec package")
        raise ArtifactError(
            f"the artifact store {uri} needs fsspec and {package} in the step's image ({exc}); "
            f"install them (pip install fsspec {package})"
        ) from None


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


def _artifact_staged(path: Path, env: dict[str, str]) -> bool:
    """True when ``path`` lies under the staging folder (only there does the layer delete anything)."""
    root = Path(env.get("DAGSMITH_STAGING") or "/tmp/dagsmith-staging").resolve()
    return path.resolve() != root and path.resolve().is_relative_to(root)


def _artifact_remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def artifact_prepare(env: dict[str, str]) -> None:
    """Before the command: download path-mode inputs from the store, and clear and create the staging paths."""
    for name, port in artifact_ports(env, "INPUT").items():
        if not artifact_is_remote(port["uri"]) or artifact_is_remote(port["local"]):
            continue
        local, uri = _artifact_path(port["local"]), port["uri"]
        fs = artifact_filesystem(uri, env)
        if not fs.exists(uri):
            raise ArtifactError(
                f"input {name.lower()!r}: nothing is stored at {uri}; the upstream step did not store this "
                "output (see its log), or this step's identity may not list the store"
            )
        if _artifact_staged(local, env):
            _artifact_remove(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        if fs.isdir(uri):
            fs.get(uri.rstrip("/") + "/", str(local), recursive=True)
        else:
            fs.get_file(uri, str(local))
    for port in artifact_ports(env, "OUTPUT").values():
        if port["mode"] == "path" and not artifact_is_remote(port["local"]):
            local = _artifact_path(port["local"])
            if artifact_is_remote(port["uri"]) and _artifact_staged(local, env):
                _artifact_remove(local)  # a file left by an earlier try must not be uploaded as this one's
            local.parent.mkdir(parents=True, exist_ok=True)


def artifact_cleanup(env: dict[str, str]) -> None:
    """After the command: delete the inputs downloaded into the staging folder."""
    for port in artifact_ports(env, "INPUT").values():
        local = _artifact_path(port["local"])
        if artifact_is_remote(port["uri"]) and not artifact_is_remote(port["local"]) and _artifact_staged(local, env):
            _artifact_remove(local)


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


def _artifact_write_options(uri: str, tags: dict[str, str]) -> dict[str, Any]:
    """Extra arguments for an upload that set the tags in the same request (no second call per object)."""
    protocol = uri.split("://", 1)[0]
    if protocol in ("s3", "s3a"):
        return {"Tagging": urllib.parse.urlencode(tags)}
    if protocol in ("gs", "gcs"):
        return {"metadata": tags}
    return {}


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


def _artifact_upload(fs: Any, local: Path, uri: str, options: dict[str, Any]) -> tuple[str, int]:
    """Upload one file (multipart when large, by the filesystem) while a thread hashes it from the page cache."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        hashed = pool.submit(artifact_hash_file, local)
        fs.put_file(str(local), uri, **options)
        return hashed.result()


def _artifact_remote_entries(fs: Any, uri: str, tags: dict[str, str]) -> tuple[bool, list[tuple[str, str, int]]]:
    """Uri mode: hash what the step stored (streamed from the store) and tag or label each object."""
    folder = fs.isdir(uri)
    keys = sorted(fs.find(uri)) if folder else [uri]
    base = fs._strip_protocol(uri).rstrip("/")
    entries = []
    for key in keys:
        rel = fs._strip_protocol(key)[len(base) + 1 :] if folder else ""
        if rel == ARTIFACT_FOLDER_MANIFEST:
            continue
        digest, size = hashlib.sha256(), 0
        with fs.open(key, "rb", block_size=_ARTIFACT_CHUNK) as handle:
            while chunk := handle.read(_ARTIFACT_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        entries.append((rel, digest.hexdigest(), size))
        if hasattr(fs, "put_tags"):
            fs.put_tags(key, tags, mode="o")
        elif hasattr(fs, "setxattrs"):
            fs.setxattrs(key, **tags)
    return folder, entries


def _artifact_store_remote(
    name: str, port: dict[str, str], env: dict[str, str], access: dict[str, Any]
) -> tuple[bool, list[tuple[str, str, int]], str]:
    """Upload (path mode) or inspect (uri mode) an output in an object store; (folder, entries, manifest URI)."""
    uri, tags = port["uri"].rstrip("/"), artifact_tags(env, access)
    fs = artifact_filesystem(uri, env)
    options = _artifact_write_options(uri, tags)
    if port["mode"] == "uri":
        folder, entries = _artifact_remote_entries(fs, uri, tags)
    else:
        local = _artifact_path(port["local"])
        folder = local.is_dir()
        files = _artifact_files(local) if folder else [("", local)]
        entries = []
        for rel, path in files:
            entries.append((rel, *_artifact_upload(fs, path, uri + "/" + rel if rel else uri, options)))
    manifest = uri + "/" + ARTIFACT_FOLDER_MANIFEST if folder else uri + ARTIFACT_FILE_MANIFEST
    document = artifact_manifest(name, port["uri"], env, access, folder=folder, entries=entries)
    fs.pipe_file(manifest, json.dumps(document, indent=2).encode("utf-8"), **options)
    if port["mode"] == "path" and _artifact_staged(_artifact_path(port["local"]), env):
        _artifact_remove(_artifact_path(port["local"]))  # stored now; the staging copy is not needed
    return folder, entries, manifest


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
