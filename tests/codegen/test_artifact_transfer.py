"""The artifact layer's S3 upload, in process against moto's S3-compatible server on 127.0.0.1.

An output file is read once: each chunk is hashed while it is sent (no second pass over the file for the
sha256), and its tags travel in the upload's own request (the PUT, or the multipart upload's creation).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagsmith_steps import artifact_transfer
from dagsmith_steps.artifact_store import artifact_filesystem, artifact_finish

BUCKET = "dagsmith-transfer"
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
_OPENED: list[str] = []
_WATCHING: list[str] = []  # the path whose opens are counted, while a test watches


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _WATCHING and str(args[0]) == _WATCHING[0]:
        _OPENED.append(str(args[1]))


sys.addaudithook(_audit)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[tuple[str, Any]]:
    """moto's server (threaded, a free port of 127.0.0.1) with the bucket, and a boto3 client."""
    boto3 = pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
        client = boto3.client("s3", endpoint_url=endpoint, **keys)
        client.create_bucket(Bucket=BUCKET)
        yield endpoint, client
    finally:
        server.stop()


def _env(endpoint: str, local: Path, uri: str, staging: Path) -> dict[str, str]:
    return {
        **KEYS,
        "DAGSMITH_ARTIFACT_ENDPOINT": endpoint,
        "DAGSMITH_STAGING": str(staging),
        "DAGSMITH_DAG_ID": "keywords",
        "DAGSMITH_PROJECT": "search",
        "DAGSMITH_RUN_ID": "manual__1",
        "DAGSMITH_OUTPUT_MODEL": str(local),
        "DAGSMITH_OUTPUT_MODEL_URI": uri,
        "DAGSMITH_OUTPUT_MODEL_ACCESS": json.dumps({"level": "groups", "groups": ["team"]}),
    }


@pytest.mark.parametrize(("size", "parts"), [(300_000, 0), (12 * 2**20 + 7, 3)], ids=["one-put", "multipart"])
def test_an_output_is_read_once_hashed_while_sent_and_tagged_in_the_same_request(
    s3_server: tuple[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, parts: int
) -> None:
    endpoint, client = s3_server
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(artifact_transfer, "_ARTIFACT_PART", 5 * 2**20)  # S3's smallest part: 3 parts here
    data = os.urandom(size)
    local = tmp_path / "model.bin"
    local.write_bytes(data)
    key = f"ml/keywords/{size}/model"
    env = _env(endpoint, local, f"s3://{BUCKET}/{key}", tmp_path / "elsewhere")
    monkeypatch.setattr(artifact_filesystem(env["DAGSMITH_OUTPUT_MODEL_URI"], env), "max_concurrency", 2)
    _OPENED.clear()
    _WATCHING[:] = [str(local)]
    try:
        artifact_finish(env)
    finally:
        _WATCHING.clear()
    assert len(_OPENED) == 1, f"the output was opened {len(_OPENED)} times ({_OPENED}); one read is enough"
    head = client.head_object(Bucket=BUCKET, Key=key)
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data
    assert head["ETag"].strip('"').endswith(f"-{parts}") if parts else "-" not in head["ETag"]
    tags = {tag["Key"]: tag["Value"] for tag in client.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}
    assert tags == {
        "dagsmith-access": "groups",
        "dagsmith-groups": "team",
        "dagsmith-project": "search",
        "dagsmith-pipeline": "keywords",
    }
    manifest = json.loads(client.get_object(Bucket=BUCKET, Key=key + ".manifest.json")["Body"].read())
    assert (manifest["sha256"], manifest["size"]) == (hashlib.sha256(data).hexdigest(), size)
    assert not client.list_multipart_uploads(Bucket=BUCKET).get("Uploads")  # none left open


def test_a_failed_part_aborts_the_multipart_upload(
    s3_server: tuple[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, client = s3_server
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(artifact_transfer, "_ARTIFACT_PART", 5 * 2**20)
    local = tmp_path / "model.bin"
    local.write_bytes(os.urandom(11 * 2**20))
    key = "ml/keywords/failed/model"
    env = _env(endpoint, local, f"s3://{BUCKET}/{key}", tmp_path / "elsewhere")

    async def refuse(*_: Any, **__: Any) -> list[dict[str, Any]]:
        raise OSError("connection reset while sending a part")

    monkeypatch.setattr(artifact_transfer, "_artifact_send_parts", refuse)
    with pytest.raises(OSError, match="connection reset"):
        artifact_finish(env)
    assert "Contents" not in client.list_objects_v2(Bucket=BUCKET, Prefix="ml/keywords/failed/")
    assert not client.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
