"""The Runs tab lists a run's stored artifacts with their manifests and downloads one (real Chromium, issue 10).

The run record and the store are written directly, as the local runner and the artifact layer write them: a
shared folder holds a file output and a folder output, each with its manifest; a file with no manifest and a
manifest that points outside the store are there too, and are not offered.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import BrowserCheckError, chromium, count, screenshot_on_failure, show_tab, wait_for, with_token

from dagsmith.editor.runs.records import write_json
from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Node, Pipeline

pytestmark = pytest.mark.slow

RUN_ID = "20260105T050000Z-cd34"
AIRFLOW_RUN = "manual__2026-01-05T05:00:00+00:00"
RUN_KEY = "manual__2026-01-05T05_00_00_00_00"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts-home")


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def driver(downloads: Path) -> Iterator[Any]:
    try:
        browser = chromium(downloads=downloads)
    except BrowserCheckError as exc:
        pytest.fail(str(exc))
    try:
        yield browser
    finally:
        browser.quit()


def _manifest(dag_id: str, node: str, port: str, uri: Path, *, kind: str, files: dict[str, bytes]) -> dict[str, Any]:
    if kind == "file":
        digest = hashlib.sha256(files[""]).hexdigest()
    else:
        lines = "".join(f"{hashlib.sha256(data).hexdigest()}  {rel}\n" for rel, data in sorted(files.items()))
        digest = hashlib.sha256(lines.encode()).hexdigest()
    return {
        "pipeline": dag_id,
        "dag_id": dag_id,
        "version": 1,
        "run_id": AIRFLOW_RUN,
        "node": node,
        "task_id": node,
        "port": port,
        "uri": str(uri),
        "kind": kind,
        "sha256": digest,
        "size": sum(len(data) for data in files.values()),
        "files": len(files),
        "access": {"level": "groups", "groups": ["marketing"]}
        if port == "scores"
        else {"level": "private", "groups": []},
        "written_at": "2026-01-05T05:01:02+00:00",
        "runtime_version": "1",
    }


def store_run(home: Path, project_id: int, dag_id: str, root: Path) -> dict[str, bytes]:
    """A finished run's record and what it stored in ``root``; the bytes of the file output."""
    data = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit: more than one chunk
    scores = root / dag_id / RUN_KEY / "score" / "scores-20260105"
    scores.parent.mkdir(parents=True)
    scores.write_bytes(data)
    (root / dag_id / RUN_KEY / "score" / "scores-20260105.manifest.json").write_text(
        json.dumps(_manifest(dag_id, "score", "scores", scores, kind="file", files={"": data}))
    )
    report = root / dag_id / RUN_KEY / "report" / "pages"
    (report / "sub").mkdir(parents=True)
    (report / "index.html").write_bytes(b"<h1>report</h1>")
    (report / "sub" / "plot.svg").write_bytes(b"<svg/>")
    files = {"index.html": b"<h1>report</h1>", "sub/plot.svg": b"<svg/>"}
    (report / "_dagsmith_manifest.json").write_text(
        json.dumps(_manifest(dag_id, "report", "pages", report, kind="folder", files=files))
    )
    (root / dag_id / RUN_KEY / "score" / "unlisted").write_bytes(b"no manifest")  # never offered
    outside = _manifest(dag_id, "score", "secrets", Path("/etc/hostname"), kind="file", files={"": b"x"})
    (root / dag_id / RUN_KEY / "score" / "secrets.manifest.json").write_text(json.dumps(outside))  # points outside
    folder = home / "workspace" / f"project-{project_id}" / "runs" / dag_id / RUN_ID
    write_json(
        folder / "run.json",
        {
            "id": RUN_ID,
            "dag_id": dag_id,
            "airflow_run_id": AIRFLOW_RUN,
            "state": "success",
            "started": "2026-01-05T05:00:00+00:00",
            "ended": "2026-01-05T05:02:00+00:00",
            "artifact_store": {"root": str(root), "endpoint_url": None, "region": None},
            "tasks": [],
        },
    )
    return {"scores": data}


def _downloaded(downloads: Path, name: str) -> bytes | None:
    path = downloads / name
    if path.exists() and not any(downloads.glob("*.crdownload")):
        return path.read_bytes()
    return None


def test_the_runs_tab_lists_a_runs_artifacts_and_downloads_one(
    driver: Any, server: str, services: EditorServices, *, home: Path, downloads: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    pipeline = Pipeline.model_validate(
        {
            "settings": {"name": "Scored users"},
            "nodes": [Node(id="score", type="script", params={"script": "s.py"}).model_dump()],
        }
    )
    info = services.create(services.local_project().id, pipeline)
    # The stored dag_id: a rerun of this test creates the pipeline again, and the second one is numbered.
    pipeline = pipeline.model_copy(update={"settings": pipeline.settings.model_copy(update={"dag_id": info.dag_id})})
    assert pipeline.dag_id == info.dag_id
    stored = store_run(home, services.local_project().id, pipeline.dag_id, tmp_path / "shared")
    with screenshot_on_failure(driver, "run-artifacts"):
        driver.get(with_token(f"{server}/pipeline/{info.id}"))
        wait_for(lambda: count(driver, ".vue-flow__node") == 1, "the pipeline on the canvas")
        show_tab(driver, "Runs")
        wait_for(lambda: driver.find_element(By.XPATH, f"//*[normalize-space(text())='{RUN_ID}']"), "the run").click()
        wait_for(
            lambda: count(driver, "[data-dagsmith^='artifact-'][data-dagsmith$='-download']") == 2, "two artifacts"
        )
        card = driver.find_element(By.CSS_SELECTOR, "[data-dagsmith='artifact-score-scores']")
        text = card.text
        expected = _manifest(
            pipeline.dag_id, "score", "scores", tmp_path / "shared", kind="file", files={"": stored["scores"]}
        )
        assert "score · scores" in text and "groups: marketing" in text
        assert str(tmp_path / "shared" / pipeline.dag_id / RUN_KEY / "score" / "scores-20260105") in text
        assert f"sha256 {expected['sha256']}" in text and "1.0 MiB" in text and "2026-01-05T05:01:02+00:00" in text
        folder = driver.find_element(By.CSS_SELECTOR, "[data-dagsmith='artifact-report-pages']").text
        assert "2 files" in folder and "private" in folder
        assert "unlisted" not in driver.find_element(By.CSS_SELECTOR, "[data-dagsmith='run-artifacts']").text
        assert "secrets" not in driver.find_element(By.CSS_SELECTOR, "[data-dagsmith='run-artifacts']").text
        driver.find_element(By.CSS_SELECTOR, "[data-dagsmith='artifact-score-scores-download']").click()
        got = wait_for(lambda: _downloaded(downloads, "scores-20260105"), "the downloaded file", timeout=30)
        assert got == stored["scores"]
        driver.find_element(By.CSS_SELECTOR, "[data-dagsmith='artifact-report-pages-download']").click()
        archive = wait_for(lambda: _downloaded(downloads, "pages.zip"), "the downloaded folder", timeout=30)
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            assert {name: zipped.read(name) for name in zipped.namelist()} == {
                "index.html": b"<h1>report</h1>",
                "sub/plot.svg": b"<svg/>",
            }
        # A stored artifact whose manifest went away is refused, and says so.
        (tmp_path / "shared" / pipeline.dag_id / RUN_KEY / "score" / "scores-20260105.manifest.json").unlink()
        (downloads / "scores-20260105").unlink()
        driver.find_element(By.CSS_SELECTOR, "[data-dagsmith='artifact-score-scores-download']").click()
        wait_for(
            lambda: "no longer in the store" in driver.find_element(By.CSS_SELECTOR, ".q-notification").text,
            "the refusal",
        )
        time.sleep(1)  # a download that was (wrongly) started would have landed by now
        assert not (downloads / "scores-20260105").exists()
