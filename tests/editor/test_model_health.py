"""Model health (issue 13's decay dashboard): a real MLflow SQLite store read into the dashboard's model.

The store (health_store.py) is built once per module: three versions of a model (v2 fails the gate),
monitoring runs of v1 and then of v3 over ten days with the metric crossing the threshold twice, two
retraining triggers and the champion alias moved from v1 to v3. Nothing is mocked; times are fixed
relative to ``NOW``.
"""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import pytest
from health_store import DAY, MODEL, NOW, build_store, pipeline_document
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor import cli
from dagsmith.editor.integrations import ComponentUnavailable
from dagsmith.editor.integrations.decay import (
    Measurement,
    Trigger,
    alias_spans,
    duration,
    model_health,
    status_text,
)
from dagsmith.editor.integrations.decay_reader import HealthReport, health_location, read_health
from dagsmith.editor.integrations.decay_watch import Watch, watched_models
from dagsmith.editor.pages import register_pages
from dagsmith.editor.pages.health import health_page
from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Node, Pipeline, save


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_store(tmp_path_factory.mktemp("mlflow-health"))


@pytest.fixture(scope="module")
def report(mlflow_uri: str) -> HealthReport:
    return read_health(mlflow_uri, pipeline_document(), now=NOW)


def test_the_pipeline_watches_the_registered_model_through_the_gate() -> None:
    (model,) = watched_models(pipeline_document())
    assert model.name == MODEL
    assert [(w.node, w.metric, w.threshold, w.trigger_when) for w in model.monitors] == [
        ("watch", "ctr", 0.035, "below")
    ]
    assert [(g.node, g.metric, g.threshold) for g in model.gates] == [("gate", "val_auc", 0.75)]
    assert watched_models(Pipeline.model_validate({"settings": {"name": "Blank"}})) == []


def test_one_series_per_version_with_the_threshold_and_the_triggers(report: HealthReport) -> None:
    (health,) = report.models
    (panel,) = health.panels
    assert list(panel.series) == ["1", "3"]
    assert [value for _, value in panel.series["1"]] == [0.05, 0.045, 0.033, 0.031]
    assert [round((NOW - at) / DAY, 1) for at, _ in panel.series["3"]] == [6.0, 3.0, 2.5]
    assert (panel.watch.threshold, panel.watch.trigger_when) == (0.035, "below")
    assert [(t.triggered_run_id, round((NOW - t.time) / DAY, 1), t.value) for t in panel.triggers] == [
        ("r1", 7.5, 0.033),
        ("r2", 2.0, 0.032),
    ]


def test_who_held_the_champion_alias_when(report: HealthReport) -> None:
    (panel,) = report.models[0].panels
    spans = [(s.version, round((NOW - s.start) / DAY, 1), s.end and round((NOW - s.end) / DAY, 1)) for s in panel.spans]
    assert spans == [("1", 10.0, 6.0), ("3", 6.0, None)]
    assert [s.inferred for s in panel.spans] == [True, False]  # the current holder is the registry's


def test_the_version_table_with_the_gate_metric_aliases_and_the_gate_outcome(report: HealthReport) -> None:
    health = report.models[0]
    assert health.gate_metric == "val_auc"
    rows = [(r.version, r.metric, r.aliases, r.passed) for r in health.versions]
    assert rows == [("1", 0.80, (), True), ("2", 0.78, (), False), ("3", 0.85, ("champion",), True)]


def test_the_status_in_words(report: HealthReport) -> None:
    (panel,) = report.models[0].panels
    assert not panel.healthy
    assert panel.status == (
        "ctr 0.032 (v3) is below the threshold 0.035 since 3 days; "
        "retraining was triggered 2 days ago (run r2); the cooldown ends in 24 h"
    )


def test_status_healthy_no_trigger_and_cooldown_over() -> None:
    watch = Watch("w", "ctr", 0.035, "below", "exp", 24, "retrain", "champion")
    fine = [Measurement("1", NOW - 3600, 0.04, "a")]
    assert status_text(watch, fine, [], NOW) == ("healthy: ctr 0.04 (v1) is above the threshold 0.035", True)
    low = [Measurement("1", NOW - 5 * 3600, 0.03, "a")]
    text, healthy = status_text(watch, low, [], NOW)
    assert not healthy and text.endswith("since 5 h; no retraining of retrain was triggered yet")
    old = [Trigger(NOW - 30 * 3600, "t", "r9", "retrain")]
    long_low = [Measurement("1", NOW - 40 * 3600, 0.03, "a")]
    over = "the cooldown is over: the monitor's next run may trigger again"
    assert status_text(watch, long_low, old, NOW)[0].endswith(over)
    before = [Trigger(NOW - 9 * 3600, "t", "r8", "retrain")]  # before the metric crossed: not this crossing's
    assert status_text(watch, low, before, NOW)[0].endswith(
        "no retraining was triggered since (the last one, run r8, 9 h ago)"
    )
    newer_candidate = [*low, Measurement("2", NOW - 60, 0.05, "b")]  # the monitor reads v1 (the alias's)
    assert status_text(watch, newer_candidate, [], NOW, holder="1")[0].startswith("ctr 0.03 (v1) is below")
    assert status_text(watch, newer_candidate, [], NOW)[0].startswith("healthy: ctr 0.05 (v2)")
    above = Watch("w", "psi", 0.2, "above", "exp", 24, "retrain", "champion")
    assert status_text(above, [Measurement("2", NOW, 0.1, "a")], [], NOW)[1]
    assert "no measurement of ctr yet" in status_text(watch, [], [], NOW)[0]
    unset = Watch("w", "ctr", math.nan, "below", "exp", 24, "retrain", "champion")
    assert "has no threshold" in status_text(unset, fine, [], NOW)[0]
    assert (duration(30), duration(3 * 3600), duration(3 * DAY)) == ("0 min", "3 h", "3 days")


def test_alias_spans_without_a_registry_holder() -> None:
    points = [Measurement("1", 10.0, 1.0, "a"), Measurement("2", 20.0, 1.0, "b"), Measurement("2", 30.0, 1.0, "c")]
    spans = alias_spans(points, [], "champion")
    assert [(s.version, s.start, s.end) for s in spans] == [("1", 10.0, 20.0), ("2", 20.0, 30.0)]


def test_a_model_not_registered_yet_and_an_experiment_that_does_not_exist(mlflow_uri: str) -> None:
    document = pipeline_document(model_name="not-yet", monitoring_experiment="nowhere")
    document.edges.clear()
    models = {m.name: m for m in read_health(mlflow_uri, document, now=NOW).models}
    assert "no registered model 'not-yet'" in models["not-yet"].note
    assert "no measurement of ctr yet" in models["not-yet"].panels[0].status


def test_unreachable_or_unconfigured_mlflow_says_where_and_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.db"
    with pytest.raises(ComponentUnavailable, match=f"MLflow at sqlite:///{missing} is not reachable"):
        read_health(f"sqlite:///{missing}", pipeline_document())
    with pytest.raises(ComponentUnavailable, match="set MLFLOW_TRACKING_URI"):
        read_health("  ", pipeline_document())
    with pytest.MonkeyPatch.context() as mp:
        for name in ("MLFLOW_TRACKING_URI", "DAGSMITH_MLFLOW_TRACKING_URI", "DAGSMITH_WORKSPACE"):
            mp.delenv(name, raising=False)
        mp.setenv("DAGSMITH_HOME", str(tmp_path))
        with pytest.raises(ComponentUnavailable, match="MLflow is not configured"):
            health_location(pipeline_document(), tmp_path / "workspace")


def test_the_tracking_uri_falls_back_to_the_pipelines_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_TRACKING_URI", "DAGSMITH_MLFLOW_TRACKING_URI", "DAGSMITH_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path))
    document = pipeline_document()
    document.settings.mlflow.tracking_uri = "http://mlflow.mlops.svc:5000"
    found = health_location(document, tmp_path / "workspace")
    assert (found.location, found.source) == ("http://mlflow.mlops.svc:5000", "the pipeline's MLflow setting")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert health_location(document, tmp_path / "workspace").location == "http://env:5000"


# -- the page (NiceGUI's simulated user) ------------------------------------------------------------------
@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EditorServices:
    for name in ("MLFLOW_TRACKING_URI", "DAGSMITH_MLFLOW_TRACKING_URI", "DAGSMITH_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    return EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")


async def open_health(user: User, services: EditorServices, document: Pipeline) -> int:
    info = services.create(services.local_project().id, document)

    @ui.page("/pipeline/{pipeline_id}/health")
    async def page(pipeline_id: int) -> None:
        await health_page(services, pipeline_id)

    await user.open(f"/pipeline/{info.id}/health")
    return info.id


def texts(user: User, marker: str) -> list[str]:
    found = sorted(user.find(marker=marker).elements, key=lambda element: element.id)  # a set: page order by id
    return [element.text for element in found]  # type: ignore[attr-defined]


async def test_the_page_shows_status_chart_alias_holders_and_versions(
    user: User, services: EditorServices, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    await open_health(user, services, pipeline_document())
    await user.should_see(marker=f"health-status-{MODEL}-watch", retries=300)
    (status,) = texts(user, f"health-status-{MODEL}-watch")
    assert status.startswith("ctr 0.032 (v3) is below the threshold 0.035 since ")
    assert "retraining was triggered " in status and "(run r2)" in status
    assert texts(user, "health-where") == [f"MLflow: {mlflow_uri} (from MLFLOW_TRACKING_URI)"]
    (chart,) = user.find(marker=f"health-chart-{MODEL}-watch").elements
    series = {item["name"]: item for item in chart.options["series"]}  # type: ignore[attr-defined]
    threshold = "threshold (retrain below 0.035)"
    assert list(series) == ["v1", "v3", threshold, "retraining triggered"]
    assert [value for _, value in series["v3"]["data"]] == [0.05, 0.034, 0.032]
    first, last = (round((NOW - at / 1000) / DAY, 1) for at, _ in series[threshold]["data"])
    assert (first, last) == (10.0, 2.0) and {value for _, value in series[threshold]["data"]} == {0.035}
    assert [mark["name"] for mark in series[threshold]["markLine"]["data"]] == ["v3 @champion"]
    assert [item["name"] for item in series["retraining triggered"]["data"]] == ["run r1", "run r2"]
    holders = texts(user, "health-alias")
    assert holders[0].startswith("v1 held @champion from ") and holders[0].endswith(
        "(inferred from the monitoring runs)"
    )
    assert holders[1].startswith("v3 holds @champion since ") and holders[1].endswith("(from the registry)")
    (table,) = user.find(marker=f"health-versions-{MODEL}").elements
    rows = [(row["version"], row["metric"], row["aliases"], row["gate"]) for row in table.rows]  # type: ignore[attr-defined]
    assert rows == [("v3", "0.85", "@champion", "passed"), ("v2", "0.78", "—", "failed"), ("v1", "0.8", "—", "passed")]


async def test_the_page_without_a_monitor_says_how_to_add_one(user: User, services: EditorServices) -> None:
    await open_health(user, services, Pipeline.model_validate({"settings": {"name": "Blank"}}))
    await user.should_see(marker="health-empty", retries=100)
    assert "Add a Monitor node" in texts(user, "health-empty")[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_page_with_mlflow_unreachable_names_it_and_what_to_do(
    user: User, services: EditorServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://ops:s3cret@127.0.0.1:{port}")
    await open_health(user, services, pipeline_document())
    await user.should_see(marker="health-error", retries=300)
    (message,) = texts(user, "health-error")
    shown = f"http://ops:***@127.0.0.1:{port}"  # a team server's viewers see no password
    assert message.startswith(f"MLflow at {shown} is not reachable") and "set MLFLOW_TRACKING_URI" in message
    assert texts(user, "health-where") == [f"MLflow: {shown} (from MLFLOW_TRACKING_URI)"]


async def test_a_pipeline_that_does_not_exist(user: User, services: EditorServices) -> None:
    @ui.page("/pipeline/{pipeline_id}/health")
    async def page(pipeline_id: int) -> None:
        await health_page(services, pipeline_id)

    await user.open("/pipeline/999/health")
    await user.should_see("does not exist")


async def test_the_pipeline_page_links_to_its_health_page(user: User, services: EditorServices) -> None:
    info = services.create(services.local_project().id, Pipeline.model_validate({"settings": {"name": "Blank"}}))
    register_pages(services)
    await user.open(f"/pipeline/{info.id}")
    user.find(marker="open-health").click()
    await user.should_see(marker="health-empty", retries=100)
    user.find(marker="health-back")  # and back to the pipeline


# -- the command line ---------------------------------------------------------------------------------------
def test_the_health_command_prints_the_status_and_the_table(
    mlflow_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "keyword.dagsmith.json"
    save(pipeline_document(), file)
    assert cli.run(["health", str(file), "--tracking-uri", mlflow_uri]) == 1  # the metric crossed the threshold
    out = capsys.readouterr().out
    assert f"MLflow: {mlflow_uri} (from --tracking-uri)" in out
    assert "DECAYED: ctr 0.032 (v3) is below the threshold 0.035 since " in out
    assert "retraining triggered " in out and ": run r2" in out
    table = [line.split() for line in out.splitlines() if line.startswith("  v") and "UTC" in line]
    assert [(row[0], row[-3], row[-2], row[-1]) for row in table] == [
        ("v3", "0.85", "@champion", "passed"),
        ("v2", "0.78", "-", "failed"),
        ("v1", "0.8", "-", "passed"),
    ]
    assert cli.run(["health", str(file), "--tracking-uri", mlflow_uri, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["healthy"] is False
    (model,) = data["models"]
    assert model["name"] == MODEL and list(model["panels"][0]["series"]) == ["1", "3"]


def test_the_health_command_without_mlflow_or_monitor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "keyword.dagsmith.json"
    save(pipeline_document(), file)
    missing = tmp_path / "none.db"
    assert cli.run(["health", str(file), "--tracking-uri", f"sqlite:///{missing}"]) == 2
    assert f"MLflow at sqlite:///{missing} is not reachable" in capsys.readouterr().err
    blank = tmp_path / "blank.dagsmith.json"
    save(Pipeline.model_validate({"settings": {"name": "Blank"}}), blank)
    assert cli.run(["health", str(blank)]) == 2
    assert "has no Monitor or Model gate node: add a Monitor node" in capsys.readouterr().err


def test_a_drift_monitor_a_monitor_naming_its_model_and_a_register_only_model() -> None:
    document = pipeline_document(source="drift", model_name="keyword-drift")
    document.nodes.append(Node(id="other", type="register_model", params={"model_name": "user-targeting"}))
    models = {model.name: model for model in watched_models(document)}
    assert list(models) == [MODEL, "keyword-drift", "user-targeting"]
    assert [w.node for w in models["keyword-drift"].monitors] == ["watch"] and not models[MODEL].monitors
    trigger = Trigger(NOW - DAY, "t1", "r1", "keyword_retrain", 0.4)
    health = model_health(models["keyword-drift"], [], {"watch": []}, {"watch": [trigger]}, NOW)
    (panel,) = health.panels
    assert (
        panel.status.startswith("no drift of ctr recorded yet: the monitor logs each measurement")
        and "1 retraining trigger" in panel.status
    )
    assert panel.triggers == [trigger] and panel.series == {}
    registered = model_health(models["user-targeting"], [], {}, {}, NOW)
    assert registered.panels == [] and "no Monitor node watches this model" in registered.note
