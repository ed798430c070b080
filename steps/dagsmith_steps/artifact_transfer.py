"""dagsmith artifact layer, part 3: object stores (S3-compatible, GCS) through fsspec.

Downloads path-mode inputs before a step, uploads path-mode outputs after it (a file, or a folder
recursively) with their tags (S3) or metadata (GCS) set in the upload request itself, and hashes each file
while it streams (one read of the file); in uri mode it hashes and tags what the step stored. fsspec with
s3fs or gcsfs is imported only when the store is a bucket. Embedded after ``artifact_access``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import mimetypes
import shutil
import urllib.parse
from pathlib import Path
from typing import Any

from dagsmith_steps.artifact_manifest import (  # dagsmith: not embedded
    _ARTIFACT_CHUNK,
    ARTIFACT_FILE_MANIFEST,
    ARTIFACT_FOLDER_MANIFEST,
    ArtifactError,
    _artifact_files,
    _artifact_path,
    artifact_is_remote,
    artifact_manifest,
    artifact_ports,
    artifact_tags,
)


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


def _artifact_write_options(uri: str, tags: dict[str, str]) -> dict[str, Any]:
    """Extra arguments for an upload that set the tags in the same request (no second call per object)."""
    protocol = uri.split("://", 1)[0]
    if protocol in ("s3", "s3a"):
        return {"Tagging": urllib.parse.urlencode(tags)}
    if protocol in ("gs", "gcs"):
        return {"metadata": tags}
    return {}


_ARTIFACT_PART = 50 << 20
"""The part size of a multipart upload to S3 or a resumable one to GCS (s3fs's and gcsfs's own for ``put_file``).

A file under two parts is one PUT to S3; under one part, one upload to GCS. A multiple of 256 KiB, as GCS needs.
"""
_ARTIFACT_MAX_PARTS = 10_000


async def _artifact_send_parts(
    fs: Any, bucket: str, key: str, upload_id: str, chunks: list[bytes], *, done: int
) -> list[dict[str, Any]]:
    """Send parts ``done + 1 ...`` of a multipart upload at once; their numbers and ETags."""
    import asyncio

    answers = await asyncio.gather(
        *(
            fs._call_s3("upload_part", Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=done + i, Body=chunk)
            for i, chunk in enumerate(chunks, 1)
        )
    )
    return [{"PartNumber": done + i, "ETag": answer["ETag"]} for i, answer in enumerate(answers, 1)]


def _artifact_upload_s3(fs: Any, local: Path, uri: str, options: dict[str, Any]) -> tuple[str, int]:
    """Upload one file to S3 reading it once: each chunk read is hashed (in a thread) while it is sent.

    The requests are those of s3fs's ``put_file`` (one PUT, or a multipart upload sending up to
    ``max_concurrency`` parts at once), with the tags in the PUT or in the multipart upload's creation.
    """
    from fsspec.asyn import sync

    bucket, key, _ = fs.split_path(uri)
    size = local.stat().st_size
    part = max(_ARTIFACT_PART, -(-size // _ARTIFACT_MAX_PARTS))
    digest = hashlib.sha256()

    def hash_all(chunks: list[bytes]) -> None:
        for chunk in chunks:
            digest.update(chunk)  # releases the GIL: the send goes on meanwhile

    with local.open("rb") as handle, concurrent.futures.ThreadPoolExecutor(max_workers=1) as hasher:
        if size < 2 * part:
            body = handle.read()
            hashed = hasher.submit(hash_all, [body])
            fs.call_s3("put_object", Bucket=bucket, Key=key, Body=body, **options)
            hashed.result()
        else:
            upload_id = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key, **options)["UploadId"]
            try:
                parts: list[dict[str, Any]] = []
                while batch := [chunk for chunk in (handle.read(part) for _ in range(fs.max_concurrency)) if chunk]:
                    hashed = hasher.submit(hash_all, batch)
                    parts += sync(fs.loop, _artifact_send_parts, fs, bucket, key, upload_id, batch, done=len(parts))
                    hashed.result()
                multipart = {"Parts": parts}
                fs.call_s3(
                    "complete_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload=multipart
                )
            except BaseException:
                fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
                raise
    fs.invalidate_cache(uri)
    return digest.hexdigest(), size


def _artifact_upload_stream(fs: Any, local: Path, uri: str, options: dict[str, Any]) -> tuple[str, int]:
    """Upload one file to GCS (or another fsspec store) reading it once: each chunk read is hashed while sent.

    The requests are gcsfs's own: one upload with the metadata when the file is under one part (``pipe_file``),
    else a resumable upload of ``_ARTIFACT_PART`` chunks (a write-mode file) created with the metadata, and
    cancelled, storing nothing, when a chunk fails. The content type is the one ``put_file`` would give.
    """
    size = local.stat().st_size
    digest = hashlib.sha256()
    if uri.split("://", 1)[0] in ("gs", "gcs"):
        options = {**options, "content_type": mimetypes.guess_type(local.name)[0] or "application/octet-stream"}
    with local.open("rb") as handle, concurrent.futures.ThreadPoolExecutor(max_workers=1) as hasher:
        if size < _ARTIFACT_PART:
            body = handle.read()
            hashed = hasher.submit(digest.update, body)  # releases the GIL: the send goes on meanwhile
            fs.pipe_file(uri, body, **options)
            hashed.result()
        else:
            target = fs.open(uri, "wb", block_size=_ARTIFACT_PART, **options)
            try:
                while chunk := handle.read(_ARTIFACT_PART):
                    hashed = hasher.submit(digest.update, chunk)
                    target.write(chunk)  # a full part is sent now, the last at close
                    hashed.result()
                target.close()  # sends the last chunk, which completes the upload
            except BaseException:
                with contextlib.suppress(Exception):  # the step's error is the one to report
                    target.discard()  # cancels the resumable upload (unfinished, it stores nothing anyway)
                target.closed = True  # nothing may commit what was sent
                raise
    fs.invalidate_cache(uri)
    return digest.hexdigest(), size


def _artifact_upload(fs: Any, local: Path, uri: str, options: dict[str, Any]) -> tuple[str, int]:
    """Upload one file with its tags or metadata, reading it once; its sha256 and size, hashed while sent."""
    if hasattr(fs, "call_s3"):
        return _artifact_upload_s3(fs, local, uri, options)
    return _artifact_upload_stream(fs, local, uri, options)


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
