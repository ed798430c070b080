"""The artifact store of a pipeline: which kind (a shared POSIX volume, S3, GCS) and how pods reach it.

``settings.artifact_root`` names the store's root: an absolute path (a POSIX folder; on Kubernetes the
PersistentVolumeClaim ``artifact_store.pvc`` is mounted at that path in every step pod), ``s3://bucket/prefix``
(any S3-compatible server; ``endpoint_url`` for MinIO, Ceph or a test server) or ``gs://bucket/prefix``.
Credentials are Kubernetes secret references only: the secret's name and keys, never a value.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field

from .checks import Bounds, K8sName, LabelValue
from .common import Strict

StoreKind = Literal["posix", "s3", "gcs", "other"]

GID = Annotated[int, Bounds(ge=1, le=2**31 - 1)]

_SCHEMES: dict[str, StoreKind] = {"s3": "s3", "gs": "gcs"}


class ArtifactStore(Strict):
    """How every step pod reaches the store named by ``settings.artifact_root``, and who owns what in it."""

    pvc: K8sName | None = Field(
        None,
        description="POSIX root: PersistentVolumeClaim (ReadWriteMany) mounted at the root path in every step pod",
        examples=["ml-artifacts"],
    )
    endpoint_url: str | None = Field(
        None,
        description="S3-compatible endpoint (MinIO, Ceph, ...); empty: AWS S3",
        examples=["http://minio.storage.svc:9000"],
    )
    region: str | None = Field(None, description="S3 region (AWS_DEFAULT_REGION)", examples=["eu-west-1"])
    workload_identity: bool = Field(
        False,
        description="Object stores: pods get credentials from their service account (IRSA, GKE workload "
        "identity); no secret is referenced",
    )
    credentials_secret: K8sName | None = Field(
        None, description="Kubernetes secret holding the store credentials", examples=["ml-artifacts-s3"]
    )
    access_key_id_key: str = Field("access_key_id", min_length=1, description="S3: key of AWS_ACCESS_KEY_ID")
    secret_access_key_key: str = Field(
        "secret_access_key", min_length=1, description="S3: key of AWS_SECRET_ACCESS_KEY"
    )
    session_token_key: str | None = Field(None, description="S3: key of AWS_SESSION_TOKEN (optional)")
    key_file_key: str = Field(
        "key.json", min_length=1, description="GCS: key of the service account JSON key file in the secret"
    )
    project_gid: GID | None = Field(
        None, description="POSIX: numeric group id of the project; every artifact is owned by it", examples=[5000]
    )
    group_gids: dict[LabelValue, GID] = Field(
        default_factory=dict, description="POSIX: numeric group id per access group", examples=[{"analysts": 5001}]
    )

    def s3_secret_keys(self) -> dict[str, str]:
        """Environment variable -> key in ``credentials_secret`` for an S3 store."""
        keys = {"AWS_ACCESS_KEY_ID": self.access_key_id_key, "AWS_SECRET_ACCESS_KEY": self.secret_access_key_key}
        if self.session_token_key:
            keys["AWS_SESSION_TOKEN"] = self.session_token_key
        return keys


def store_kind(root: str) -> StoreKind:
    """The kind of store an artifact root names: ``posix`` for an absolute path, ``s3``, ``gcs`` or ``other``."""
    if root.startswith("/"):
        return "posix"
    scheme, sep, _ = root.partition("://")
    return _SCHEMES.get(scheme, "other") if sep else "other"


def split_bucket(root: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")`` (the prefix without slashes at its ends)."""
    rest = root.partition("://")[2]
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix.strip("/")


_S3_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_GCS_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_IP_RE = re.compile(r"\d+\.\d+\.\d+\.\d+")
_KEY_SEGMENT_RE = re.compile(r"[A-Za-z0-9_.=-]+")
_ENDPOINT_RE = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]*)?")


def bucket_problem(kind: StoreKind, bucket: str) -> str | None:
    """Why ``bucket`` is not a valid S3 or GCS bucket name, or None."""
    if kind == "s3":
        if not _S3_BUCKET_RE.fullmatch(bucket) or ".." in bucket or _IP_RE.fullmatch(bucket):
            return (
                f"{bucket!r} is not an S3 bucket name; use 3 to 63 lowercase letters, digits, '.' and '-', "
                "starting and ending with a letter or digit (e.g. 'ml-artifacts')"
            )
        if bucket.startswith(("xn--", "sthree-")) or bucket.endswith(("-s3alias", "--ol-s3")):
            return f"{bucket!r} uses a prefix or suffix that S3 reserves; choose another bucket name"
        return None
    parts = bucket.split(".")
    if (
        not _GCS_BUCKET_RE.fullmatch(bucket)
        or any(not part or len(part) > 63 for part in parts)
        or (len(bucket) > 63 and "." not in bucket)
        or _IP_RE.fullmatch(bucket)
    ):
        return (
            f"{bucket!r} is not a GCS bucket name; use 3 to 63 lowercase letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit (e.g. 'ml-artifacts')"
        )
    if bucket.startswith("goog") or "google" in bucket:
        return f"{bucket!r} starts with 'goog' or contains 'google', which GCS refuses; choose another name"
    return None


def root_problem(root: str) -> str | None:
    """Why ``root`` cannot be an artifact store root, or None (scheme, bucket and prefix checked)."""
    kind = store_kind(root)
    if kind == "other":
        return (
            f"{root!r} is not an artifact store dagsmith supports; write an absolute path on a shared volume "
            "('/mnt/artifacts'), 's3://bucket/prefix' or 'gs://bucket/prefix'"
        )
    if kind == "posix":
        segments = root.strip("/").split("/") if root.strip("/") else []
        bad = [s for s in segments if not _KEY_SEGMENT_RE.fullmatch(s) or s in (".", "..")]
        if "//" in root or bad:
            return (
                f"{root!r} is not a clean absolute path; use '/'-separated names of letters, digits, '_', '.', "
                "'=' and '-' (no '..', no empty segments), e.g. '/mnt/artifacts'"
            )
        return None
    bucket, prefix = split_bucket(root)
    problem = bucket_problem(kind, bucket)
    if problem:
        return problem
    rest = root.partition("://")[2].partition("/")[2].rstrip("/")
    segments = rest.split("/") if rest else []
    if any(not s or s in (".", "..") or not _KEY_SEGMENT_RE.fullmatch(s) for s in segments):
        return (
            f"the prefix {prefix!r} of {root!r} is not safe in object keys; use '/'-separated names of letters, "
            "digits, '_', '.', '=' and '-' (no '..', no empty segments)"
        )
    return None


def endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` is not an S3 endpoint URL dagsmith accepts, or None (no credentials in it)."""
    if "@" in endpoint:
        return "the endpoint URL holds credentials; remove 'user:password@' and name a secret in 'credentials_secret'"
    if not _ENDPOINT_RE.fullmatch(endpoint):
        return f"{endpoint!r} is not an endpoint URL; write e.g. 'http://minio.storage.svc:9000'"
    return None


def key_segment_safe(text: str) -> bool:
    """True when ``text`` is safe as one segment of an object key or path (the store's alphabet)."""
    return bool(_KEY_SEGMENT_RE.fullmatch(text)) and text not in (".", "..")
