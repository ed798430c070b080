"""The user's own step as its pod runs it: ``python -c DAGSMITH_STEPS_BOOT exec -- COMMAND`` (issue 10).

The exact command the DAG gives a ``script`` pod, against a real folder store and moto's S3-compatible server
on 127.0.0.1 (the fixture of ``test_artifact_store``): inputs downloaded before the command, outputs uploaded
with their manifests and tags after it, its exit status propagated, SIGTERM passed on to it, a missing output
or a missing runtime named clearly. The local target's form (the launcher around the embedded step) too.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import test_artifact_store
from test_artifact_store import (
    BUCKET,
    CREDENTIALS,
    PREFIX,
    WRITE_BOTH,
    _body,
    _clean_env,
    _keys,
    _pod_program,
    _tags,
    check_manifest,
    folder_hash,
    launch,
    output,
    sha256,
)

from dagsmith.codegen.builders import USER_IMAGE_BOOT
from dagsmith.codegen.steps import RUNTIME_VERSION, source

PRIVATE = {"level": "private", "groups": []}

s3_server = test_artifact_store.s3_server  # moto's server on 127.0.0.1, started once for this module
s3 = test_artifact_store.s3  # that server with an empty bucket


def pod_command(*command: str) -> list[str]:
    """What a script pod's container runs (the DAG's cmds and arguments), with this interpreter as ``python``."""
    return [sys.executable, "-c", USER_IMAGE_BOOT, "exec", "--", *command]


def run_pod(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)


def test_a_script_on_a_folder_store_gets_its_outputs_stored_with_manifests(tmp_path: Path) -> None:
    store = tmp_path / "store"
    model, report = store / "run/train/model", store / "run/train/report"
    env = _clean_env(DAGSMITH_ARTIFACT_ROOT=str(store), DAGSMITH_RUNTIME_VERSION=RUNTIME_VERSION)
    env |= output("model", str(model), str(model), PRIVATE) | output("report", str(report), str(report), PRIVATE)
    done = run_pod(pod_command("python", "-c", WRITE_BOTH), env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads(Path(str(model) + ".manifest.json").read_text())
    check_manifest(manifest, port="model", uri=str(model), access=PRIVATE)
    assert manifest["sha256"] == sha256(b"weights" * 1000) and manifest["size"] == 7000
    folder = json.loads((report / "_dagsmith_manifest.json").read_text())
    assert folder["sha256"] == folder_hash({"a.txt": b"alpha", "sub/b.txt": b"beta"})
    assert model.stat().st_mode & 0o007 == 0  # private: nothing for others
    assert "[dagsmith] stored output 'model'" in done.stdout


def test_a_failing_script_stores_nothing_and_its_exit_status_is_the_tasks(tmp_path: Path) -> None:
    model = tmp_path / "store/model"
    env = _clean_env(**output("model", str(model), str(model), PRIVATE))
    write_then_fail = "import os, pathlib, sys; pathlib.Path(os.environ['DAGSMITH_OUTPUT_MODEL']).write_text('x'); "
    done = run_pod(pod_command("python", "-c", write_then_fail + "sys.exit(5)"), env, tmp_path)
    assert done.returncode == 5
    assert model.exists() and not Path(str(model) + ".manifest.json").exists()
    assert "exited with status 5" in done.stdout


def test_a_missing_output_names_the_node_and_the_port(tmp_path: Path) -> None:
    model = tmp_path / "store/model"
    env = _clean_env(**output("model", str(model), str(model), PRIVATE))
    done = run_pod(pod_command("python", "-c", "print('trained')"), env, tmp_path)
    assert done.returncode == 1
    assert "trained" in done.stdout  # the command's own output reaches the log
    assert "error: node 'train': the step did not write output 'model'" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_an_image_without_the_runtime_says_what_to_install(tmp_path: Path) -> None:
    # -S: no site-packages, so no dagsmith_steps: the user's image without the runtime
    command = [sys.executable, "-S", *pod_command("python", "-c", "print('ran')")[1:]]
    done = run_pod(command, _clean_env(), tmp_path)
    assert done.returncode == 1 and "ran" not in done.stdout
    assert "this image has no dagsmith step runtime" in done.stderr
    assert f"pip install 'dagsmith-steps=={RUNTIME_VERSION}'" in done.stderr
    assert "Traceback" not in done.stderr


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    """Until the child wrote ``path`` (it installed its handler) or the step ended."""
    while not path.exists() and process.poll() is None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)


def test_sigterm_reaches_the_users_command_and_nothing_is_stored(tmp_path: Path) -> None:
    model, ready, caught = tmp_path / "store/model", tmp_path / "ready", tmp_path / "caught"
    env = _clean_env(**output("model", str(model), str(model), PRIVATE))
    child = (
        "import os, pathlib, signal, sys, time\n"
        "def stop(signum, frame):\n"
        f"    pathlib.Path({str(caught)!r}).write_text(signal.Signals(signum).name)\n"
        "    sys.exit(7)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "pathlib.Path(os.environ['DAGSMITH_OUTPUT_MODEL']).write_text('partial')\n"
        f"pathlib.Path({str(ready)!r}).write_text('1')\n"
        "while True:\n"
        "    time.sleep(1)\n"
    )
    process = subprocess.Popen(pod_command("python", "-c", child), env=env, cwd=tmp_path, text=True)
    try:
        _wait_for(ready, process)
        assert process.poll() is None, "the step ended before the signal"
        process.send_signal(signal.SIGTERM)  # what the kubelet sends the container's first process
        code = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert caught.read_text() == "SIGTERM"
    assert code == 7  # the command's own status on the signal
    assert not Path(str(model) + ".manifest.json").exists()


def test_a_command_killed_by_a_signal_ends_the_step_with_128_plus_its_number(tmp_path: Path) -> None:
    done = run_pod(
        pod_command("python", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"), _clean_env(), tmp_path
    )
    assert done.returncode == 128 + signal.SIGTERM


def test_a_script_on_s3_gets_its_inputs_downloaded_and_its_outputs_uploaded_and_tagged(
    s3: tuple[str, Any], tmp_path: Path
) -> None:
    endpoint, client = s3
    staging = tmp_path / "staging"
    uri = f"s3://{BUCKET}/{PREFIX}"
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/features", Body=b"f1,f2\n1,2\n")
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/vocab/words.txt", Body=b"alpha beta")
    env = _clean_env(**CREDENTIALS, DAGSMITH_ARTIFACT_ENDPOINT=endpoint, DAGSMITH_STAGING=str(staging))
    env |= {"DAGSMITH_ARTIFACT_ROOT": f"s3://{BUCKET}/ml", "DAGSMITH_RUNTIME_VERSION": RUNTIME_VERSION}
    for port in ("features", "vocab"):
        name = "DAGSMITH_INPUT_" + port.upper()
        env |= {name: str(staging / "train/inputs" / port), name + "_URI": f"{uri}/{port}"}
    team = {"level": "groups", "groups": ["team"]}
    env |= output("model", str(staging / "train/outputs/model"), uri + "/model", team)
    script = tmp_path / "train.py"
    script.write_text(
        "import os, pathlib, sys\n"
        "features = pathlib.Path(os.environ['DAGSMITH_INPUT_FEATURES']).read_bytes()\n"
        "words = (pathlib.Path(os.environ['DAGSMITH_INPUT_VOCAB']) / 'words.txt').read_text()\n"
        "out = pathlib.Path(os.environ['DAGSMITH_OUTPUT_MODEL'])\n"
        "out.write_bytes(features + words.encode() + ' '.join(sys.argv[1:]).encode())\n"
    )
    done = run_pod(pod_command("python", "train.py", "--epochs", "3"), env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    stored = b"f1,f2\n1,2\nalpha beta--epochs 3"
    assert _body(client, f"{PREFIX}/model") == stored
    assert _tags(client, f"{PREFIX}/model") == {
        "dagsmith-access": "groups",
        "dagsmith-groups": "team",
        "dagsmith-project": "search",
        "dagsmith-pipeline": "keywords",
    }
    manifest = json.loads(_body(client, f"{PREFIX}/model.manifest.json"))
    check_manifest(manifest, port="model", uri=uri + "/model", access=team)
    assert manifest["sha256"] == sha256(stored)
    assert _tags(client, f"{PREFIX}/model.manifest.json")["dagsmith-access"] == "groups"
    for staged in ("inputs/features", "inputs/vocab", "outputs/model"):
        assert not (staging / "train" / staged).exists(), f"the staged copy {staged} is removed after the step"

    # A failing command uploads nothing, and its status is the task's.
    client.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/model")
    client.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/model.manifest.json")
    script.write_text(script.read_text() + "sys.exit(4)\n")
    done = run_pod(pod_command("python", "train.py"), env, tmp_path)
    assert done.returncode == 4
    assert _keys(client) == [f"{PREFIX}/features", f"{PREFIX}/vocab/words.txt"]


def test_the_local_target_runs_the_same_step_inside_the_launchers_layer(s3: tuple[str, Any], tmp_path: Path) -> None:
    """A local run's task: the launcher (layer around) starts the embedded exec step (layer not run twice)."""
    endpoint, client = s3
    staging = tmp_path / "staging"
    env = _clean_env(**CREDENTIALS, DAGSMITH_ARTIFACT_ENDPOINT=endpoint, DAGSMITH_STAGING=str(staging))
    env |= output("model", str(staging / "model"), f"s3://{BUCKET}/{PREFIX}/model", PRIVATE)
    env |= output("report", str(staging / "report"), f"s3://{BUCKET}/{PREFIX}/report", PRIVATE)
    program = source("runtime") + "\n\n\n" + source("exec")
    done = launch(["python", "-c", program, "--", "python", "-c", WRITE_BOTH], tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("stored output 'model'") == 1
    assert f"{PREFIX}/model.manifest.json" in _keys(client)
    done = launch(["python", "-c", program, "--", "python", "-c", "raise SystemExit(6)"], tmp_path, env)
    assert done.returncode == 6


def test_a_user_image_with_another_runtime_version_says_where_to_install_the_right_one(tmp_path: Path) -> None:
    done = run_pod(pod_command("python", "-c", "print('ran')"), _clean_env(DAGSMITH_RUNTIME_VERSION="0.0.1"), tmp_path)
    assert done.returncode == 3 and "ran" not in done.stdout
    assert "runs in its node's own image: install dagsmith-steps 0.0.1 there" in done.stderr


def test_a_built_in_step_stops_on_sigterm_and_stores_nothing(tmp_path: Path) -> None:
    """A notebook or other built-in step is its pod's first process, which would ignore SIGTERM by default."""
    model, ready = tmp_path / "model", tmp_path / "ready"
    env = _clean_env(**output("model", str(model), str(model), PRIVATE))
    body = (
        "    import time\n"
        "    open(output_path('model'), 'w').write('m')\n"
        f"    open({str(ready)!r}, 'w').write('1')\n"
        "    while True:\n"
        "        time.sleep(1)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", _pod_program(body)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait_for(ready, process)
        assert process.poll() is None, "the step ended before the signal"
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM; no output is stored" in out
    assert not Path(str(model) + ".manifest.json").exists()
