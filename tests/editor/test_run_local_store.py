"""The three runnable workloads run locally with real Airflow, their artifacts on a real store of each kind here.

Keyword, article and user targeting each run twice, with the pipeline's own artifact store as a local run
uses it by default (no ``DAGSMITH_LOCAL_STORE``): once with the artifact root on a shared local folder
(POSIX: the project's group and the access groups created by the test, root only), once on moto's
S3-compatible server on 127.0.0.1, one server for the module (endpoint and region in the pipeline settings'
artifact store, credentials through its secret reference, whose variables a local run reads from its
environment under the same names). Every stored output has its manifest, whose sha256 matches the stored
bytes, lies where its path template says, and has the access its settings say: POSIX group and mode bits
(and ACL entries), S3 tags.
"""

from __future__ import annotations

import fnmatch
import grp
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_run_local import ARTICLE, KEYWORD, TARGETING, environ, run, workspace  # noqa: F401 (fixtures)

from dagsmith.codegen.store_policy import outputs_of
from dagsmith.editor.runs import Workspace
from dagsmith.editor.runs.artifacts import RunStore, run_artifacts, stream
from dagsmith.nodes.fileformat import load, save

pytestmark = pytest.mark.slow

BUCKET = "dagsmith-local-store"
KEYS = {"AWS_ACCESS_KEY_ID": "local-testing", "AWS_SECRET_ACCESS_KEY": "local-testing-secret"}
OUTPUTS = {
    "keyword_recommendation": {("entities", "entities"), ("features", "features")},
    "article_recommendation": {("entities", "entities"), ("features", "features")},
    "user_targeting": {
        ("users", "labels"),
        ("users", "active"),
        ("train_features", "features"),
        ("predict", "predictions"),
    },
}
WORKLOADS = {"keyword": KEYWORD, "article": ARTICLE, "user_targeting": TARGETING}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _folder_hash(files: dict[str, bytes]) -> str:
    return _sha256("".join(f"{_sha256(data)}  {rel}\n" for rel, data in sorted(files.items())).encode())


def _patterns(path: Path) -> dict[tuple[str, str], str]:
    """(node, port) -> the output's key pattern under the root (run values as ``*``)."""
    return {(item.node.id, item.port): item.pattern for item in outputs_of(load(path))}


def _stored_outputs(path: Path) -> set[tuple[str, str]]:
    return {(item.node.id, item.port) for item in outputs_of(load(path))}


def _access_groups(path: Path) -> set[str]:
    return {group for item in outputs_of(load(path)) for group in item.access.groups}


@pytest.fixture
def groups() -> Iterator[dict[str, int]]:
    """OS groups made by the test: the project's and every access group of the workloads; removed after."""
    if os.geteuid() != 0 or not shutil.which("groupadd"):
        pytest.skip("creating OS groups for the project and access groups needs root and groupadd")
    tag = uuid.uuid4().hex[:6]
    named = sorted(set().union(*(_access_groups(path) for path in WORKLOADS.values())))
    names = {"project": f"dsproj{tag}", **{group: f"ds{index}g{tag}" for index, group in enumerate(named)}}
    made: list[str] = []
    try:
        for name in names.values():
            subprocess.run(["groupadd", name], check=True, capture_output=True)
            made.append(name)
        yield {role: grp.getgrnam(name).gr_gid for role, name in names.items()}
    finally:
        for name in made:
            subprocess.run(["groupdel", name], check=False, capture_output=True)


def _check_manifest(manifest: dict[str, Any], record: dict[str, Any], uri: str, files: dict[str, bytes]) -> None:
    run_id, access = record["airflow_run_id"], manifest["access"]
    assert manifest["dag_id"] == manifest["pipeline"] == record["dag_id"]
    assert manifest["run_id"] == run_id and manifest["uri"] == uri
    assert manifest["access"] == access
    assert manifest["size"] == sum(len(data) for data in files.values()) and manifest["files"] == len(files)
    if manifest["kind"] == "file":
        assert manifest["sha256"] == _sha256(files[""])
    else:
        assert manifest["sha256"] == _folder_hash(files)


def _copy(path: Path, tmp_path: Path, root: str, store: dict[str, Any]) -> tuple[Path, Any]:
    """A copy of the workload's folder whose pipeline stores its artifacts at ``root`` with ``store`` settings."""
    pipeline = load(path)
    pipeline.settings.artifact_root = root
    pipeline.settings.artifact_store = pipeline.settings.artifact_store.model_copy(update=store)
    copy = tmp_path / path.parent.name
    shutil.copytree(path.parent, copy, ignore=shutil.ignore_patterns("data", "mlruns", "__pycache__"))
    save(pipeline, copy / path.name)
    return copy / path.name, pipeline


@pytest.mark.parametrize("path", WORKLOADS.values(), ids=WORKLOADS.keys())
def test_a_workload_stores_its_outputs_on_a_shared_folder_with_group_and_mode_bits(
    workspace: Workspace,  # noqa: F811
    environ: dict[str, str],  # noqa: F811
    groups: dict[str, int],
    tmp_path: Path,
    path: Path,
) -> None:
    shared = Path(tempfile.mkdtemp(prefix="dagsmith-shared-"))
    try:
        shared.chmod(0o755)
        gids = {group: groups[group] for group in _access_groups(path)}
        store = {"workload_identity": False, "project_gid": groups["project"], "group_gids": gids}
        copy, pipeline = _copy(path, tmp_path, str(shared), store)
        handle, _ = run(copy, workspace, environ)  # the pipeline's store by default: this folder is here
        record = handle.record()
        assert record["state"] == "success", record.get("error")
        assert record["artifact_store"]["root"] == str(shared) and record["notices"] == []
        manifests = sorted(shared.rglob("*.manifest.json")) + sorted(shared.rglob("_dagsmith_manifest.json"))
        seen, patterns = set(), _patterns(path)
        for written in manifests:
            manifest = json.loads(written.read_text())
            seen.add((manifest["node"], manifest["port"]))
            stored = Path(manifest["uri"])
            assert stored.is_relative_to(shared) and manifest["written_at"]
            if stored.is_dir():
                files = {
                    item.relative_to(stored).as_posix(): item.read_bytes()
                    for item in stored.rglob("*")
                    if item.is_file() and item.name != "_dagsmith_manifest.json"
                }
            else:
                files = {"": stored.read_bytes()}
            _check_manifest(manifest, record, str(stored), files)
            pattern = patterns[manifest["node"], manifest["port"]]
            assert fnmatch.fnmatchcase(stored.relative_to(shared).as_posix(), pattern), (stored, pattern)
            for item in [stored, written, *(stored.rglob("*") if stored.is_dir() else [])]:
                mode = item.stat().st_mode
                assert item.stat().st_gid == groups["project"], item
                if manifest["access"]["level"] != "public":
                    assert mode & 0o007 == 0, (item, oct(mode))
                assert mode & (stat.S_ISGID if item.is_dir() else 0) == (stat.S_ISGID if item.is_dir() else 0)
            if manifest["access"]["level"] == "groups" and shutil.which("getfacl"):
                acl = subprocess.run(["getfacl", "-n", str(stored)], capture_output=True, text=True, check=True).stdout
                for role in manifest["access"]["groups"]:
                    assert f"group:{groups[role]}:r" in acl, acl
        assert seen == _stored_outputs(path) and seen >= OUTPUTS[pipeline.dag_id]
    finally:
        shutil.rmtree(shared)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[tuple[str, Any]]:
    """moto's S3-compatible server (threaded, on a free port of 127.0.0.1) and a boto3 client for it."""
    boto3 = pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        yield endpoint, client
    finally:
        server.stop()


@pytest.mark.parametrize("path", WORKLOADS.values(), ids=WORKLOADS.keys())
def test_a_workload_stores_its_outputs_on_an_s3_compatible_server_with_tags(
    workspace: Workspace,  # noqa: F811
    environ: dict[str, str],  # noqa: F811
    s3_server: tuple[str, Any],
    tmp_path: Path,
    *,
    monkeypatch: pytest.MonkeyPatch,
    path: Path,
) -> None:
    endpoint, client = s3_server
    prefix = path.parent.name  # each workload under its own prefix of the module's bucket
    store = {"workload_identity": False, "endpoint_url": endpoint, "region": "us-east-1", "credentials_secret": "s3"}
    copy, pipeline = _copy(path, tmp_path, f"s3://{BUCKET}/{prefix}", store)
    env = {key: value for key, value in environ.items() if not key.startswith("AWS_")}
    env.update(KEYS)  # the secret's variables, as a local step reads them; the pipeline's store by default
    handle, _ = run(copy, workspace, env)
    record = handle.record()
    assert record["state"] == "success", record.get("error")
    assert record["artifact_store"] == {
        "root": f"s3://{BUCKET}/{prefix}",
        "endpoint_url": endpoint,
        "region": "us-east-1",
    }
    assert record["notices"] == []
    assert not any(workspace.artifacts.rglob("*.manifest.json"))  # nothing went to the workspace instead
    listed_keys = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/")["Contents"]
    keys = sorted(entry["Key"] for entry in listed_keys)
    manifests = [key for key in keys if key.endswith((".manifest.json", "/_dagsmith_manifest.json"))]
    seen = set()
    for key in manifests:
        manifest = json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        seen.add((manifest["node"], manifest["port"]))
        stored = manifest["uri"].removeprefix(f"s3://{BUCKET}/")
        pattern = _patterns(path)[manifest["node"], manifest["port"]]
        assert fnmatch.fnmatchcase(stored, f"{prefix}/{pattern}"), (stored, pattern)  # the layout of the template
        if manifest["kind"] == "folder":
            members = [k for k in keys if k.startswith(stored + "/") and k != key]
            files = {k[len(stored) + 1 :]: client.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in members}
        else:
            members = [stored]
            files = {"": client.get_object(Bucket=BUCKET, Key=stored)["Body"].read()}
        _check_manifest(manifest, record, manifest["uri"], files)
        for member in [*members, key]:
            tags = {tag["Key"]: tag["Value"] for tag in client.get_object_tagging(Bucket=BUCKET, Key=member)["TagSet"]}
            assert tags == {
                "dagsmith-access": manifest["access"]["level"],
                "dagsmith-groups": ".".join(manifest["access"]["groups"]),
                "dagsmith-project": pipeline.settings.effective_project(),
                "dagsmith-pipeline": pipeline.dag_id,
            }, member
    assert seen == _stored_outputs(path) and seen >= OUTPUTS[pipeline.dag_id]
    # The Runs tab's list: the same artifacts from the run's store settings, each streamed as stored.
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    listed = run_artifacts(record)
    assert {(item.node, item.port) for item in listed} == seen
    first = next(item for item in listed if item.kind == "file")
    key = first.uri.removeprefix(f"s3://{BUCKET}/")
    assert b"".join(stream(RunStore.of(record), first)) == client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    run_key = record["airflow_run_id"].replace(":", "_").replace("+", "_").replace("~", "_")
    staged = Path("/tmp/dagsmith-staging") / run_key
    assert not staged.exists() or not any(item.is_file() for item in staged.rglob("*"))  # staged copies removed
