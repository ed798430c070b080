"""The model health page in a real browser (headless Chromium against ``dagsmith edit``).

The server reads the MLflow store of the project's local runs (its run workspace), as the pipeline's runs
do; the test checks that the status shows and that ECharts drew the chart with a series per version, the
threshold and the triggers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import screenshot_on_failure, wait_for, with_token
from health_store import build_store, pipeline_document

from dagsmith.editor.services import EditorServices

pytestmark = pytest.mark.slow

SERIES = """
const element = document.querySelector('[_echarts_instance_]');
const chart = element && getElement(element) && getElement(element).chart;
const option = chart && chart.getOption();
return option ? option.series.map(s => s.name + ':' + s.data.length) : null;
"""


TRIGGER_TIP = """
const element = document.querySelector('[_echarts_instance_]');
getElement(element).chart.dispatchAction({type: 'showTip', seriesIndex: 3, dataIndex: 1});
const tip = [...element.querySelectorAll('div')].find(d => d.textContent.includes('run r2'));
return tip ? tip.textContent : null;
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("health-home")


def test_the_health_page_draws_the_chart_and_says_the_status(
    server: str, driver: Any, services: EditorServices, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = services.create(services.local_project().id, pipeline_document())
    monkeypatch.setenv("DAGSMITH_HOME", str(home))  # the server's home: where its runs' workspaces are
    monkeypatch.delenv("DAGSMITH_WORKSPACE", raising=False)
    store = services.runs.workspace(info.project_id).mlflow
    if not (store / "mlflow.db").exists():  # a rerun finds the store the first try made
        build_store(store)

    with screenshot_on_failure(driver, "model-health"):
        driver.get(with_token(f"{server}/pipeline/{info.id}/health"))

        def status() -> str | None:
            text = str(driver.execute_script("return document.body.textContent"))
            ends = ("is below the threshold 0.035", "is not reachable", "not configured", "answered with an error")
            return text if any(end in text for end in ends) else None

        shown = wait_for(status, "the model health status", timeout=90)
        assert "ctr 0.032 (v3) is below the threshold 0.035 since " in shown, shown
        assert "(run r2)" in shown
        series = wait_for(lambda: driver.execute_script(SERIES), "the chart's series", timeout=30)
        assert series == ["v1:4", "v3:3", "threshold (retrain below 0.035):2", "retraining triggered:2"]
        tip = wait_for(lambda: driver.execute_script(TRIGGER_TIP), "the second trigger's tooltip", timeout=30)
    assert tip.startswith("retraining triggered") and tip.endswith("UTC: 0.032run r2"), tip
