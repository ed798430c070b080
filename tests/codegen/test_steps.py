"""The step programs: as the local target embeds them (the runtime, then the step's source), and as the step
runtime package ``dagsmith_steps`` runs them in a pod (``python -m dagsmith_steps <step>``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dagsmith.codegen import escape
from dagsmith.codegen.steps import RUNTIME_VERSION, STEPS, source

STEPS_ROOT = Path(__file__).resolve().parents[2] / "steps"
"""The step runtime's distribution folder in this checkout (``steps/dagsmith_steps``)."""


def program(step: str) -> str:
    """The program a pod runs for ``step`` (what ``python -c`` gets)."""
    return source("runtime") + "\n\n\n" + source(step)


def load(step: str) -> dict[str, Any]:
    """The step's functions, from its embedded program (``main`` does not run on import)."""
    namespace: dict[str, Any] = {"__name__": f"dagsmith_step_{step}"}
    exec(compile(program(step), step, "exec"), namespace)
    return namespace


@pytest.mark.parametrize("step", STEPS)
def test_programs_compile_import_only_stdlib_and_survive_jinja(step: str) -> None:
    text = program(step)
    compile(text, step, "exec")
    assert escape(text, macros=False) == text
    assert "dagsmith" not in {line.split()[1].split(".")[0] for line in text.splitlines() if line.startswith("import ")}


def test_runtime_resolves_config_and_reports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runtime = load("register_model")
    config = {"start": {"$dagsmith_env": "DAGSMITH_CONFIG_0"}, "plain": "{{ ds }}", "nested": [{"n": 1}]}
    monkeypatch.setenv("DAGSMITH_CONFIG", json.dumps(config))
    monkeypatch.setenv("DAGSMITH_CONFIG_0", "2026-01-02")
    monkeypatch.setenv("DAGSMITH_VALUE_RUN", '{"run_id": "abc"}')
    monkeypatch.setenv("DAGSMITH_XCOM_FILE", str(tmp_path / "xcom" / "return.json"))
    assert runtime["config"]() == {"start": "2026-01-02", "plain": "{{ ds }}", "nested": [{"n": 1}]}
    assert runtime["run_id_of"](runtime["value"]("run")) == "abc"
    assert runtime["run_id_of"]("plain-id") == "plain-id"
    assert runtime["value"]("missing") is None
    runtime["report"]({"model": {"name": "m"}})
    assert json.loads((tmp_path / "xcom" / "return.json").read_text()) == {"model": {"name": "m"}}
    with pytest.raises(SystemExit):
        runtime["need"]("", "missing")


def test_trials_grid_in_order_and_random_reproducible() -> None:
    generate = load("hpo_trials")["generate_trials"]
    space = {"b": {"kind": "choice", "values": ["x", "y"]}, "a": {"kind": "int", "low": 1, "high": 3}}
    grid = generate(space, "grid", 4, 0)
    assert grid == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    space = {"lr": {"kind": "loguniform", "low": 1e-4, "high": 1e-1}, "d": {"kind": "int", "low": 2, "high": 8}}
    first = generate(space, "random", 20, 7)
    assert first == generate(space, "random", 20, 7)
    assert first != generate(space, "random", 20, 8)
    assert all(1e-4 <= t["lr"] <= 1e-1 and isinstance(t["d"], int) and 2 <= t["d"] <= 8 for t in first)


def test_trial_wrapper_passes_parameters_as_flags() -> None:
    command = load("hpo_trial")["trial_command"]
    spec = {"index": 3, "params": {"lr": 0.01, "opt": "adam", "deep": True}, "run_id": "r"}
    line, parsed = command(["--", "python", "train.py", "--data", "/d", json.dumps(spec)])
    assert line == ["python", "train.py", "--data", "/d", "--lr=0.01", "--opt=adam", "--deep=true"]
    assert parsed == spec


def test_best_trial_by_direction_skips_missing_values() -> None:
    best = load("hpo_best")["best_trial"]
    trials = [{"index": 0, "value": 0.7}, {"index": 1, "value": None}, {"index": 2, "value": 0.9}]
    assert best(trials, "maximize")["index"] == 2
    assert best(trials, "minimize")["index"] == 0
    assert best([{"index": 0, "value": None}], "maximize") is None


GATE = {"direction": "maximize", "threshold": None, "compare_to_champion": True, "min_improvement": 0.0}


@pytest.mark.parametrize(
    ("candidate", "champion", "settings", "passed"),
    [
        (0.8, 0.7, {}, True),
        (0.7, 0.7, {}, False),
        (0.6, 0.7, {}, False),
        (0.8, None, {}, True),
        (0.71, 0.7, {"min_improvement": 0.05}, False),
        (0.8, 0.7, {"threshold": 0.85}, False),
        (0.9, None, {"threshold": 0.85, "compare_to_champion": False}, True),
        (0.2, 0.3, {"direction": "minimize"}, True),
        (0.2, 0.1, {"direction": "minimize", "threshold": 0.5}, False),
    ],
)
def test_gate_decision(candidate: float, champion: float | None, settings: dict[str, Any], passed: bool) -> None:
    decided, reasons = load("model_gate")["decide"](candidate, champion, {**GATE, **settings})
    assert decided is passed
    assert reasons


def test_monitor_decision_and_drift() -> None:
    monitor = load("monitor")
    assert monitor["should_trigger"](0.01, 0.02, "below") is True
    assert monitor["should_trigger"](0.03, 0.02, "below") is False
    assert monitor["should_trigger"](0.3, 0.2, "above") is True
    same = [float(i % 100) for i in range(1000)]
    shifted = [value + 40 for value in same]
    assert monitor["population_stability"](same, same) < 0.01
    assert monitor["population_stability"](same, shifted) > 0.25


def test_batch_selection_threshold_and_top_k() -> None:
    import pandas as pd

    select = load("batch_predict")["select"]
    frame = pd.DataFrame({"user_id": [1, 2, 3, 4], "score": [0.1, 0.9, 0.5, 0.7]})
    assert select(frame, "score", 0.5, 2)["user_id"].tolist() == [2, 4]
    assert select(frame, "score", None, None)["user_id"].tolist() == [2, 4, 3, 1]


def test_deploy_manifests_deployment_service_and_autoscaler() -> None:
    from kubernetes.client import ApiClient

    build = load("bentoml_deploy")["build_manifests"]
    config = {
        "deployment_name": "keyword-api",
        "namespace": "ml",
        "min_replicas": 2,
        "max_replicas": 6,
        "target_cpu_utilization": 60,
        "port": 3000,
        "service_type": "ClusterIP",
        "resources": {
            "requests": {"cpu": "1"},
            "limits": {"nvidia.com/gpu": "1"},
            "node_selector": {"nvidia.com/gpu.product": "L4"},
        },
    }
    deployment, service, autoscaler = (
        ApiClient().sanitize_for_serialization(item) for item in build(config, "registry/x:1")
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert (deployment["kind"], container["image"]) == ("Deployment", "registry/x:1")
    assert "replicas" not in deployment["spec"]  # the autoscaler owns the count
    assert container["resources"] == {"requests": {"cpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}
    assert deployment["spec"]["template"]["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "L4"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 3000}
    assert service["spec"]["ports"] == [{"name": "http", "port": 3000, "targetPort": 3000}]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert (autoscaler["spec"]["minReplicas"], autoscaler["spec"]["maxReplicas"]) == (2, 6)
    metric = autoscaler["spec"]["metrics"][0]["resource"]
    assert metric == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "keyword-api",
    }


def test_bento_model_names_are_sanitised() -> None:
    assert load("bentoml_build")["bento_model_name"]("Keyword Recommender!") == "keyword-recommender"


@pytest.mark.slow
def test_gate_decides_and_only_the_promote_step_moves_the_champion(tmp_path: Path) -> None:
    """Gate and promote steps (``python -m dagsmith_steps``, as in a pod) against a real MLflow store: the gate
    never moves the alias; promote does.

    When the deploy branch fails the promote task does not run: after a passing gate alone the champion
    is still the version that serves.
    """
    script = f"""
import json, os, subprocess, sys
import mlflow
from mlflow import MlflowClient
mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
client = MlflowClient()
def version(auc):
    with mlflow.start_run() as run:
        mlflow.log_metric("val_auc", auc)
        mlflow.pyfunc.log_model(name="model", python_model=mlflow.pyfunc.PythonModel())
    return mlflow.register_model(f"runs:/{{run.info.run_id}}/model", "m").version
def champion():
    try:
        return client.get_model_version_by_alias("m", "champion").version
    except Exception:
        return "none"
def step(program, **env):
    env = dict(os.environ, DAGSMITH_XCOM_FILE="{tmp_path}/xcom.json", **env)
    out = subprocess.run([sys.executable, "-m", "dagsmith_steps", program], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout
def gate(candidate):
    client.set_registered_model_alias("m", "candidate", candidate)
    log = step(sys.argv[1], DAGSMITH_CONFIG=json.dumps({{"metric": "val_auc", "direction": "maximize",
        "threshold": None, "compare_to_champion": True, "min_improvement": 0.0,
        "candidate_alias": "candidate", "champion_alias": "champion"}}),
        DAGSMITH_VALUE_CANDIDATE=json.dumps({{"name": "m"}}))
    return json.load(open("{tmp_path}/xcom.json")), log
def promote(report):
    step(sys.argv[2], DAGSMITH_CONFIG=json.dumps({{"champion_alias": "champion"}}),
        DAGSMITH_VALUE_DECISION=json.dumps(report["decision"]))
first = version(0.7)
report, _ = gate(first)
print("FIRST", report["passed"], champion(), report["approved"]["version"])
promote(report)
print("FIRST PROMOTED", champion())
worse = version(0.6)
report, log = gate(worse)
promote(report)  # the short-circuit skips it; even run, it keeps the champion
print("WORSE", report["passed"], champion(), "KEEP CHAMPION" in log)
better = version(0.9)
report, _ = gate(better)
print("BETTER, DEPLOY FAILED", report["passed"], champion(), report["decision"]["previous"])
promote(report)
print("BETTER, DEPLOYED", champion())
"""
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(STEPS_ROOT),  # the checkout's step runtime, as the step image installs it
        "DAGSMITH_RUNTIME_VERSION": RUNTIME_VERSION,
    }
    result = subprocess.run(
        [sys.executable, "-c", script, "model_gate", "promote_model"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.split(" ")[0] in ("FIRST", "WORSE", "BETTER,")]
    assert lines == [
        "FIRST True none 1",
        "FIRST PROMOTED 1",
        "WORSE False 1 True",
        "BETTER, DEPLOY FAILED True 1 1",
        "BETTER, DEPLOYED 3",
    ]


def test_batch_top_k_from_a_run_time_param_arrives_as_text() -> None:
    import pandas as pd

    select = load("batch_predict")["select"]
    frame = pd.DataFrame({"user_id": [1, 2, 3], "score": [0.1, 0.9, 0.5]})
    assert select(frame, "score", None, "2")["user_id"].tolist() == [2, 3]
