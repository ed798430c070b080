"""Artifact layer overhead per step: a 100 MB output stored through the layer vs a plain upload of the same file.

The layer's work is what ``artifact_finish`` does after a step: upload (multipart) with the object tags in the
same request, sha256 of the file, the manifest. The baseline uploads the same file with s3fs directly (the
same client the layer uses, ``put_file``); boto3's ``upload_file`` is printed for reference. The server is
moto's S3-compatible server in its own process on 127.0.0.1 (no real S3 server installs here). Target: the
layer takes at most 1.10 times the plain upload (medians, interleaved runs).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from dagsmith_steps.artifact_store import artifact_finish

SIZE = 100 * 2**20
REPEAT = 7
TARGET = 1.10
BUCKET = "dagsmith-bench"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_moto(port: int) -> subprocess.Popen[bytes]:
    """moto's server in its own process (so that it does not share this process's GIL); waits until it answers."""
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("moto's server did not start within 60 s")


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    """Print the medians and the layer's ratio to the plain upload."""
    import boto3
    import moto
    import s3fs

    os.environ.update(CREDENTIALS)
    port = free_port()
    server = start_moto(port)
    endpoint = f"http://127.0.0.1:{port}"
    print(f"server: moto {moto.__version__} (python -m moto.server) at {endpoint}; s3fs {s3fs.__version__}")
    try:
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket=BUCKET)
        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.bin"
            with path.open("wb") as handle:
                for _ in range(SIZE // 2**20):
                    handle.write(os.urandom(2**20))
            uri = f"s3://{BUCKET}/ml/keywords/run/train/model"
            env = {
                **os.environ,
                "DAGSMITH_ARTIFACT_ENDPOINT": endpoint,
                "DAGSMITH_STAGING": str(Path(tmp) / "elsewhere"),  # keep the file: the layer removes staged copies
                "DAGSMITH_DAG_ID": "keywords",
                "DAGSMITH_RUN_ID": "manual__bench",
                "DAGSMITH_OUTPUT_MODEL": str(path),
                "DAGSMITH_OUTPUT_MODEL_URI": uri,
                "DAGSMITH_OUTPUT_MODEL_ACCESS": '{"level": "groups", "groups": ["team"]}',
            }
            plain_runs: list[float] = []
            layer_runs: list[float] = []
            boto_runs: list[float] = []
            uploads: list[tuple[list[float], Callable[[], object]]] = [
                (plain_runs, lambda: fs.put_file(str(path), f"{BUCKET}/plain/model")),
                (layer_runs, lambda: artifact_finish(env)),
            ]
            for round_ in range(REPEAT + 1):  # the first round warms the page cache and the connections
                for runs, upload in uploads if round_ % 2 else uploads[::-1]:  # neither always follows the other
                    runs.append(timed(upload))
                boto_runs.append(timed(lambda: client.upload_file(str(path), BUCKET, "boto3/model")))
            plain = statistics.median(plain_runs[1:])
            layer = statistics.median(layer_runs[1:])
            boto = statistics.median(boto_runs[1:])
    finally:
        server.terminate()
        server.wait(timeout=30)
    mb = SIZE / 2**20
    print(f"{REPEAT} timed rounds after a warm-up round, the plain upload and the layer in alternating order")
    print(f"plain upload (s3fs put_file)      {mb:.0f} MB: median {plain:7.3f} s")
    print(f"artifact layer (upload, sha256, tags, manifest): median {layer:7.3f} s  overhead {layer - plain:+.3f} s")
    print(f"reference: boto3 upload_file      {mb:.0f} MB: median {boto:7.3f} s")
    ratio = layer / plain
    print(
        f"artifact layer / plain upload: ratio {ratio:.2f}  target {TARGET:.2f}  ratio to target {ratio / TARGET:.2f}"
    )


if __name__ == "__main__":
    main()
