"""A local run's stored artifacts: found by their manifests in the run's store, opened for download.

The run record says where the run stored its artifacts (``artifact_store``: root, S3 endpoint, region; a run
from before has them in the workspace's ``artifacts`` folder). Every output the artifact layer stored has a
manifest next to it (``<uri>.manifest.json``, or ``<uri>/_dagsmith_manifest.json`` for a folder) that names
the DAG and the run; those of this run are its artifacts. Object stores are read through fsspec (s3fs,
gcsfs) with the run's endpoint and the credentials of this process's environment (``AWS_*``,
``GOOGLE_APPLICATION_CREDENTIALS``), the same variables a local step reads.

Access: the local single-user editor serves its one user, who owns the workspace and the credentials, so
every artifact of the run is theirs to download. Team mode will check the artifact's ``access`` against the
user's groups here, before anything is read. Whatever the mode, only an artifact with a manifest, inside the
run's store root, is served.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_MANIFEST = ".manifest.json"
FOLDER_MANIFEST = "_dagsmith_manifest.json"
CHUNK = 1 << 20


class ArtifactAccessError(ValueError):
    """An artifact that cannot be listed or downloaded; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class RunStore:
    """Where a run stored its artifacts: the root, and for S3-compatible servers the endpoint and region."""

    root: str
    endpoint_url: str | None = None
    region: str | None = None

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> RunStore:
        """The store of a run record (the workspace's ``artifacts`` folder for runs recorded before stores)."""
        store = record.get("artifact_store")
        if isinstance(store, dict) and store.get("root"):
            return cls(str(store["root"]), store.get("endpoint_url") or None, store.get("region") or None)
        return cls(str(Path(str(record.get("workspace") or ".")) / "artifacts"))

    @property
    def remote(self) -> bool:
        """True for an object store (``s3://``, ``gs://``)."""
        return "://" in self.root and not self.root.startswith("file://")

    def filesystem(self) -> Any:
        """The fsspec filesystem of the store (the endpoint and region from the run; credentials from here)."""
        import fsspec

        protocol = self.root.split("://", 1)[0] if self.remote else "file"
        options: dict[str, Any] = {}
        if protocol in ("s3", "s3a"):
            client: dict[str, Any] = {}
            if self.endpoint_url:
                client["endpoint_url"] = self.endpoint_url
            if self.region:
                client["region_name"] = self.region
            options["client_kwargs"] = client
        try:
            return fsspec.filesystem(protocol, **options)
        except ImportError as exc:
            package = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs"}.get(protocol, "its fsspec package")
            raise ArtifactAccessError(f"reading {self.root} needs {package} (pip install {package}): {exc}") from None

    def inside(self, uri: str) -> bool:
        """True when ``uri`` lies below the root (no '..' leaves it; a path is resolved)."""
        if self.remote:
            root = self.root.rstrip("/") + "/"
            return uri.startswith(root) and ".." not in uri[len(root) :].split("/")
        path, root_path = Path(uri).resolve(), Path(self.root).resolve()
        return path != root_path and path.is_relative_to(root_path)


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    """One stored output of a run, as its manifest describes it."""

    node: str
    port: str
    uri: str
    kind: str
    size: int
    files: int
    sha256: str
    access: dict[str, Any]
    written_at: str
    manifest: str

    @property
    def access_text(self) -> str:
        """``private``, ``public`` or ``groups: a, b``."""
        groups = self.access.get("groups") or []
        return str(self.access.get("level")) + (": " + ", ".join(groups) if groups else "")

    @property
    def filename(self) -> str:
        """The name a download gets (a folder's is a zip)."""
        name = self.uri.rstrip("/").rsplit("/", 1)[-1] or self.port
        return name + ".zip" if self.kind == "folder" else name


def _manifest_path(name: str) -> bool:
    return name.endswith(FILE_MANIFEST) or name.rsplit("/", 1)[-1] == FOLDER_MANIFEST


def run_artifacts(record: Mapping[str, Any], store: RunStore | None = None) -> list[StoredArtifact]:
    """The artifacts the run stored (its manifests name its DAG and Airflow run), sorted by node and port."""
    store = store or RunStore.of(record)
    run_id, dag_id = record.get("airflow_run_id"), record.get("dag_id")
    if not run_id:
        return []  # the run has not started in Airflow: nothing stored yet
    fs = store.filesystem()
    root = store.root.rstrip("/")
    if not fs.exists(root):
        return []
    found = []
    for name in sorted(fs.find(root)):
        if not _manifest_path(name):
            continue
        location = store.root.split("://", 1)[0] + "://" + name if store.remote else name
        try:
            with fs.open(name, "rb") as handle:
                manifest = json.loads(handle.read(1 << 20))
        except (OSError, ValueError):
            continue  # unreadable or not a manifest: not listed (and so not downloadable)
        if not isinstance(manifest, dict) or manifest.get("run_id") != run_id or manifest.get("dag_id") != dag_id:
            continue
        uri = str(manifest.get("uri") or "")
        expected = uri.rstrip("/") + ("/" + FOLDER_MANIFEST if manifest.get("kind") == "folder" else FILE_MANIFEST)
        if expected != location or not store.inside(uri):
            continue  # a manifest that describes something elsewhere is not trusted
        found.append(
            StoredArtifact(
                node=str(manifest.get("node") or ""),
                port=str(manifest.get("port") or ""),
                uri=uri,
                kind=str(manifest.get("kind") or "file"),
                size=int(manifest.get("size") or 0),
                files=int(manifest.get("files") or 0),
                sha256=str(manifest.get("sha256") or ""),
                access=dict(manifest.get("access") or {}),
                written_at=str(manifest.get("written_at") or ""),
                manifest=location,
            )
        )
    return sorted(found, key=lambda item: (item.node, item.port, item.uri))


def check_download(store: RunStore, artifact: StoredArtifact) -> None:
    """Refuse what is outside the store root or has no manifest (any more); team mode adds the access check."""
    if not store.inside(artifact.uri):
        raise ArtifactAccessError(f"{artifact.uri} is outside the run's artifact store {store.root}; not downloaded")
    fs = store.filesystem()
    if not fs.exists(artifact.manifest) or not fs.exists(artifact.uri):
        raise ArtifactAccessError(
            f"output {artifact.port!r} of node {artifact.node!r}: {artifact.uri} or its manifest is no longer "
            "in the store; refresh the run's artifacts"
        )


def stream(store: RunStore, artifact: StoredArtifact) -> Iterator[bytes]:
    """The artifact's bytes in chunks: a file as it is stored, a folder as a zip of its files."""
    fs = store.filesystem()
    if artifact.kind != "folder":
        with fs.open(artifact.uri, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
        return
    base = artifact.uri.rstrip("/")
    buffer = _Pipe()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(fs.find(base)):
            full = store.root.split("://", 1)[0] + "://" + name if store.remote else name
            relative = full[len(base) + 1 :]
            if relative == FOLDER_MANIFEST:
                continue
            with fs.open(full, "rb") as source, archive.open(relative, "w", force_zip64=True) as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    yield buffer.take()
    yield buffer.take()


class _Pipe(io.RawIOBase):
    """An unseekable sink zipfile writes to; ``take`` hands over what was written since the last call."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data
