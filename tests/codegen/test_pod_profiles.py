"""Shared pod settings (POD_DEFAULTS, <IMAGE>_POD) and run roots (ARTIFACTS_RUN) are written once and change
no pod Airflow builds."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sample_pipelines import mlops_loop
from test_k8s_schema import LOADER

from dagsmith.codegen import render
from dagsmith.codegen.safety import UnsafeCodeError, check_source
from dagsmith.nodes import Pipeline


def test_the_loop_writes_its_shared_pod_settings_once() -> None:
    text = render(mlops_loop())
    tasks = text.count("KubernetesPodOperator(") + text.count("KubernetesPodOperator.partial(")
    assert tasks >= 10
    # Every pod gets the MLflow token and the store's keys, the namespace and the logs: written once.
    assert text.count('deploy_target="MLFLOW_TRACKING_TOKEN"') == 1
    assert text.count('deploy_target="AWS_ACCESS_KEY_ID"') == 1
    assert text.count('\n    "namespace": "ml",\n') == 1 and "namespace=" not in text
    assert text.count('"get_logs": True') == 1 and "get_logs=" not in text
    # The built-in steps share their image, service account and resources; the deployer, under its own
    # account, writes its image and account itself (a task never gets one keyword twice).
    assert text.count('"image": "dagsmith/steps:1.0.0"') == 1 and text.count('image="dagsmith/steps:1.0.0"') == 1
    assert text.count("**STEPS_POD,") >= 8 and text.count('"service_account_name": "ml-runner"') == 1
    assert 'service_account_name="ml-deployer"' in text


def _inlined(source: str) -> str:
    """``source`` with every ``**PROFILE`` argument replaced by the profile's own keyword arguments."""
    tree = ast.parse(source)
    profiles: dict[str, list[ast.keyword]] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Dict):
            name = statement.targets[0].id  # type: ignore[attr-defined]
            keywords: list[ast.keyword] = []
            for key, value in zip(statement.value.keys, statement.value.values, strict=True):
                if key is None:
                    keywords.extend(profiles.get(value.id, []))  # type: ignore[attr-defined]
                else:
                    keywords.append(ast.keyword(arg=ast.literal_eval(key), value=value))
            profiles[name] = keywords
    strings = {
        statement.targets[0].id: statement.value.value  # type: ignore[attr-defined]
        for statement in tree.body
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant)
    }

    class Fold(ast.NodeTransformer):
        """``ARTIFACTS_RUN + "/n0/output"`` -> the string it makes."""

        def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
            if isinstance(node.left, ast.Name) and isinstance(node.right, ast.Constant):
                return ast.Constant(strings[node.left.id] + node.right.value)
            return node

    tree = ast.fix_missing_locations(Fold().visit(tree))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            expanded: list[ast.keyword] = []
            for keyword in node.keywords:
                if keyword.arg is None and isinstance(keyword.value, ast.Name) and keyword.value.id in profiles:
                    expanded.extend(profiles[keyword.value.id])
                else:
                    expanded.append(keyword)
            node.keywords = expanded
    return ast.unparse(tree)


def test_profiles_change_no_pod(tmp_path: Path) -> None:
    """Each pod (the mapped trials too) is the same with shared settings and run roots as with all inline."""
    source = render(mlops_loop())
    assert "**STEPS_POD" in source and "**POD_DEFAULTS" in source and "ARTIFACTS_RUN + " in source
    assert "ARTIFACTS_RUN + " not in _inlined(source) and "**STEPS_POD" not in _inlined(source)
    pods = {}
    for name, text in (("profiles", source), ("inline", _inlined(source))):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "loop.py").write_text(text, encoding="utf-8")
        env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"), "PYTHONWARNINGS": "ignore"}
        result = subprocess.run(
            [sys.executable, "-c", LOADER, str(folder)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
        loaded = json.loads(line.removeprefix("RESULT "))
        assert loaded["errors"] == {}
        for pod in loaded["pods"].values():
            pod["metadata"]["name"] = "pod"  # dry_run names each pod with a random suffix
        pods[name] = loaded["pods"]
    assert len(pods["profiles"]) >= 10 and any(task.endswith("tune__trial") for task in pods["profiles"])
    assert pods["profiles"] == pods["inline"]


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
