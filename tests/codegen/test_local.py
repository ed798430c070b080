"""The ``local`` target: the same DAG with BashOperators that start the launcher, as safe as the pod targets."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from codegen_support import ruff
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_pipelines import mlops_loop, node, pipeline
from test_fuzz import TEXT, _document, _live, _meant

from dagsmith.codegen import UnsafeCodeError, check_source, render
from dagsmith.codegen.compat import LOCAL_BASH
from dagsmith.codegen.local import node_of_task, task_nodes
from dagsmith.codegen.steps import LOCAL_STEPS, source
from dagsmith.nodes import Pipeline, load

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = sorted((ROOT / "nodes" / "examples" / "workloads").glob("*/*.dagsmith.json"))


def _namespace(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"dagsmith_local_{name}"}
    exec(compile(source(name), name, "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def local_folder(tmp_path_factory: pytest.TempPathFactory, pipelines: dict[str, Pipeline]) -> Path:
    """The sample pipelines (in ``samples/``) and the workloads (in ``workloads/``), rendered for local runs."""
    folder = tmp_path_factory.mktemp("local-dags")
    (folder / "samples").mkdir()
    (folder / "workloads").mkdir()
    for stem, sample in pipelines.items():
        (folder / "samples" / f"{stem}.py").write_text(render(sample, target="local"), encoding="utf-8")
    for path in WORKLOADS:  # same dag_ids as the bundled examples: a folder of their own
        (folder / "workloads" / f"{path.parent.name}_{path.stem.split('.')[0]}.py").write_text(
            render(load(path), target="local"), encoding="utf-8"
        )
    return folder


@pytest.fixture(scope="module")
def local_bag(airflow_home: Path, local_folder: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(local_folder / "samples"))


def test_workloads_load_in_airflow(airflow_home: Path, local_folder: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(local_folder / "workloads"))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"keyword_recommendation", "keyword_monitor", "article_recommendation", "user_targeting"}
    assert type(bag.dags["article_recommendation"].get_task("tune__trial")).__name__ == "MappedOperator"


def test_the_workloads_are_shipped() -> None:
    names = {f"{path.parent.name}/{path.name}" for path in WORKLOADS}
    assert names == {
        "article/pipeline.dagsmith.json",
        "keyword/monitor.dagsmith.json",
        "keyword/pipeline.dagsmith.json",
        "user_targeting/pipeline.dagsmith.json",
    }


def test_local_files_pass_ruff_defaults(local_folder: Path) -> None:
    lint = ruff("check", "--output-format", "concise", ".", cwd=local_folder)
    assert lint.returncode == 0, lint.stdout
    formatted = ruff("format", "--check", "--diff", ".", cwd=local_folder)
    assert formatted.returncode == 0, formatted.stdout[:5000]


def test_local_dags_load_and_every_step_runs_the_launcher(local_bag: Any) -> None:
    assert local_bag.import_errors == {}
    loop = local_bag.dags["keyword_loop"]
    kinds = {task.task_id: type(task).__name__ for task in loop.tasks}
    assert kinds["gate__passed"] == "ShortCircuitOperator"
    assert kinds["watch__retrain"] == "TriggerDagRunOperator"
    assert kinds["tune__trial"] == "MappedOperator"
    for dag in local_bag.dags.values():
        for task in dag.tasks:
            if type(task).__name__ == "BashOperator":
                assert task.bash_command == LOCAL_BASH
                assert task.append_env is True and task.skip_on_exit_code == []
                assert "dagsmith-local" in dag.tags


def test_trials_are_mapped_over_the_commands_of_the_trials_task(local_bag: Any) -> None:
    trial = local_bag.dags["keyword_loop"].get_task("tune__trial")
    assert trial.partial_kwargs["max_active_tis_per_dagrun"] == 3
    assert trial.expand_input.value["bash_command"].operator.task_id == "tune__trials"
    env = trial.partial_kwargs["env"]
    argv = [env[f"DAGSMITH_ARG_{index}"] for index in range(int(env["DAGSMITH_ARGC"]))]
    assert argv[:2] == ["python", "-c"] and argv[3:] == ["--", "python", "train.py", "--data", "/data"]
    trials_env = local_bag.dags["keyword_loop"].get_task("tune__trials").env
    assert trials_env["DAGSMITH_LOCAL_EXPAND"] == "trials" and trials_env["DAGSMITH_LOCAL_PUSH"] == "1"


def test_value_steps_push_json_and_the_gate_pushes_its_keys(local_bag: Any) -> None:
    loop = local_bag.dags["keyword_loop"]
    gate = loop.get_task("gate")
    assert gate.do_xcom_push is True and gate.multiple_outputs is True
    assert gate.output_processor('{"passed": false}') == {"passed": False}
    assert loop.get_task("materialize").do_xcom_push is False


def test_bentoml_steps_run_their_local_form(local_bag: Any) -> None:
    loop = local_bag.dags["keyword_loop"]
    build = loop.get_task("build").env["DAGSMITH_ARG_2"]
    deploy = loop.get_task("deploy").env["DAGSMITH_ARG_2"]
    assert build.endswith(source("bentoml_build_local")) and "buildah" not in build
    assert deploy.endswith(source("bentoml_serve_local")) and "kubernetes" not in deploy


def _render_env(dag: Any, task_id: str) -> dict[str, str]:
    task = dag.get_task(task_id)
    context = {"ds": "2026-01-02", "ts": "2026-01-02T00:00:00+00:00", "run_id": "manual__x", "params": {}}
    # The Airflow Variable and Connection the sample step's variables name; MLFLOW_TRACKING_URI reads none.
    context["var"] = {"value": {"feature_bucket": "bucket"}}
    context["conn"] = {"warehouse_db": {"host": "db.internal"}}
    task.render_template_fields(context, dag.get_template_env())
    return dict(task.env)


def test_user_text_reaches_the_step_exactly(tmp_path: Path, airflow_home: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    hostile = ["; rm -rf ~ #", "$(whoami) `id` 'q' \"d\"", "run.sh", "{{ conf }}", "{% raw %}", "date={{ ds }}"]
    script = node("s", "script", script="echo_args.py", arguments=hostile, inputs=[], outputs=[])
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "hostile.py").write_text(render(pipeline("hostile", [script], []), target="local"), encoding="utf-8")
    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    env = _render_env(bag.dags["hostile"], "s")
    project = tmp_path / "project"
    project.mkdir()
    (project / "echo_args.py").write_text(
        "import json, pathlib, sys\npathlib.Path('argv.json').write_text(json.dumps([sys.executable, *sys.argv[1:]]))\n"
    )
    run_env = {**os.environ, **env, "DAGSMITH_PROJECT_DIR": str(project), "DAGSMITH_PYTHON": sys.executable}
    done = subprocess.run(["bash", "-c", LOCAL_BASH], env=run_env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    argv = json.loads((project / "argv.json").read_text())
    expected = ["; rm -rf ~ #", "$(whoami) `id` 'q' \"d\"", "run.sh", "{{ conf }}", "{% raw %}", "date=2026-01-02"]
    assert argv == [sys.executable, *expected]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            'B = 1\nwith DAG(dag_id="d") as dag:\n    t = BashOperator(task_id="t", bash_command="rm -rf /")\n',
            "must be",
        ),
        ('DAGSMITH_BASH = "echo pwned"\n', "launcher command"),
        (
            "DAGSMITH_BASH = " + json.dumps(LOCAL_BASH) + '\nwith DAG(dag_id="d") as dag:\n'
            '    t = BashOperator.partial(task_id="t", bash_command=DAGSMITH_BASH).expand(bash_command=["x"])\n',
            "from expand only",
        ),
        (
            "DAGSMITH_BASH = " + json.dumps(LOCAL_BASH) + '\nwith DAG(dag_id="d") as dag:\n'
            '    a = BashOperator(task_id="a", bash_command=DAGSMITH_BASH)\n'
            '    t = BashOperator.partial(task_id="t").expand(env=a.output)\n',
            "only expand bash_command",
        ),
    ],
)
def test_the_allow_list_keeps_bash_to_the_launcher(code: str, message: str) -> None:
    header = "from airflow.providers.standard.operators.bash import BashOperator\nfrom airflow.sdk import DAG\n"
    with pytest.raises(UnsafeCodeError, match=message):
        check_source(header + code)


def test_launch_command_is_the_launchers() -> None:
    assert _namespace("local_launcher")["LAUNCH"] == LOCAL_BASH


@pytest.mark.parametrize("name", LOCAL_STEPS)
def test_local_programs_compile_use_only_the_standard_library_and_survive_jinja(name: str) -> None:
    from dagsmith.codegen import escape

    text = source(name) if name == "local_launcher" else source("runtime") + "\n\n\n" + source(name)
    tree = ast.parse(text)
    assert escape(text, macros=False) == text
    top = {
        alias.name.split(".")[0]
        for item in tree.body
        if isinstance(item, ast.Import | ast.ImportFrom)
        for alias in (item.names if isinstance(item, ast.Import) else [ast.alias(item.module or "")])
    }
    assert top <= set(sys.stdlib_module_names) | {"__future__"}


@given(st.text(min_size=1, max_size=300))
def test_trial_tokens_round_trip_and_are_shell_safe(spec: str) -> None:
    launcher = _namespace("local_launcher")
    command = launcher["encode_trial"](spec)
    token = command.rsplit(" ", 1)[-1]
    assert command == LOCAL_BASH + " trial " + token
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
    assert launcher["decode_trial"](token) == spec
    assert launcher["trial_specs"]([command]) == [[spec]]


def test_bad_trial_tokens_are_refused_and_pod_shaped_trials_pass_through() -> None:
    launcher = _namespace("local_launcher")
    with pytest.raises(ValueError, match="not a trial token"):
        launcher["decode_trial"]("x; rm -rf ~")
    assert launcher["trial_specs"]([['{"index": 0}']]) == [['{"index": 0}']]


def _launch(tmp_path: Path, argv: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DAGSMITH_")}
    env.update({f"DAGSMITH_ARG_{index}": item for index, item in enumerate(argv)})
    env.update(DAGSMITH_ARGC=str(len(argv)), DAGSMITH_LAUNCHER=source("local_launcher"), DAGSMITH_PYTHON=sys.executable)
    env.update(DAGSMITH_PROJECT_DIR=str(tmp_path), **extra)
    return subprocess.run(["bash", "-c", LOCAL_BASH], env=env, capture_output=True, text=True, check=False)


def test_launcher_pushes_the_reported_values_as_the_last_line(tmp_path: Path) -> None:
    report = "import json, os; print('log', end=''); open(os.environ['DAGSMITH_XCOM_FILE'], 'w').write('{\"a\": [1]}')"
    done = _launch(tmp_path, ["python", "-c", report], DAGSMITH_LOCAL_PUSH="1")
    assert done.returncode == 0
    assert done.stdout.splitlines()[-1] == '{"a": [1]}'
    assert done.stdout.splitlines()[0] == "log"
    silent = _launch(tmp_path, ["python", "-c", "pass"], DAGSMITH_LOCAL_PUSH="1")
    assert silent.stdout.splitlines()[-1] == "null"


def test_launcher_exits_with_the_steps_status_and_cleans_its_variables(tmp_path: Path) -> None:
    done = _launch(
        tmp_path, ["python", "-c", "import os, sys; print(sorted(k for k in os.environ if 'ARG' in k)); sys.exit(3)"]
    )
    assert done.returncode == 3
    assert "[]" in done.stdout and "exited with status 3" in done.stdout


def test_trials_task_reports_one_launcher_command_per_trial(tmp_path: Path) -> None:
    specs = [[json.dumps({"index": 0, "params": {"x": 1}, "run_id": "r0"})], [json.dumps({"index": 1})]]
    report = f"import os; open(os.environ['DAGSMITH_XCOM_FILE'], 'w').write({json.dumps(json.dumps(specs))})"
    done = _launch(tmp_path, ["python", "-c", report], DAGSMITH_LOCAL_PUSH="1", DAGSMITH_LOCAL_EXPAND="trials")
    commands = json.loads(done.stdout.splitlines()[-1])
    assert all(command.startswith(LOCAL_BASH + " trial ") for command in commands)
    assert _namespace("local_launcher")["trial_specs"](commands) == specs


def test_task_nodes_map_helper_tasks_to_their_node() -> None:
    loop = mlops_loop()
    assert task_nodes(loop)["gate"] == "gate"
    assert node_of_task(loop, "tune__trial") == "tune"
    assert node_of_task(loop, "watch__should_retrain") == "watch"
    assert node_of_task(loop, "nothing") is None


def test_unknown_target_names_the_local_one_too() -> None:
    with pytest.raises(ValueError, match="use one of airflow3, airflow2 \\(or 'local' to run on this machine\\)"):
        render(mlops_loop(), target="local2")


def test_local_render_is_deterministic() -> None:
    assert render(mlops_loop(), target="local") == render(mlops_loop(), target="local")


def test_runtime_reports_a_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The trials task reports a list (one entry per trial); reporting it used to fail on its log line.
    runtime = _namespace("runtime")
    monkeypatch.setenv("DAGSMITH_XCOM_FILE", str(tmp_path / "xcom.json"))
    runtime["report"]([["a"], ["b"]])
    assert json.loads((tmp_path / "xcom.json").read_text()) == [["a"], ["b"]]
    assert "reported 2 items" in capsys.readouterr().out


def test_stop_server_ends_the_process_group_and_kills_what_ignores_sigterm() -> None:
    # The local deploy step and the editor share this helper (the runtime's), so test it as embedded.
    stop = _namespace("local_runtime")["stop_server"]
    assert stop({}) is False
    assert stop({"pgid": 1}) is False
    ignore_term = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)"
    )
    polite = subprocess.Popen(["sleep", "60"], start_new_session=True)
    stubborn = subprocess.Popen([sys.executable, "-c", ignore_term], start_new_session=True, stdout=subprocess.PIPE)
    assert stubborn.stdout is not None and stubborn.stdout.readline()  # its SIGTERM handler is set
    reapers = [threading.Thread(target=process.wait, daemon=True) for process in (polite, stubborn)]
    for reaper in reapers:  # a zombie still counts as alive: reap the children as they end
        reaper.start()
    try:
        assert stop({"pgid": polite.pid}) is True
        reapers[0].join(timeout=5)
        assert polite.returncode == -signal.SIGTERM
        assert stop({"pgid": stubborn.pid}, timeout=0.5) is True
        reapers[1].join(timeout=5)
        assert stubborn.returncode == -signal.SIGKILL
        assert stop({"pgid": polite.pid}) is False
    finally:
        for process in (polite, stubborn):
            process.kill()
            process.wait()


def _bash_envs(tree: ast.Module) -> dict[str, dict[str, Any]]:
    """task_id -> the literal entries of each BashOperator's env (program constants left out)."""
    found = {}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and ast.unparse(call.func) in ("BashOperator", "BashOperator.partial"):
            keywords = {keyword.arg: keyword.value for keyword in call.keywords}
            env = keywords["env"]
            assert isinstance(env, ast.Dict)
            entries = {}
            for key, value in zip(env.keys, env.values, strict=True):
                if key is not None and not isinstance(value, ast.Name):
                    entries[ast.literal_eval(key)] = ast.literal_eval(value)
            found[ast.literal_eval(keywords["task_id"])] = entries
    return found


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(TEXT, min_size=27, max_size=27), st.sampled_from(["", ".sh", ".bash", ".json"]))
def test_fuzzed_text_reaches_the_local_steps_exactly(texts: list[str], ending: str) -> None:
    texts[17] += ending
    document = _document(texts)
    tree = check_source(render(Pipeline.model_validate(document), target="local"))
    envs = _bash_envs(tree)
    script = document["nodes"][0]
    env = envs[next(task for task in envs if task.endswith("one"))]
    raw = [value for value in env.values() if isinstance(value, str)]
    assert not any(value.endswith((".sh", ".bash")) for value in raw)  # never loaded as a template file
    # python -c STEP_EXEC (the embedded exec step, a constant of the file) -- the user's command line
    assert [env["DAGSMITH_ARG_0"], env["DAGSMITH_ARG_1"], "DAGSMITH_ARG_2" in env] == ["python", "-c", False]
    argv = [_live(env[f"DAGSMITH_ARG_{index}"]) for index in range(3, int(env["DAGSMITH_ARGC"]))]
    assert argv == ["--", "python", _meant(script["params"]["script"]), *_meant(script["params"]["arguments"])]
    assert _live(env["FUZZ_ENV"]) == _meant(texts[1])
    watch = document["nodes"][2]
    (conf,) = [
        ast.literal_eval(keyword.value)
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and ast.unparse(call.func) == "TriggerDagRunOperator"
        for keyword in call.keywords
        if keyword.arg == "conf"
    ]
    assert _live(conf) == _meant(watch["params"]["retrain_conf"])
