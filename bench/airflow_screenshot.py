"""The README's picture of the Airflow UI running an exported example (assets/airflow-ui-run.png).

``dagsmith airflow up`` starts a real local Airflow 3 for a scratch copy of the keyword workload
(nodes/examples/workloads/keyword: its pipeline and monitor, rendered for this machine). The keyword
pipeline is unpaused and a run triggered through the REST API v2 with the printed login; once it has
finished, headless Chromium logs in to the Airflow UI with the same login and opens the run's page (the
grid of task states beside the run's details). The page is captured, reduced to 256 colours to keep the
PNG small, and ``dagsmith airflow down`` stops the instance (the served model is stopped as well).

    .venv/bin/python bench/airflow_screenshot.py [OUT.png]      # needs chromium and chromium-driver
"""

from __future__ import annotations

import io
import re
import shutil
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "editor"))  # browser, local Airflow

from airflow_fixtures import clean_env, dagsmith, free_port
from browser import chromium, wait_for
from PIL import Image
from selenium.webdriver.common.by import By

from dagsmith.editor.airflow_local.api import ApiError, Client
from dagsmith.editor.runs import Workspace, stop_runner, stop_serving

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "nodes" / "examples" / "workloads" / "keyword"
DAG_PREFIX = "keyword_recommendation"
SIZE = (1440, 900)
RUN_TIMEOUT = 900.0


def trigger_and_wait(client: Client, dag_id: str) -> tuple[str, str]:
    """Unpause the DAG, trigger a run and wait until it has finished: (run id, its final state)."""
    client.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})
    run = client.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": {}})
    run_id, state = str(run["dag_run_id"]), str(run["state"])
    deadline = time.monotonic() + RUN_TIMEOUT
    while state not in ("success", "failed") and time.monotonic() < deadline:
        time.sleep(2)
        with suppress(ApiError):  # a busy API server may not answer one call in time
            state = str(client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])
    return run_id, state


def log_in(driver: Any, url: str, user: str, password: str) -> None:
    """Sign in on the simple auth manager's login page, as a person would."""
    driver.get(url + "/")
    secret = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "input[type=password]"), "the login form", 60)
    driver.find_element(By.CSS_SELECTOR, "input:not([type=password])").send_keys(user)
    secret[0].send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: "/auth/" not in driver.current_url, "the UI after logging in", 60)


def capture(url: str, user: str, password: str, *, dag_id: str, run_id: str, tasks: list[str]) -> Image.Image:
    """The run's page in the Airflow UI, once its grid shows the tasks."""
    driver = chromium(width=SIZE[0], height=SIZE[1])
    try:
        log_in(driver, url, user, password)
        driver.get(f"{url}/dags/{dag_id}/runs/{run_id}")
        text = "return document.body.textContent"
        labels = {task.split(".")[-1] for task in tasks}  # a task group's tasks show their own names
        wait_for(lambda: any(label in driver.execute_script(text) for label in labels), "the run's task grid", 90)
        time.sleep(3)  # a picture, not a check: let the grid's and the header's last requests draw
        return Image.open(io.BytesIO(driver.get_screenshot_as_png()))
    finally:
        driver.quit()


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "assets" / "airflow-ui-run.png"
    with tempfile.TemporaryDirectory(prefix="dagsmith-airflow-shot-") as scratch:
        folder = Path(scratch)
        project, workspace = folder / "keyword", folder / "workspace"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
        env = clean_env(folder / "home")
        where = ("--project-dir", str(project), "--home", str(workspace))
        try:
            up = dagsmith("airflow", "up", *where, "--port", str(free_port()), env=env)
            url = re.search(r"(http://127\.0\.0\.1:\d+)", up.stdout)
            login = re.search(r"login: (\S+) / (\S+)", up.stdout)
            if up.returncode != 0 or not url or not login:
                print(f"dagsmith airflow up failed:\n{up.stdout}{up.stderr}", file=sys.stderr)
                return 1
            print(up.stdout, end="", flush=True)
            client = Client(url[1], login[1], login[2], timeout=60)
            dag_id = next(each for each in client.dag_ids() if each.startswith(DAG_PREFIX))
            run_id, state = trigger_and_wait(client, dag_id)
            print(f"{dag_id} run {run_id}: {state}", flush=True)
            instances = client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
            tasks = sorted({str(each["task_id"]) for each in instances})
            shot = capture(url[1], login[1], login[2], dag_id=dag_id, run_id=run_id, tasks=tasks)
        finally:
            down = dagsmith("airflow", "down", *where, env=env, timeout=300)
            print(f"dagsmith airflow down: exit status {down.returncode} {down.stdout}{down.stderr}".strip())
            stop_serving(Workspace.at(workspace).serving)
            stop_runner(workspace)
    shot.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"{out}: {shot.size[0]}x{shot.size[1]}, {out.stat().st_size // 1024} KB")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
