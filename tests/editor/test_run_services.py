"""The editor's local-run services without running a pipeline: settings, checks, states, examples, MLflow links."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from dagsmith.editor.run_services import (
    RUNNABLE_EXAMPLES,
    RunSettings,
    node_states,
    parse_param,
    read_log,
    record_states,
)
from dagsmith.editor.runs import Workspace
from dagsmith.editor.runs.mlflow_links import resolve, run_url, server_base, version_url
from dagsmith.editor.runs.records import write_json
from dagsmith.editor.services import EditorServices, UserError
from dagsmith.nodes import Node, Pipeline, PipelineSettings, RuntimeParam


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSMITH_WORKSPACE", raising=False)
    return tmp_path / "home"


@pytest.fixture
def services(tmp_path: Path, home: Path) -> EditorServices:
    return EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")


def _script_pipeline(name: str = "Two steps") -> Pipeline:
    return Pipeline(
        settings=PipelineSettings(name=name, default_image="registry.example.com/x:1"),
        nodes=[
            Node(id="a", type="script", params={"script": "a.py", "outputs": [{"name": "out", "type": "dataset"}]}),
            Node(id="b", type="script", params={"script": "b.py", "inputs": [{"name": "data", "type": "dataset"}]}),
        ],
        edges=[{"id": "e1", "source": "a", "source_port": "out", "target": "b", "target_port": "data"}],
    )


# ---- node states --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "shown"),
    [
        (["queued"], "queued"),
        (["running"], "running"),
        (["success"], "success"),
        (["skipped"], "skipped"),
        (["success", "queued"], "running"),  # some trials done, some still to go
        (["success", "running", "queued"], "running"),
        (["success", "failed", "running"], "failed"),
        (["success", "skipped"], "success"),  # a gate's helper tasks: the deploy branch skipped
        (["skipped", "skipped"], "skipped"),
    ],
)
def test_a_node_shows_one_state_for_its_tasks(states: list[str], shown: str) -> None:
    assert node_states([("n", state) for state in states]) == {"n": shown}


def test_tasks_without_a_node_are_not_shown() -> None:
    assert node_states([(None, "failed"), ("a", "success")]) == {"a": "success"}


def test_record_states_read_the_record_tasks() -> None:
    record = {
        "tasks": [
            {"task_id": "gate", "map_index": -1, "node": "gate", "state": "success"},
            {"task_id": "gate__passed", "map_index": -1, "node": "gate", "state": "success"},
            {"task_id": "deploy", "map_index": -1, "node": "deploy", "state": "skipped"},
        ]
    }
    assert record_states(record) == {"gate": "success", "deploy": "skipped"}
    assert record_states({"state": "queued"}) == {}


# ---- run-time parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "text", "value"),
    [
        (RuntimeParam(name="n", type="integer"), "3", 3),
        (RuntimeParam(name="n", type="integer"), " ", None),
        (RuntimeParam(name="x", type="number"), "0.45", 0.45),
        (RuntimeParam(name="s", type="string"), " keep spaces ", " keep spaces "),
        (RuntimeParam(name="b", type="boolean"), True, True),
        (RuntimeParam(name="b", type="boolean"), "false", False),
        (RuntimeParam(name="l", type="array"), "[1, 2]", [1, 2]),
        (RuntimeParam(name="o", type="object"), '{"a": 1}', {"a": 1}),
        (RuntimeParam(name="e", type="string", enum=["a", "b"]), "b", "b"),
    ],
)
def test_parameters_are_typed(param: RuntimeParam, text: Any, value: Any) -> None:
    assert parse_param(param, text) == value


@pytest.mark.parametrize(
    ("param", "text", "message"),
    [
        (RuntimeParam(name="epochs", type="integer"), "3.5", "epochs: enter a whole number"),
        (RuntimeParam(name="rate", type="number"), "fast", "rate: enter a number"),
        (RuntimeParam(name="rate", type="number"), "nan", "rate: enter a finite number"),
        (RuntimeParam(name="flag", type="boolean"), "yes", "flag: enter true or false"),
        (RuntimeParam(name="ids", type="array"), "{}", "ids: enter a JSON array"),
        (RuntimeParam(name="ids", type="array"), "[1,", "ids: not JSON"),
        (RuntimeParam(name="k", type="integer", minimum=1), "0", "k: 0 is below the minimum"),
        (RuntimeParam(name="e", type="string", enum=["a"]), "z", "e: 'z' is not one of the allowed values"),
    ],
)
def test_bad_parameters_say_what_to_enter(param: RuntimeParam, text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("[", r"\[").replace(".", r"\.")):
        parse_param(param, text)


# ---- settings and checks ------------------------------------------------------------------------


def test_each_project_has_one_workspace_and_each_pipeline_its_settings(services: EditorServices, home: Path) -> None:
    runs = services.runs
    project = services.local_project()
    first = services.create(project.id, _script_pipeline("One"))
    second = services.create(project.id, _script_pipeline("Two"))
    assert runs.workspace(project.id) == Workspace.at(home / "workspace" / f"project-{project.id}")
    assert runs.settings(first.id) == RunSettings()
    runs.save_settings(first.id, RunSettings(project_dir="/srv/code", conf={"epochs": 2}))
    assert runs.settings(first.id) == RunSettings(project_dir="/srv/code", conf={"epochs": 2})
    assert runs.settings(second.id) == RunSettings()


def test_the_folder_defaults_to_the_projects_git_checkout(services: EditorServices, tmp_path: Path) -> None:
    project = services.local_project()
    info = services.create(project.id, _script_pipeline())
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    services.set_git(project.id, str(checkout), "main")
    assert services.runs.settings(info.id).project_dir == str(checkout)


def test_a_pipeline_with_errors_does_not_start(services: EditorServices, tmp_path: Path) -> None:
    broken = _script_pipeline()
    broken.nodes[0].params["script"] = ""
    info = services.create(services.local_project().id, broken)
    with pytest.raises(
        UserError, match=r"fix the pipeline's 1 error\(s\).*\(node a, field script\): set the Python file"
    ):
        services.runs.start(info.id, broken, RunSettings(project_dir=str(tmp_path)))
    assert not list(services.runs.workspace(info.project_id).root.glob("runs/*/*"))


def test_the_project_folder_must_exist(services: EditorServices, tmp_path: Path) -> None:
    pipeline = _script_pipeline()
    with pytest.raises(UserError, match="choose the project folder"):
        services.runs.check(pipeline, RunSettings())
    with pytest.raises(UserError, match="does not exist"):
        services.runs.check(pipeline, RunSettings(project_dir=str(tmp_path / "missing")))
    assert services.runs.check(pipeline, RunSettings(project_dir=str(tmp_path))) == tmp_path.resolve()
    with pytest.raises(UserError, match="no steps"):
        services.runs.check(Pipeline(), RunSettings(project_dir=str(tmp_path)))


def test_history_and_records_come_from_the_workspace(services: EditorServices) -> None:
    info = services.create(services.local_project().id, _script_pipeline())
    runs = services.runs.workspace(info.project_id).runs
    for run_id, state in (("20260101T000000Z-aaaa", "success"), ("20260102T000000Z-bbbb", "failed")):
        write_json(runs / info.dag_id / run_id / "run.json", {"id": run_id, "dag_id": info.dag_id, "state": state})
    history = services.runs.history(info.id, info.dag_id)
    assert [record["state"] for record in history] == ["failed", "success"]
    assert services.runs.record(info.id, info.dag_id, "20260101T000000Z-aaaa")["state"] == "success"
    with pytest.raises(UserError, match="no longer in"):
        services.runs.record(info.id, info.dag_id, "20990101T000000Z-gone")


def test_a_monitor_brings_the_pipeline_it_retrains(services: EditorServices) -> None:
    ids = services.runs.create_example("keyword")
    pipeline_id, monitor_id = ids
    monitor = services.open_draft(monitor_id)[1]
    related = services.runs.related(monitor_id, monitor)
    assert [other.dag_id for other in related] == [services.open_draft(pipeline_id)[1].dag_id]
    assert services.runs.related(pipeline_id, services.open_draft(pipeline_id)[1]) == ()


def test_runnable_examples_copy_their_code_and_remember_the_folder(services: EditorServices, home: Path) -> None:
    for name, (title, documents) in RUNNABLE_EXAMPLES.items():
        ids = services.runs.create_example(name)
        assert len(ids) == len(documents)
        folder = home / "examples" / name
        assert (folder / "feature_repo" / "feature_store.yaml").is_file()
        assert all(services.runs.settings(i).project_dir == str(folder) for i in ids)
        assert any(project.name == title for project in services.projects())
    # Created again: the same pipelines, and the user's edits to the code stay.
    (home / "examples" / "keyword" / "service.py").write_text("# mine\n")
    assert services.runs.create_example("keyword") == services.runs.create_example("keyword")
    assert (home / "examples" / "keyword" / "service.py").read_text() == "# mine\n"
    with pytest.raises(UserError, match="no runnable example"):
        services.runs.create_example("nope")


def test_projects_list_the_local_one_first(services: EditorServices) -> None:
    services.runs.create_example("article")
    assert next(project.name for project in services.projects()) == "Local"


def test_logs_show_their_end(tmp_path: Path) -> None:
    log = tmp_path / "task.log"
    assert read_log(log) == ""
    log.write_text("".join(f"line {i}\n" for i in range(1000)))
    tail = read_log(log, limit=100)
    assert tail.startswith("… (the start of the log is cut)\n")
    assert tail.endswith("line 999\n") and "line 0\n" not in tail


# ---- MLflow links -------------------------------------------------------------------------------


def test_ui_links() -> None:
    assert server_base("https://me:pw@mlflow.example.com:5000/base/") == "https://mlflow.example.com:5000/base"
    assert server_base("sqlite:////tmp/mlflow.db") is None
    assert run_url("http://m", "3", "abc") == "http://m/#/experiments/3/runs/abc"
    assert version_url("http://m", "a b/c", "2") == "http://m/#/models/a%20b%2Fc/versions/2"


@pytest.mark.slow
def test_resolve_asks_mlflow_and_lists_the_record_when_it_cannot(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("keyword", artifact_location=str(tmp_path / "artifacts"))
    run = client.create_run(experiment, run_name="train-1")
    client.log_metric(run.info.run_id, "ndcg", 0.75)
    client.set_terminated(run.info.run_id)
    client.create_registered_model("keyword")
    version = client.create_model_version("keyword", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias("keyword", "champion", version.version)
    links = {
        "mlflow_runs": [{"run_id": run.info.run_id, "task": "train"}],
        "model_versions": [{"name": "keyword", "version": str(version.version), "aliases": [], "task": "register"}],
    }
    found = resolve(uri, links, "http://127.0.0.1:5999")
    assert found.error is None
    (got,) = found.runs
    assert (got.name, got.metrics, got.experiment_id, got.task) == ("train-1", {"ndcg": 0.75}, experiment, "train")
    assert got.url == f"http://127.0.0.1:5999/#/experiments/{experiment}/runs/{run.info.run_id}"
    (model,) = found.versions
    assert (model.aliases, model.run_id, model.task) == (("champion",), run.info.run_id, "register")
    assert model.url == "http://127.0.0.1:5999/#/models/keyword/versions/1"
    assert resolve(uri, links).runs[0].url is None  # a database has no UI of its own

    gone = resolve(uri, {**links, "mlflow_runs": [{"run_id": "0" * 32, "task": "train"}]})
    assert gone.error is not None and gone.error.startswith(f"MLflow at {uri}:")
    assert [item.run_id for item in gone.runs] == ["0" * 32]
    assert [item.name for item in gone.versions] == ["keyword"]


def test_one_start_at_a_time_per_pipeline(
    services: EditorServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = services.create(services.local_project().id, _script_pipeline())
    entered, release = threading.Event(), threading.Event()

    def slow_start(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(10)
        raise UserError("stopped by the test")

    monkeypatch.setattr(services.runs, "_start", slow_start)
    settings = RunSettings(project_dir=str(tmp_path))
    errors: list[str] = []

    def first() -> None:
        try:
            services.runs.start(info.id, _script_pipeline(), settings)
        except UserError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(10)
    with pytest.raises(UserError, match="starting already"):  # a second tab, a double click
        services.runs.start(info.id, _script_pipeline(), settings)
    release.set()
    thread.join(10)
    assert errors == ["stopped by the test"]
    with pytest.raises(UserError, match="stopped by the test"):  # the first start is over: a new one may go
        services.runs.start(info.id, _script_pipeline(), settings)


def test_a_run_that_cannot_start_says_why_and_is_not_left_queued(
    services: EditorServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagsmith.editor.runs import runner

    def no_runner(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runner, "ensure_runner", no_runner)
    info = services.create(services.local_project().id, _script_pipeline())
    with pytest.raises(UserError, match=r"could not start.*No space left on device"):
        services.runs.start(info.id, _script_pipeline(), RunSettings(project_dir=str(tmp_path)))
    (record,) = services.runs.history(info.id, info.dag_id)
    assert record["state"] == "failed" and "No space left" in record["error"]
    assert services.runs.active(info.id) is None


def test_damaged_records_and_settings_are_skipped(services: EditorServices) -> None:
    info = services.create(services.local_project().id, _script_pipeline())
    runs = services.runs.workspace(info.project_id).runs / info.dag_id
    for name, text in (("a", "null"), ("b", "[1]"), ("c", '{"id": 3}'), ("d", "{broken")):
        (runs / name).mkdir(parents=True)
        (runs / name / "run.json").write_text(text)
    write_json(runs / "e" / "run.json", {"id": "e", "dag_id": info.dag_id, "state": "success"})
    assert [record["id"] for record in services.runs.history(info.id, info.dag_id)] == ["e"]
    settings = services.runs.workspace(info.project_id).root / "editor" / f"pipeline-{info.id}.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("[]")
    assert services.runs.settings(info.id) == RunSettings()


def test_a_deleted_pipeline_is_a_clear_message(services: EditorServices) -> None:
    with pytest.raises(UserError, match="pipeline 999 no longer exists"):
        services.runs.settings(999)


def test_runs_stay_in_the_history_after_a_rename(services: EditorServices) -> None:
    info = services.create(services.local_project().id, _script_pipeline("Old name"))
    runs = services.runs.workspace(info.project_id).runs
    services.runs.save_settings(info.id, RunSettings(), dag_id="old_name")  # what a start records
    write_json(
        runs / "old_name" / "20260101T000000Z-aaaa" / "run.json", {"id": "20260101T000000Z-aaaa", "dag_id": "old_name"}
    )
    write_json(
        runs / "new_name" / "20260102T000000Z-bbbb" / "run.json", {"id": "20260102T000000Z-bbbb", "dag_id": "new_name"}
    )
    write_json(
        runs / "other" / "20260103T000000Z-cccc" / "run.json", {"id": "20260103T000000Z-cccc", "dag_id": "other"}
    )
    history = services.runs.history(info.id, "new_name")
    assert [record["dag_id"] for record in history] == ["new_name", "old_name"]
    assert services.runs.ran_as(info.id) == {"old_name"}
