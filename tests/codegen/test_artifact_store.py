"""The artifact layer as it runs: around a local step (the launcher) and around a pod's built-in step (the runtime).

POSIX access is proven with real OS users and groups (root only); S3 runs against moto's S3-compatible server
started on 127.0.0.1 (no real S3 server installs here).
"""

from __future__ import annotations

import ast
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagsmith_steps
import pytest

from dagsmith.codegen.compat import LOCAL_BASH
from dagsmith.codegen.steps import LOCAL_STEPS, STEPS, source

RUN = {
    "DAGSMITH_DAG_ID": "keywords",
    "DAGSMITH_PIPELINE": "keywords",
    "DAGSMITH_PROJECT": "search",
    "DAGSMITH_PIPELINE_VERSION": "3",
    "DAGSMITH_RUN_ID": "manual__2026-01-02T00:00:00+00:00",
    "DAGSMITH_NODE_ID": "train",
    "DAGSMITH_TASK_ID": "train",
}
WRITE_BOTH = (
    "import os, pathlib\n"
    "pathlib.Path(os.environ['DAGSMITH_OUTPUT_MODEL']).write_bytes(b'weights' * 1000)\n"
    "report = pathlib.Path(os.environ['DAGSMITH_OUTPUT_REPORT'])\n"
    "(report / 'sub').mkdir(parents=True)\n"
    "(report / 'a.txt').write_text('alpha')\n"
    "(report / 'sub' / 'b.txt').write_text('beta')\n"
)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DAGSMITH_", "AWS_"))}
    return {**env, **RUN, **extra}


def launch(argv: list[str], workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as a local run's task does: the launcher (with the artifact layer) starts it."""
    full = {**env, "DAGSMITH_LAUNCHER": source("local_launcher"), "DAGSMITH_PYTHON": sys.executable}
    full.update({f"DAGSMITH_ARG_{index}": item for index, item in enumerate(argv)}, DAGSMITH_ARGC=str(len(argv)))
    full["DAGSMITH_PROJECT_DIR"] = str(workdir)
    bash = shutil.which("bash") or "bash"  # absolute: a test may take setfacl off the PATH
    return subprocess.run([bash, "-c", LOCAL_BASH], env=full, capture_output=True, text=True, check=False)


def output(port: str, local: str, uri: str, access: dict[str, Any], mode: str = "path") -> dict[str, str]:
    """The contract's variables for one output."""
    name = "DAGSMITH_OUTPUT_" + port.upper()
    return {name: local, name + "_URI": uri, name + "_MODE": mode, name + "_ACCESS": json.dumps(access)}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_manifest(manifest: dict[str, Any], *, port: str, uri: str, access: dict[str, Any]) -> None:
    assert {key: manifest[key] for key in ("pipeline", "dag_id", "version", "run_id", "node", "task_id")} == {
        "pipeline": "keywords",
        "dag_id": "keywords",
        "version": 3,
        "run_id": RUN["DAGSMITH_RUN_ID"],
        "node": "train",
        "task_id": "train",
    }
    assert (manifest["port"], manifest["uri"], manifest["access"]) == (port, uri, access)
    written = datetime.datetime.fromisoformat(manifest["written_at"])
    assert written.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.UTC) - written).total_seconds()) < 600
    assert manifest["runtime_version"]


def folder_hash(files: dict[str, bytes]) -> str:
    """The documented folder hash: sha256 of the sorted ``sha256sum`` lines."""
    return sha256("".join(f"{sha256(data)}  {rel}\n" for rel, data in sorted(files.items())).encode())


# --- embedding --------------------------------------------------------------------------------------------------


LAYER_PARTS = ("artifact_manifest", "artifact_access", "artifact_transfer", "artifact_store")


def _embedded(text: str) -> str:
    """A module's text without its lines marked ``# dagsmith: not embedded`` (and a marked block's lines)."""
    kept, skipping = [], False
    for line in text.splitlines():
        if skipping:
            skipping = line.strip() != ")"
        elif line.rstrip().endswith("# dagsmith: not embedded"):
            skipping = line.split("#")[0].rstrip().endswith("(")
        else:
            kept.append(line)
    return "\n".join(kept)


def _top_names(text: str) -> set[str]:
    names: set[str] = set()
    for item in ast.parse(text).body:
        if isinstance(item, ast.FunctionDef | ast.ClassDef):
            names.add(item.name)
        elif isinstance(item, ast.Assign):
            names |= {target.id for target in item.targets if isinstance(target, ast.Name)}
    return names


def test_the_layer_is_embedded_without_clashing_names_and_every_step_runs_inside_it() -> None:
    parts = [Path(dagsmith_steps.__file__).with_name(part + ".py") for part in LAYER_PARTS]
    layer = set().union(*(_top_names(_embedded(part.read_text())) for part in parts))
    assert {"artifact_finish", "artifact_posix_access", "artifact_prepare", "artifact_manifest"} <= layer
    assert all(name.lstrip("_").lower().startswith("artifact") for name in layer)
    runtime_only = _top_names(source("runtime")) - layer
    assert "run_step" in runtime_only and layer <= _top_names(source("runtime"))
    assert layer <= _top_names(source("local_launcher"))
    for step in [*STEPS, *LOCAL_STEPS]:
        if step in ("local_launcher", "local_runtime"):
            continue
        assert not layer & _top_names(source(step)), step
        assert source(step).endswith('if __name__ == "__main__":\n    run_step(main)'), step


# --- POSIX ------------------------------------------------------------------------------------------------------


def test_posix_store_writes_manifests_and_a_missing_output_fails_naming_the_port(tmp_path: Path) -> None:
    root = tmp_path / "store"
    model, report = root / "keywords/run/train/model", root / "keywords/run/train/report"
    env = _clean_env(
        **output("model", str(model), str(model), {"level": "private", "groups": []}),
        **output("report", str(report), str(report), {"level": "public", "groups": []}),
    )
    done = launch(["python", "-c", WRITE_BOTH], tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads(Path(str(model) + ".manifest.json").read_text())
    check_manifest(manifest, port="model", uri=str(model), access={"level": "private", "groups": []})
    assert (manifest["sha256"], manifest["size"], manifest["files"]) == (sha256(b"weights" * 1000), 7000, 1)
    folder = json.loads((report / "_dagsmith_manifest.json").read_text())
    assert folder["sha256"] == folder_hash({"a.txt": b"alpha", "sub/b.txt": b"beta"})
    assert (folder["size"], folder["files"], folder["kind"]) == (9, 2, "folder")
    assert model.stat().st_mode & 0o7777 == 0o660
    assert (report / "sub").stat().st_mode & 0o7777 == 0o2775 and (report / "a.txt").stat().st_mode & 0o777 == 0o664

    shutil.rmtree(root)
    writes_one = "import os, pathlib; pathlib.Path(os.environ['DAGSMITH_OUTPUT_REPORT']).mkdir(parents=True)"
    done = launch(["python", "-c", writes_one], tmp_path, env)
    assert done.returncode == 1
    assert "did not write output 'model'" in done.stdout and "Nothing was stored" in done.stdout
    assert not (report / "_dagsmith_manifest.json").exists()


def test_an_output_no_step_reads_may_be_left_unwritten(tmp_path: Path) -> None:
    root = tmp_path / "store"
    model, report = root / "keywords/run/train/model", root / "keywords/run/train/report"
    env = _clean_env(
        **output("model", str(model), str(model), {"level": "private", "groups": []}),
        **output("report", str(report), str(report), {"level": "public", "groups": []}),
        DAGSMITH_OUTPUT_REPORT_OPTIONAL="1",  # what the DAG says of an output that no edge leads from
    )
    writes_model = "import os, pathlib; pathlib.Path(os.environ['DAGSMITH_OUTPUT_MODEL']).write_text('w')"
    done = launch(["python", "-c", writes_model], tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "output 'report' was not written; no step reads it" in done.stdout
    assert Path(str(model) + ".manifest.json").is_file()
    assert not report.exists()
    shutil.rmtree(root)
    done = launch(["python", "-c", "pass"], tmp_path, env)  # the output a step reads is still required
    assert done.returncode == 1 and "did not write output 'model'" in done.stdout


def test_a_failed_command_writes_no_manifest(tmp_path: Path) -> None:
    model = tmp_path / "store/model"
    env = _clean_env(**output("model", str(model), str(model), {"level": "private", "groups": []}))
    code = "import os, pathlib, sys; pathlib.Path(os.environ['DAGSMITH_OUTPUT_MODEL']).write_text('x'); sys.exit(3)"
    done = launch(["python", "-c", code], tmp_path, env)
    assert done.returncode == 3
    assert model.exists() and not Path(str(model) + ".manifest.json").exists()


def _pod_program(body: str) -> str:
    """A built-in step's program as a pod runs it: the runtime (with the layer), then the step's ``main``."""
    return source("runtime") + "\n\n\ndef main():\n" + body + "\n\n\nrun_step(main)\n"


@pytest.mark.parametrize(
    ("body", "launcher", "code", "stored"),
    [
        ("    open(output_path('model'), 'w').write('m')", "", 0, True),
        ("    open(output_path('model'), 'w').write('m')\n    sys.exit(0)", "", 0, True),
        ("    open(output_path('model'), 'w').write('m')\n    fail('bad data')", "", 1, False),
        ("    open(output_path('model'), 'w').write('m')\n    raise RuntimeError('boom')", "", 1, False),
        ("    open(output_path('model'), 'w').write('m')", "launcher", 0, False),  # the launcher stores it
        ("    pass", "", 1, False),
    ],
)
def test_the_pod_runtime_runs_the_layer_around_a_built_in_step(
    tmp_path: Path, body: str, launcher: str, code: int, stored: bool
) -> None:
    model = tmp_path / "model"
    env = _clean_env(**output("model", str(model), str(model), {"level": "private", "groups": []}))
    if launcher:
        env["DAGSMITH_ARTIFACT_LAYER"] = launcher
    done = subprocess.run(
        [sys.executable, "-c", _pod_program(body)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == code, done.stdout + done.stderr
    assert Path(str(model) + ".manifest.json").exists() == stored
    if body == "    pass":
        assert "did not write output 'model'" in done.stdout


def test_bad_access_settings_are_refused_naming_the_output(tmp_path: Path) -> None:
    model = tmp_path / "model"
    env = _clean_env(**output("model", str(model), str(model), {"level": "groups", "groups": ["no-such-group-x"]}))
    # A local run's workspace folder: no shared store, so no ids configured; the artifact is kept private.
    done = launch(["python", "-c", f"open({str(model)!r}, 'w').write('m')"], tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no POSIX group id for no-such-group-x here" in done.stdout
    assert model.stat().st_mode & 0o7777 == 0o660  # owner and its group only, nothing for others
    model.unlink()
    Path(str(model) + ".manifest.json").unlink()
    # A shared store configures its ids: a group missing from them is an error naming the output.
    env["DAGSMITH_POSIX_IDS"] = json.dumps({"project_gid": os.getgid(), "groups": {}})
    done = launch(["python", "-c", f"open({str(model)!r}, 'w').write('m')"], tmp_path, env)
    assert done.returncode == 1
    assert "output 'model': access group 'no-such-group-x' has no POSIX group id" in done.stdout
    env["DAGSMITH_OUTPUT_MODEL_ACCESS"] = '{"level": "everyone"}'
    done = launch(["python", "-c", f"open({str(model)!r}, 'w').write('m')"], tmp_path, env)
    assert "output 'model': DAGSMITH_OUTPUT_MODEL_ACCESS is" in done.stdout and done.returncode == 1


def _run(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True)


@pytest.fixture
def os_users() -> Iterator[dict[str, Any]]:
    """Two groups (the project's and a team) and two users: one in the team, one in neither; removed after."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("creating OS users and groups needs root and useradd")
    tag = uuid.uuid4().hex[:8]
    names = {"project": f"dsp{tag}", "team": f"dst{tag}", "member": f"dsm{tag}", "outsider": f"dso{tag}"}
    created: list[tuple[str, str]] = []
    try:
        for group in ("project", "team"):
            _run("groupadd", names[group])
            created.append(("groupdel", names[group]))
        for user, groups in (("member", names["team"]), ("outsider", "")):
            _run("useradd", "-M", "-N", "-s", "/bin/sh", *(["-G", groups] if groups else []), names[user])
            created.insert(0, ("userdel", names[user]))
        import grp

        yield {**names, "ids": {group: grp.getgrnam(names[group]).gr_gid for group in ("project", "team")}}
    finally:
        for command, name in created:
            subprocess.run([command, name], check=False, capture_output=True)


def _can_read(user: str, path: Path) -> bool:
    folder = ["ls", str(path)] if path.is_dir() else ["cat", str(path)]
    return subprocess.run(["runuser", "-u", user, "--", *folder], capture_output=True, check=False).returncode == 0


@pytest.mark.parametrize("acl", [True, False], ids=["acl", "mode-bits"])
def test_posix_access_is_enforced_for_real_users(os_users: dict[str, Any], acl: bool) -> None:
    if acl and not shutil.which("setfacl"):
        pytest.skip("setfacl is not installed (apt-get install acl)")
    root = Path(tempfile.mkdtemp(prefix="dagsmith-posix-"))
    try:
        root.chmod(0o755)  # readers must be able to walk to the artifacts
        ids = {"project_gid": os_users["ids"]["project"], "groups": {"team": os_users["ids"]["team"]}}
        paths = {level: root / "run" / "train" / level for level in ("private", "groups", "public")}
        env = _clean_env(DAGSMITH_POSIX_IDS=json.dumps(ids))
        for level, path in paths.items():
            access = {"level": level, "groups": ["team"] if level == "groups" else []}
            env.update(output(level, str(path), str(path), access))
        if not acl:
            env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not Path(p, "setfacl").exists())
        write = "import os, pathlib\nfor level in ('PRIVATE', 'GROUPS', 'PUBLIC'):\n"
        write += "    pathlib.Path(os.environ['DAGSMITH_OUTPUT_' + level]).write_text(level)\n"
        done = launch(["python", "-c", write], root, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert ("by ACL entries for groups team" in done.stdout) == acl
        member, outsider = os_users["member"], os_users["outsider"]
        assert not _can_read(outsider, paths["private"]) and not _can_read(member, paths["private"])
        assert _can_read(member, paths["groups"]) and not _can_read(outsider, paths["groups"])
        assert _can_read(outsider, paths["public"]) and _can_read(member, paths["public"])
        assert not _can_read(outsider, Path(str(paths["private"]) + ".manifest.json"))
        assert paths["private"].stat().st_gid == ids["project_gid"]
        assert paths["private"].stat().st_mode & 0o007 == 0
    finally:
        shutil.rmtree(root)


# --- S3 (moto's S3-compatible server on 127.0.0.1) ---------------------------------------------------------------

BUCKET = "dagsmith-artifacts"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
PREFIX = "ml/keywords/manual__2026-01-02T00_00_00_00_00/train"


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
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
        yield endpoint, boto3.client("s3", endpoint_url=endpoint, **keys)
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: tuple[str, Any]) -> tuple[str, Any]:
    """The server with an empty bucket."""
    endpoint, client = s3_server
    if BUCKET not in {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    for entry in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=entry["Key"])
    return endpoint, client


def _keys(client: Any) -> list[str]:
    return sorted(entry["Key"] for entry in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def _tags(client: Any, key: str) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in client.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


def _body(client: Any, key: str) -> bytes:
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_s3_outputs_are_uploaded_tagged_and_described_and_inputs_downloaded(
    s3: tuple[str, Any], tmp_path: Path
) -> None:
    endpoint, client = s3
    staging = tmp_path / "staging"
    uri = f"s3://{BUCKET}/{PREFIX}"
    team = {"level": "groups", "groups": ["team", "ops"]}
    private = {"level": "private", "groups": []}
    env = _clean_env(**CREDENTIALS, DAGSMITH_ARTIFACT_ENDPOINT=endpoint, DAGSMITH_STAGING=str(staging))
    env["DAGSMITH_ARTIFACT_ROOT"] = f"s3://{BUCKET}/ml"
    writer = {
        **env,
        **output("model", str(staging / "train/model"), uri + "/model", team),
        **output("report", str(staging / "train/report"), uri + "/report", private),
    }
    done = launch(["python", "-c", WRITE_BOTH], tmp_path, writer)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _keys(client) == [
        f"{PREFIX}/model",
        f"{PREFIX}/model.manifest.json",
        f"{PREFIX}/report/_dagsmith_manifest.json",
        f"{PREFIX}/report/a.txt",
        f"{PREFIX}/report/sub/b.txt",
    ]
    for key in _keys(client):
        tags = _tags(client, key)
        assert tags["dagsmith-access"] == ("groups" if "/model" in key else "private"), key
        assert tags["dagsmith-groups"] == ("team.ops" if "/model" in key else "")
        assert (tags["dagsmith-project"], tags["dagsmith-pipeline"]) == ("search", "keywords")
    manifest = json.loads(_body(client, f"{PREFIX}/model.manifest.json"))
    check_manifest(manifest, port="model", uri=uri + "/model", access=team)
    assert manifest["sha256"] == sha256(_body(client, f"{PREFIX}/model")) == sha256(b"weights" * 1000)
    assert (manifest["size"], manifest["files"], manifest["kind"]) == (7000, 1, "file")
    folder = json.loads(_body(client, f"{PREFIX}/report/_dagsmith_manifest.json"))
    check_manifest(folder, port="report", uri=uri + "/report", access=private)
    assert folder["sha256"] == folder_hash({"a.txt": b"alpha", "sub/b.txt": b"beta"})
    assert not (staging / "train/model").exists(), "the staging copy is removed once stored"

    # the next step: inputs downloaded (path mode); an output written by the step itself to its URI (uri mode)
    reader = {**env, "DAGSMITH_TASK_ID": "score", "DAGSMITH_NODE_ID": "score"}
    for port, local in (("MODEL", staging / "score/in/model"), ("REPORT", staging / "score/in/report")):
        reader |= {f"DAGSMITH_INPUT_{port}": str(local), f"DAGSMITH_INPUT_{port}_URI": f"{uri}/{port.lower()}"}
    scores_uri = f"s3://{BUCKET}/ml/keywords/run/score/scores"
    reader |= output("scores", scores_uri, scores_uri, {"level": "public", "groups": []}, mode="uri")
    read = (
        "import os, pathlib, s3fs\n"
        "model = pathlib.Path(os.environ['DAGSMITH_INPUT_MODEL']).read_bytes()\n"
        "report = pathlib.Path(os.environ['DAGSMITH_INPUT_REPORT'])\n"
        "text = (report / 'a.txt').read_text() + (report / 'sub' / 'b.txt').read_text()\n"
        "fs = s3fs.S3FileSystem(client_kwargs={'endpoint_url': os.environ['DAGSMITH_ARTIFACT_ENDPOINT']})\n"
        "fs.pipe_file(os.environ['DAGSMITH_OUTPUT_SCORES'], str(len(model)).encode() + text.encode())\n"
    )
    done = launch(["python", "-c", read], tmp_path, reader)
    assert done.returncode == 0, done.stdout + done.stderr
    scores_key = "ml/keywords/run/score/scores"
    assert _body(client, scores_key) == b"7000alphabeta"
    assert _tags(client, scores_key)["dagsmith-access"] == "public"
    manifest = json.loads(_body(client, scores_key + ".manifest.json"))
    assert manifest["sha256"] == sha256(b"7000alphabeta") and manifest["port"] == "scores"
    assert not (staging / "score/in/model").exists(), "downloaded inputs are removed after the step"


def test_s3_a_failed_step_uploads_nothing_and_a_missing_input_names_the_port(
    s3: tuple[str, Any], tmp_path: Path
) -> None:
    endpoint, client = s3
    staging = tmp_path / "staging"
    env = _clean_env(**CREDENTIALS, DAGSMITH_ARTIFACT_ENDPOINT=endpoint, DAGSMITH_STAGING=str(staging))
    env |= output("model", str(staging / "model"), f"s3://{BUCKET}/{PREFIX}/model", {"level": "public", "groups": []})
    env |= output(
        "report", str(staging / "report"), f"s3://{BUCKET}/{PREFIX}/report", {"level": "public", "groups": []}
    )
    done = launch(["python", "-c", WRITE_BOTH + "raise SystemExit(4)\n"], tmp_path, env)
    assert done.returncode == 4
    assert _keys(client) == []
    writes_report = WRITE_BOTH.replace(
        "pathlib.Path(os.environ['DAGSMITH_OUTPUT_MODEL']).write_bytes(b'weights' * 1000)", ""
    )
    done = launch(["python", "-c", writes_report], tmp_path, env)
    assert done.returncode == 1 and "did not write output 'model'" in done.stdout
    assert _keys(client) == []
    env["DAGSMITH_INPUT_DATA"] = str(staging / "data")
    env["DAGSMITH_INPUT_DATA_URI"] = f"s3://{BUCKET}/{PREFIX}/never-written"
    done = launch(["python", "-c", "print('ran')"], tmp_path, env)
    assert done.returncode == 1 and "input 'data': nothing is stored at" in done.stdout and "ran" not in done.stdout
