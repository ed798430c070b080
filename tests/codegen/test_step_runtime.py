"""The step runtime as its own product: ``python -m dagsmith_steps``, its version check, its wheel and image."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from dagsmith.codegen import render
from dagsmith.codegen.builders import DEFAULT_STEP_IMAGE
from dagsmith.codegen.step_image import build_context, dockerfile
from dagsmith.codegen.steps import RUNTIME_VERSION, STEPS
from dagsmith.editor.cli import run as cli
from dagsmith.nodes.bundled import load_example

STEPS_ROOT = Path(__file__).resolve().parents[2] / "steps"


def step(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m dagsmith_steps ARGS`` with only the checkout's ``steps/`` on the path, as in the step image."""
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(STEPS_ROOT)}
    command = [sys.executable, "-m", "dagsmith_steps", *args]
    return subprocess.run(command, env={**base, **env}, cwd=tmp_path, capture_output=True, text=True, check=False)


def test_a_runtime_of_another_version_refuses_to_run_the_step(tmp_path: Path) -> None:
    done = step(["register_model"], tmp_path, DAGSMITH_RUNTIME_VERSION="0.0.1")
    assert done.returncode == 3
    assert f"this pod's image has dagsmith step runtime {RUNTIME_VERSION}, the DAG needs 0.0.1" in done.stderr
    assert "dagsmith step-image" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_matching_runtime_runs_the_step_with_its_arguments(tmp_path: Path) -> None:
    out = tmp_path / "argv.json"
    record = f"import json, os, sys; open({str(out)!r}, 'w').write(json.dumps(sys.argv[1:]))"
    spec = json.dumps({"index": 2, "params": {"lr": 0.5}, "run_id": "r"})
    done = step(
        ["hpo_trial", "--", sys.executable, "-c", record, "--data", "/d", spec],
        tmp_path,
        DAGSMITH_RUNTIME_VERSION=RUNTIME_VERSION,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == ["--data", "/d", "--lr=0.5"]
    failing = step(["hpo_trial", "--", "false", spec], tmp_path, DAGSMITH_RUNTIME_VERSION=RUNTIME_VERSION)
    assert failing.returncode == 1  # the trial's exit status is the task's


def test_an_unknown_step_is_named_with_the_usage(tmp_path: Path) -> None:
    done = step(["regster_model"], tmp_path)
    assert done.returncode == 2
    assert "'regster_model' is not a dagsmith step" in done.stderr and "register_model" in done.stderr
    assert step(["--version"], tmp_path).stdout.strip() == RUNTIME_VERSION


def _pins_image(text: str, image: str) -> bool:
    """Whether a pod task of ``text`` names ``image``: itself, or in the shared pod settings it unpacks."""
    return f'image="{image}"' in text or f'"image": "{image}"' in text


def test_kubernetes_dags_run_the_pinned_runtime_and_embed_no_program() -> None:
    pipeline = load_example("keyword_recommendation")
    text = render(pipeline, target="airflow3")
    assert "DAGSMITH_RUNTIME" + " = " not in text
    # the only python -c starts the runtime in the user's image (the script step), embedding no program
    assert text.count('"-c"') == text.count('"-c",\n            DAGSMITH_STEPS_BOOT,\n            "exec",') == 1
    assert f'"DAGSMITH_RUNTIME_VERSION": "{RUNTIME_VERSION}"' in text
    assert _pins_image(text, DEFAULT_STEP_IMAGE) and DEFAULT_STEP_IMAGE.endswith(RUNTIME_VERSION)
    assert '"dagsmith_steps",\n            "register_model",' in text
    assert _pins_image(text, "registry.example.com/ml/runtime:2026.11")  # the user's script keeps its image
    custom = pipeline.model_copy(deep=True)
    custom.settings.step_image = "registry.example.com/platform/dagsmith-steps:1.0.0"
    assert _pins_image(render(custom, target="airflow3"), "registry.example.com/platform/dagsmith-steps:1.0.0")
    assert DEFAULT_STEP_IMAGE not in render(custom, target="airflow3")


def test_the_dockerfile_installs_this_checkouts_runtime_with_its_extras() -> None:
    text = dockerfile()
    assert text.splitlines()[6] == "FROM python:3.11-slim"
    assert 'pip install --no-cache-dir "/tmp/dagsmith-steps[all]"' in text
    assert f'test "$(python -m dagsmith_steps --version)" = "{RUNTIME_VERSION}"' in text
    # user images (script, notebook, trials) run the user's code through the runtime: it says how to install it
    assert '#   RUN pip install --no-cache-dir "/tmp/dagsmith-steps[s3]"' in text and "User images" in text
    context = build_context()
    for line in text.splitlines():
        if line.startswith("COPY "):
            assert (context / line.split()[1]).exists(), line  # every COPY source is in the build context
    project = (STEPS_ROOT / "pyproject.toml").read_text()
    assert 'name = "dagsmith-steps"' in project and "\nall = [" in project


def test_step_image_prints_the_dockerfile(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["step-image"]) == 0
    assert capsys.readouterr().out == dockerfile()
    assert cli(["step-image", "--build", "--tag", "Not An Image"]) == 1
    assert "not a container image reference" in capsys.readouterr().err


def test_step_image_build_says_clearly_when_no_container_tool_is_installed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither docker nor podman
    assert cli(["step-image", "--build", "--tag", "registry.example.com/dagsmith/steps:1.0.0"]) == 1
    err = capsys.readouterr().err
    assert "neither docker nor podman is installed" in err and "dagsmith step-image --print > Dockerfile" in err


@pytest.mark.slow
def test_the_wheel_installs_alone_and_runs(tmp_path: Path) -> None:
    """What the Dockerfile's pip install does: build the wheel from steps/ and install it into a bare venv."""
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(STEPS_ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("*.whl")
    assert wheel.name == f"dagsmith_steps-{RUNTIME_VERSION}-py3-none-any.whl"
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    check = (
        "import dagsmith_steps, dagsmith_steps.runtime, dagsmith_steps.artifact_store; print(len(dagsmith_steps.STEPS))"
    )
    imported = subprocess.run([str(python), "-c", check], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert imported.stdout.strip() == str(len(STEPS)), imported.stderr
    console = tmp_path / "venv" / "bin" / "dagsmith-step"
    version = subprocess.run([str(console), "--version"], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert version.stdout.strip() == RUNTIME_VERSION
    dagsmith = subprocess.run([str(python), "-c", "import dagsmith"], capture_output=True, text=True, check=False)
    assert dagsmith.returncode != 0  # the step image holds the runtime, not the editor
