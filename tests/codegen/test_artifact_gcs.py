"""The artifact layer on Google Cloud Storage, for real: gcsfs against a GCS emulator started on 127.0.0.1.

The emulator is ``gcp-storage-emulator`` (pure Python, the test extra), in memory, in its own process; the
steps reach it through ``STORAGE_EMULATOR_HOST``, which gcsfs honours, and the test reads what is stored
through the emulator's JSON API (objects, their metadata and bytes) with no GCS client of its own. Outputs are uploaded
with their metadata (GCS has no object tags) in the upload request, each with a manifest beside it; inputs
are downloaded for the next step; a uri-mode output written by the step itself gets its metadata afterwards.
An output file is read once, hashed while it is sent (in this process, its opens counted): one upload
under a part, else a resumable upload that a failed chunk leaves uncommitted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_artifact_store import WRITE_BOTH, _clean_env, check_manifest, folder_hash, launch, output, sha256

BUCKET = "dagsmith-gcs"
PREFIX = "ml/keywords/manual__2026-01-02T00_00_00_00_00/train"


@pytest.fixture(scope="module")
def gcs() -> Iterator[str]:
    """The emulator's endpoint (in memory, a free port of 127.0.0.1, the bucket made); stopped after."""
    pytest.importorskip("gcp_storage_emulator")
    pytest.importorskip("gcsfs")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--in-memory", "--default-bucket", BUCKET, "--quiet"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _api(endpoint, f"/storage/v1/b/{BUCKET}")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("the GCS emulator did not answer within 60 s")
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


def _api(endpoint: str, path: str) -> bytes:
    with urllib.request.urlopen(endpoint + path, timeout=30) as answer:
        return bytes(answer.read())


def _object(endpoint: str, key: str) -> dict[str, Any]:
    return dict(json.loads(_api(endpoint, f"/storage/v1/b/{BUCKET}/o/{urllib.parse.quote(key, safe='')}")))


def _metadata(endpoint: str, key: str) -> dict[str, str]:
    return dict(_object(endpoint, key).get("metadata") or {})


def _body(endpoint: str, key: str) -> bytes:
    return _api(endpoint, f"/storage/v1/b/{BUCKET}/o/{urllib.parse.quote(key, safe='')}?alt=media")


def _keys(endpoint: str, prefix: str) -> list[str]:
    listing = json.loads(_api(endpoint, f"/storage/v1/b/{BUCKET}/o?prefix={urllib.parse.quote(prefix)}"))
    return sorted(item["name"] for item in listing.get("items", []))


def test_gcs_outputs_are_uploaded_with_metadata_and_manifests_and_inputs_downloaded(gcs: str, tmp_path: Path) -> None:
    endpoint = gcs
    staging = tmp_path / "staging"
    uri = f"gs://{BUCKET}/{PREFIX}"
    team = {"level": "groups", "groups": ["team", "ops"]}
    private = {"level": "private", "groups": []}
    env = _clean_env(STORAGE_EMULATOR_HOST=endpoint, DAGSMITH_STAGING=str(staging))
    env["DAGSMITH_ARTIFACT_ROOT"] = f"gs://{BUCKET}/ml"
    writer = {
        **env,
        **output("model", str(staging / "train/model"), uri + "/model", team),
        **output("report", str(staging / "train/report"), uri + "/report", private),
    }
    done = launch(["python", "-c", WRITE_BOTH], tmp_path, writer)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _keys(endpoint, PREFIX) == [
        f"{PREFIX}/model",
        f"{PREFIX}/model.manifest.json",
        f"{PREFIX}/report/_dagsmith_manifest.json",
        f"{PREFIX}/report/a.txt",
        f"{PREFIX}/report/sub/b.txt",
    ]
    for key in _keys(endpoint, PREFIX):
        assert _metadata(endpoint, key) == {
            "dagsmith-access": "groups" if "/model" in key else "private",
            "dagsmith-groups": "team.ops" if "/model" in key else "",
            "dagsmith-project": "search",
            "dagsmith-pipeline": "keywords",
        }, key
    manifest = json.loads(_body(endpoint, f"{PREFIX}/model.manifest.json"))
    check_manifest(manifest, port="model", uri=uri + "/model", access=team)
    assert manifest["sha256"] == sha256(_body(endpoint, f"{PREFIX}/model")) == sha256(b"weights" * 1000)
    assert (manifest["size"], manifest["files"], manifest["kind"]) == (7000, 1, "file")
    folder = json.loads(_body(endpoint, f"{PREFIX}/report/_dagsmith_manifest.json"))
    check_manifest(folder, port="report", uri=uri + "/report", access=private)
    assert folder["sha256"] == folder_hash({"a.txt": b"alpha", "sub/b.txt": b"beta"})
    assert (folder["size"], folder["files"]) == (9, 2)
    assert not (staging / "train/model").exists(), "the staging copy is removed once stored"

    # the next step: inputs downloaded (path mode); an output the step writes to its URI itself (uri mode)
    reader = {**env, "DAGSMITH_TASK_ID": "score", "DAGSMITH_NODE_ID": "score"}
    for port, local in (("MODEL", staging / "score/in/model"), ("REPORT", staging / "score/in/report")):
        reader |= {f"DAGSMITH_INPUT_{port}": str(local), f"DAGSMITH_INPUT_{port}_URI": f"{uri}/{port.lower()}"}
    scores_uri = f"gs://{BUCKET}/ml/keywords/run/score/scores"
    reader |= output("scores", scores_uri, scores_uri, {"level": "public", "groups": []}, mode="uri")
    read = (
        "import os, pathlib, fsspec\n"
        "model = pathlib.Path(os.environ['DAGSMITH_INPUT_MODEL']).read_bytes()\n"
        "report = pathlib.Path(os.environ['DAGSMITH_INPUT_REPORT'])\n"
        "text = (report / 'a.txt').read_text() + (report / 'sub' / 'b.txt').read_text()\n"
        "fs = fsspec.filesystem('gs')  # the emulator, from STORAGE_EMULATOR_HOST\n"
        "fs.pipe_file(os.environ['DAGSMITH_OUTPUT_SCORES'], str(len(model)).encode() + text.encode())\n"
    )
    done = launch(["python", "-c", read], tmp_path, reader)
    assert done.returncode == 0, done.stdout + done.stderr
    scores_key = "ml/keywords/run/score/scores"
    assert _body(endpoint, scores_key) == b"7000alphabeta"
    assert _metadata(endpoint, scores_key)["dagsmith-access"] == "public"
    manifest = json.loads(_body(endpoint, scores_key + ".manifest.json"))
    assert manifest["sha256"] == sha256(b"7000alphabeta") and manifest["port"] == "scores"
    assert _metadata(endpoint, scores_key + ".manifest.json")["dagsmith-access"] == "public"
    assert not (staging / "score/in/model").exists(), "downloaded inputs are removed after the step"


def test_gcs_a_missing_input_names_the_port_and_a_failed_step_stores_nothing(gcs: str, tmp_path: Path) -> None:
    endpoint = gcs
    env = _clean_env(STORAGE_EMULATOR_HOST=endpoint, DAGSMITH_STAGING=str(tmp_path / "staging"))
    missing = f"gs://{BUCKET}/ml/none/model"
    reader = {**env, "DAGSMITH_INPUT_MODEL": str(tmp_path / "staging/in"), "DAGSMITH_INPUT_MODEL_URI": missing}
    done = launch(["python", "-c", "pass"], tmp_path, reader)
    assert done.returncode == 1 and f"input 'model': nothing is stored at {missing}" in done.stdout
    failing = {**env, **output("model", str(tmp_path / "staging/m"), f"gs://{BUCKET}/ml/failed/model", {})}
    code = "import os, pathlib, sys; pathlib.Path(os.environ['DAGSMITH_OUTPUT_MODEL']).write_text('x'); sys.exit(4)"
    done = launch(["python", "-c", code], tmp_path, failing)
    assert done.returncode == 4
    assert _keys(endpoint, "ml/failed/") == []


_OPENED: list[str] = []
_WATCHING: list[str] = []  # the path whose opens are counted, while a test watches


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _WATCHING and str(args[0]) == _WATCHING[0]:
        _OPENED.append(str(args[1]))


sys.addaudithook(_audit)


@pytest.fixture
def in_process(gcs: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The emulator for gcsfs in this process (no cached filesystem aimed elsewhere), 256 KiB parts."""
    import gcsfs
    from dagsmith_steps import artifact_transfer

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs)
    monkeypatch.setattr(artifact_transfer, "_ARTIFACT_PART", 2**18)  # GCS's smallest chunk: resumable above it
    gcsfs.GCSFileSystem.clear_instance_cache()
    yield gcs
    gcsfs.GCSFileSystem.clear_instance_cache()


def _finish_env(local: Path, uri: str, staging: Path) -> dict[str, str]:
    team = {"level": "groups", "groups": ["team"]}
    return _clean_env(DAGSMITH_STAGING=str(staging)) | output("model", str(local), uri, team)


@pytest.mark.parametrize("size", [100_000, 3 * 2**18 + 7, 4 * 2**18], ids=["one-upload", "resumable", "whole-parts"])
def test_gcs_an_output_is_read_once_hashed_while_sent_with_its_metadata(
    in_process: str, tmp_path: Path, size: int
) -> None:
    from dagsmith_steps.artifact_store import artifact_finish

    endpoint = in_process
    data = os.urandom(size)
    local = tmp_path / "model.json"
    local.write_bytes(data)
    key = f"ml/keywords/once/{size}/model"
    _OPENED.clear()
    _WATCHING[:] = [str(local)]
    try:
        artifact_finish(_finish_env(local, f"gs://{BUCKET}/{key}", tmp_path / "elsewhere"))
    finally:
        _WATCHING.clear()
    assert len(_OPENED) == 1, f"the output was opened {len(_OPENED)} times ({_OPENED}); one read is enough"
    assert _body(endpoint, key) == data
    stored = _object(endpoint, key)
    assert stored["contentType"] == "application/json"  # the type put_file would have given it
    assert stored["metadata"] == {
        "dagsmith-access": "groups",
        "dagsmith-groups": "team",
        "dagsmith-project": "search",
        "dagsmith-pipeline": "keywords",
    }
    manifest = json.loads(_body(endpoint, key + ".manifest.json"))
    assert (manifest["sha256"], manifest["size"]) == (sha256(data), size)


def test_gcs_a_failed_chunk_stores_nothing_even_when_the_file_is_closed_later(
    in_process: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gcsfs
    from dagsmith_steps.artifact_store import artifact_finish

    local = tmp_path / "model.bin"
    local.write_bytes(os.urandom(5 * 2**18))
    uploads: list[Any] = []  # the write-mode files that began a resumable upload
    sent: list[int] = []
    begin, send = gcsfs.core.GCSFile._initiate_upload, gcsfs.core.GCSFile._upload_chunk

    def record(self: Any) -> None:
        uploads.append(self)
        begin(self)

    def fail_second(self: Any, final: bool = False) -> Any:
        sent.append(len(sent))
        if len(sent) == 2:  # once: a later close could still send and commit
            raise OSError("connection reset while sending a chunk")
        return send(self, final)

    monkeypatch.setattr(gcsfs.core.GCSFile, "_initiate_upload", record)
    monkeypatch.setattr(gcsfs.core.GCSFile, "_upload_chunk", fail_second)
    key = "ml/keywords/failed-chunk/model"
    with pytest.raises(OSError, match="connection reset"):
        artifact_finish(_finish_env(local, f"gs://{BUCKET}/{key}", tmp_path / "elsewhere"))
    assert len(uploads) == 1 and len(sent) == 2, "one resumable upload; its first chunk sent, the second failed"
    uploads[0].close()  # as a finalizer would: it must not complete the upload with what was sent
    assert _keys(in_process, "ml/keywords/failed-chunk/") == []
