"""Shared pod settings (POD_DEFAULTS, <IMAGE>_POD) and run roots (ARTIFACTS_RUN) are written once and change
no pod Airflow builds."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from codegen_support import sample_pipelines
from sample_pipelines import mlops_loop
from test_k8s_schema import LOADER, PYTHONS

from dagsmith.codegen import render
from dagsmith.codegen.pod_profiles import PodProfiles
from dagsmith.codegen.safety import UnsafeCodeError, check_source
from dagsmith.codegen.steps import RUNTIME_VERSION
from dagsmith.nodes import Pipeline

RENDER_MODULE = importlib.import_module("dagsmith.codegen.render")


def test_the_loop_writes_its_shared_pod_settings_once() -> None:
    text = render(mlops_loop())
    tasks = text.count("KubernetesPodOperator(") + text.count("KubernetesPodOperator.partial(")
    assert tasks >= 10
    # Every pod gets the MLflow token and the store's keys, the namespace and the logs: written once.
    assert text.count('deploy_target="MLFLOW_TRACKING_TOKEN"') == 1
    assert text.count('deploy_target="AWS_ACCESS_KEY_ID"') == 1
    assert text.count('\n    "namespace": "ml",\n') == 1 and "namespace=" not in text
    assert text.count('"get_logs": True') == 1 and "get_logs=" not in text
    # The built-in steps share their image and resources (DAGSMITH_STEPS_POD), and all but the deployer their
    # service account (DAGSMITH_STEPS_ML_RUNNER_POD); the deployer, under its own account, unpacks the image's
    # profile and writes only its account itself (a task never gets one keyword twice).
    assert text.count(f'"image": "dagsmith/steps:{RUNTIME_VERSION}"') == 1 and "image=" not in text
    assert text.count("**DAGSMITH_STEPS_ML_RUNNER_POD,") >= 8 and text.count('"service_account_name": "ml-runner"') == 2
    deploy = text[text.index("    deploy = KubernetesPodOperator(") :]
    deploy = deploy[: deploy.index("\n    )\n")]
    assert "**DAGSMITH_STEPS_POD," in deploy and 'service_account_name="ml-deployer"' in deploy
    assert "container_resources=" not in deploy and "secrets=" not in deploy


PAIR_LOADER = f"""
import sys
LOADER = {LOADER!r}
for folder in sys.argv[1:]:
    sys.argv = ["loader", folder]
    exec(LOADER, {{}})
"""
"""The pods of each folder named on the command line, one RESULT line per folder, in one Airflow process."""


def _render_inline(pipeline: Pipeline, target: str) -> str:
    """``pipeline`` rendered as before shared settings existed: no profile dicts, no run roots, all inline.

    The same renderer with the sharing switched off, so that the pods built from it are an independent
    reference: a profile that lost, added or changed a setting makes a pod differ."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RENDER_MODULE, "pod_profiles", lambda tasks: PodProfiles())
        patch.setattr(RENDER_MODULE, "run_roots", lambda tasks: {})
        return render(pipeline, target=target)


ARGUMENTS = ["--date", "{{ ds }}", "--epochs", "{{ params.epochs }}", "--config=conf.json"]


def _shared_arguments() -> Pipeline:
    """Three scripts with the same templated arguments (which their profile then holds) and one without."""
    nodes = [
        {
            "id": name,
            "type": "script",
            "params": {"script": f"{name}.py", "arguments": arguments, "pod": {"image": "i:1"}},
        }
        for name, arguments in (("one", ARGUMENTS), ("two", ARGUMENTS), ("three", ARGUMENTS), ("four", []))
    ]
    params = [{"name": "epochs", "type": "integer", "default": 3}]
    return Pipeline.model_validate({"settings": {"name": "shared arguments", "params": params}, "nodes": nodes})


def test_arguments_that_tasks_share_are_written_once() -> None:
    text = render(_shared_arguments())
    assert text.count('"--epochs",') == 1 and "arguments=" not in text
    assert text.count("**I_ARGUMENTS_POD,") == 3  # the fourth script has no arguments


@pytest.mark.parametrize("target", sorted(PYTHONS))
def test_profiles_change_no_pod(target: str, tmp_path: Path) -> None:
    """Every sample pod (every node type, the loop with its mapped trials, every example) is the same, in the
    target's Airflow, whether its settings come from shared dicts and run roots or are all written inline."""
    python = PYTHONS[target]
    assert python.exists(), f"{python} is missing: run `make test` (it builds .venv-airflow2)"
    folders = {name: tmp_path / name for name in ("shared", "inline")}
    for stem, pipeline in {**sample_pipelines(), "shared_arguments": _shared_arguments()}.items():
        texts = {"shared": render(pipeline, target=target), "inline": _render_inline(pipeline, target)}
        assert "**" not in texts["inline"].replace("**DAGSMITH_ENV", "") and "_RUN + " not in texts["inline"]
        for name, text in texts.items():
            folders[name].mkdir(exist_ok=True)
            (folders[name] / f"{stem}.py").write_text(text, encoding="utf-8")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"), "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [str(python), "-c", PAIR_LOADER, str(folders["shared"]), str(folders["inline"])],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and len(lines) == 2, result.stderr[-4000:]
    pods = []
    for line in lines:
        loaded = json.loads(line.removeprefix("RESULT "))
        assert loaded["errors"] == {}
        for pod in loaded["pods"].values():
            pod["metadata"]["name"] = "pod"  # dry_run names each pod with a random suffix
        pods.append(loaded["pods"])
    shared, inline = pods
    assert len(shared) >= 50 and any(task.endswith("tune__trial") for task in shared)
    assert {"shared_arguments.one", "shared_arguments.three"} <= set(shared)
    assert sorted(shared) == sorted(inline)
    differing = [task for task in shared if shared[task] != inline[task]]
    assert differing == [], f"pods that shared settings changed: {differing[:5]}"


@pytest.mark.parametrize(
    "sub_path",
    [
        "runs/{{ ds }}",
        "runs/x\n",  # no template marks typed, but the tpl filter writes a trailing newline as template text
        "runs/a\rb",  # a carriage return likewise
    ],
)
def test_settings_with_template_text_stay_on_their_task(sub_path: str) -> None:
    """Airflow renders volumes in place: a shared volume object with template text would be rendered twice."""
    pod = {
        "image": "img:1",
        "volumes": [{"pvc": "data", "mount_path": "/data", "sub_path": sub_path}],
    }
    nodes = [
        {"id": name, "type": "script", "params": {"script": f"{name}.py", "pod": pod}}
        for name in ("one", "two", "three")
    ]
    text = render(Pipeline.model_validate({"settings": {"name": "templated volumes"}, "nodes": nodes}))
    assert text.count("k8s.V1VolumeMount(") == 3  # one per task, none in a shared dict
    assert text.count("**POD_DEFAULTS,") == 3 and '"image": "img:1"' in text


def test_only_the_files_own_mappings_may_be_unpacked_into_a_pod() -> None:
    header = "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator\n"
    body = "with DAG(dag_id='x') as dag:\n    a = KubernetesPodOperator(task_id='a', **{})\n"
    imports = "from airflow.sdk import DAG\n"
    try:
        check_source(header + imports + body)
    except UnsafeCodeError as exc:
        assert "** arguments are not allowed" in str(exc)
    else:
        raise AssertionError("a literal ** mapping passed the allow-list check")
    shared = "SHARED = {'get_logs': True}\n"
    check_source(header + imports + shared + body.replace("**{}", "**SHARED"))


def test_run_roots_are_written_once_and_each_path_adds_its_own_part() -> None:
    text = render(mlops_loop())
    run_key = "{{ run_id | replace(':', '_') | replace('+', '_') | replace('~', '_') }}"
    # The run key is spelled out only in the two root constants (staging folder, artifact store).
    assert text.count(run_key) == 2
    assert f'STAGING_RUN = "/tmp/dagsmith-staging/{run_key}"\n' in text
    assert '"DAGSMITH_OUTPUT_FEATURES_URI": ARTIFACTS_RUN + "/features/features",' in text
    assert '"DAGSMITH_STAGING": STAGING_RUN + "/features",' in text


def test_the_allow_list_admits_only_a_constant_joined_with_a_string() -> None:
    head = "from airflow.sdk import DAG\nROOT = 'x'\n"
    check_source(head + "with DAG(dag_id='x', doc_md=ROOT + '/y') as dag:\n    pass\n")
    try:
        check_source(head + "with DAG(dag_id='x', doc_md=ROOT + len('y')) as dag:\n    pass\n")
    except UnsafeCodeError as exc:
        assert "may be joined with +" in str(exc)
    else:
        raise AssertionError("a call joined with + passed the allow-list check")


def _scripts(*pods: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": name, "type": "script", "params": {"script": f"{name}.py", "pod": pod}} for name, pod in pods]


TRAINER = {
    "image": "registry.io/ml/trainer:1.4",
    "resources": {"gpu": 1, "gpu_resource": "nvidia.com/gpu", "memory_limit": "8Gi"},
}
PREP = {"image": "registry.io/ml/prep:2", "resources": {"cpu_request": "2"}}


def _unpacked(text: str) -> dict[str, str]:
    """task id -> the profile dict its task unpacks."""
    found = re.findall(r'task_id="([^"]+)",\n(?:        task_display_name=[^\n]*\n)?        \*\*([A-Z0-9_]+),', text)
    return dict(found)


def _export(nodes: list[dict[str, Any]]) -> str:
    return render(Pipeline.model_validate({"settings": {"name": "profiles"}, "nodes": nodes}))


def test_profile_names_say_what_they_hold() -> None:
    text = _export(_scripts(("train", TRAINER), ("tune", TRAINER), ("prep", PREP), ("clean", PREP)))
    assert _unpacked(text) == {
        "train": "ML_TRAINER_GPU_POD",
        "tune": "ML_TRAINER_GPU_POD",
        "prep": "ML_PREP_POD",
        "clean": "ML_PREP_POD",
    }
    assert 'ML_TRAINER_GPU_POD = {\n    **POD_DEFAULTS,\n    "image": "registry.io/ml/trainer:1.4",' in text


@pytest.mark.parametrize(
    "added",
    [
        # Another team's image of the same name, placed first: before, it took TRAINER_POD and ours became
        # TRAINER_POD_2.
        _scripts(
            ("other", {**TRAINER, "image": "other.io/team/trainer:9"}),
            ("other2", {**TRAINER, "image": "other.io/team/trainer:9"}),
        ),
        _scripts(("single", {"image": "registry.io/ml/eval:1"})),
        _scripts(
            ("cpu_trainer", {"image": "registry.io/ml/trainer:1.5"}), ("cpu_2", {"image": "registry.io/ml/trainer:1.5"})
        ),
    ],
)
def test_adding_an_unrelated_node_renames_no_profile(added: list[dict[str, Any]]) -> None:
    nodes = _scripts(("train", TRAINER), ("tune", TRAINER), ("prep", PREP), ("clean", PREP))
    before = _unpacked(_export(nodes))
    after = _unpacked(_export(added + nodes))
    assert {task: after[task] for task in before} == before


def test_images_that_read_the_same_get_their_tag_then_a_content_hash() -> None:
    tags = _export(
        _scripts(
            *((f"a{i}", {"image": "r.io/ml/trainer:1"}) for i in range(2)),
            *((f"b{i}", {"image": "r.io/ml/trainer:2"}) for i in range(2)),
        )
    )
    assert set(_unpacked(tags).values()) == {"ML_TRAINER_1_POD", "ML_TRAINER_2_POD"}
    digests = [f"r.io/ml/trainer@sha256:{digit * 64}" for digit in "ab"]
    nodes = _scripts(
        *((f"a{i}", {"image": digests[0]}) for i in range(2)), *((f"b{i}", {"image": digests[1]}) for i in range(2))
    )
    names = _unpacked(_export(nodes))
    assert names["a0"] != names["b0"] and all(re.fullmatch(r"ML_TRAINER_POD_[0-9A-F]{6}", n) for n in names.values())
    after = _unpacked(_export(_scripts(("single", {"image": "r.io/ml/eval:1"})) + nodes))
    assert {task: after[task] for task in names} == names
