"""The new-user walkthrough of issue 11, end to end in a real browser (headless Chromium, ``dagsmith edit``).

A person new to dagsmith sets the project's git repository on the start page, creates a blank pipeline
(answering the dialog's questions about the default image and GPU settings), adds six steps from the
palette (a data-preparing script, a GPU training script, MLflow registration, the model gate, a BentoML
build and a BentoML deployment), connects them by dragging their handles, fills every required field,
watches the problems panel reach "No problems", reviews the export and commits it to git (the committed
bytes are the previewed bytes, with the same version), then runs the pipeline on this machine with real
Airflow, MLflow and BentoML and watches every step reach success. Everything is clicked, dragged and typed
key by key as a person does: no value is set by script and nothing is pasted. The step code (three small
files) is written to a temporary project folder first, as the user's own repository would hold it.
Screenshots: artifacts/walkthrough-<n>-<step>.png, and artifacts/walkthrough-failure.png where it stopped.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import (
    count,
    drag_handle,
    drop_from_palette,
    handle,
    node_ids,
    node_selector,
    pan_into_view,
    screenshot,
    screenshot_on_failure,
    server_log,
    severe_logs,
    wait_for,
    with_token,
)
from test_forms_browser import field, focused_field, inspector_title, type_keys

pytestmark = pytest.mark.slow

NAME = "GPU walkthrough"
DAG_ID = "gpu_walkthrough"
MODEL = "walkthrough-model"
RUN_TIMEOUT = 480
DIALOG = "//div[contains(@class,'q-dialog')]"

PREPARE = '''"""Write a small labelled dataset (CSV) to the step's output path."""

import os
from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(3)
x = rng.normal(size=(400, 2))
frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "label": (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)})
out = Path(os.environ["DAGSMITH_OUTPUT_OUTPUT"])
out.parent.mkdir(parents=True, exist_ok=True)
frame.to_csv(out, index=False)
print(f"wrote {len(frame)} rows to {out}")
'''

TRAIN = '''"""Train a tiny classifier on the upstream CSV, log it to MLflow and report the run (the step contract)."""

import json
import os
from pathlib import Path

import mlflow
import pandas as pd
from sklearn.linear_model import LogisticRegression

frame = pd.read_csv(os.environ["DAGSMITH_INPUT_UPSTREAM_0"])
model = LogisticRegression().fit(frame[["a", "b"]], frame["label"])
score = float(model.score(frame[["a", "b"]], frame["label"]))
mlflow.set_experiment(os.environ["DAGSMITH_DAG_ID"])
with mlflow.start_run() as run:
    mlflow.log_metric("accuracy", score)
    mlflow.sklearn.log_model(model, name="model", input_example=frame[["a", "b"]].head(2))
print(f"run {run.info.run_id}: accuracy={score:.3f}")
xcom = Path(os.environ.get("DAGSMITH_XCOM_FILE") or "/airflow/xcom/return.json")
xcom.parent.mkdir(parents=True, exist_ok=True)
xcom.write_text(json.dumps({"run": {"run_id": run.info.run_id}}))
'''

SERVICE = f'''"""The walkthrough model as a BentoML service."""

import bentoml
import pandas as pd


@bentoml.service(workers=1)
class Scorer:
    model_ref = bentoml.models.BentoModel("{MODEL}")

    def __init__(self) -> None:
        self.model = bentoml.mlflow.load_model(self.model_ref)

    @bentoml.api
    def predict(self, rows: list[dict[str, float]]) -> list[float]:
        return [float(v) for v in self.model.predict(pd.DataFrame(rows))]
'''


# The six steps: palette kind, where it is dropped (fractions of the pane), and the fields typed into its form
# (dotted path -> text). The GPU count and the training step's declared MLflow-run output are set separately.
STEPS: list[tuple[str, tuple[float, float], dict[str, str]]] = [
    ("script", (0.15, 0.3), {"label": "Prepare data", "script": "prepare.py"}),
    ("script", (0.45, 0.3), {"label": "Train", "script": "train.py", "pod.resources.gpu": "1"}),
    ("register_model", (0.75, 0.3), {"model_name": MODEL}),
    ("model_gate", (0.15, 0.7), {"metric": "accuracy", "threshold": "0.5"}),
    (
        "bentoml_build",
        (0.45, 0.7),
        {
            "bento_name": "walkthrough",
            "service": "service:Scorer",
            "image_repository": "registry.example.com/ml/walkthrough",
        },
    ),
    ("bentoml_deploy", (0.75, 0.7), {"deployment_name": "walkthrough-api"}),
]
# The edges, by step index: (source step, output port, target step, input port).
EDGES = [(0, "output", 1, "upstream"), (1, "run", 2, "run"), (2, "model", 3, "candidate"), (3, "approved", 4, "model")]
EDGES.append((4, "bento", 5, "bento"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("walkthrough-home")
    yield home
    from dagsmith.editor.runs import Workspace, stop_runner, stop_serving

    for folder in (home / "workspace").glob("project-*"):  # the BentoML server the deploy started, the runner
        workspace = Workspace.at(folder)
        stop_serving(workspace.serving)
        stop_runner(workspace.root)


# ---- helpers -------------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def labelled(driver: Any, label: str, within: str = "") -> Any:
    """The input with the floating label ``label`` (inside ``within``, an XPath prefix)."""
    from selenium.webdriver.common.by import By

    xpath = f"{within}//label[.//div[contains(@class,'q-field__label') and normalize-space()='{label}']]//input"
    return wait_for(lambda: driver.find_element(By.XPATH, xpath), f"the input {label!r}")


def button(driver: Any, text: str, within: str = "") -> Any:
    from selenium.webdriver.common.by import By

    xpath = f"{within}//button[.//span[normalize-space()='{text}']]"
    return wait_for(lambda: driver.find_element(By.XPATH, xpath), f"the button {text!r}")


def button_like(driver: Any, xpath: str) -> Any:
    from selenium.webdriver.common.by import By

    return wait_for(lambda: driver.find_element(By.XPATH, xpath), xpath)


def retype(driver: Any, element: Any, text: str) -> None:
    """Click into ``element``, select what it holds, delete it and type ``text`` key by key."""
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    wait_for(element.is_displayed, "the input to be visible")
    element.click()
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.BACKSPACE)
    type_keys(driver, text)


def reveal(driver: Any, name: str) -> Any:
    """Open the collapsed sections around the form field ``name``, as a person would; its input."""

    def step() -> Any:  # a closed section's header, True when the field is there and shown, None: wait
        return driver.execute_script(
            """
            // The field, or else the innermost section around it: a closed section's fields are built when opened.
            const parts = arguments[0].split('.');
            let field = document.querySelector(`.q-drawer--right [data-field="${arguments[0]}"]`);
            for (let end = parts.length - 1; !field && end > 0; end--) {
              field = document.querySelector(`.q-drawer--right [data-section="${parts.slice(0, end).join('.')}"]`);
            }
            const closed = [];
            for (let e = field; e; e = e.parentElement) {
              if (e.classList.contains('q-expansion-item--collapsed')) closed.unshift(e);
            }
            if (closed.length) return closed[0].querySelector('.q-expansion-item__container > .q-item');
            return field && field.hasAttribute('data-field') ? true : null;  // null: a section's fields to come
            """,
            name,
        )

    for _ in range(6):
        header = wait_for(step, f"the field {name} or a closed section around it")
        if header is True:
            break
        open_header(driver, header)
    return wait_for(lambda: field(driver, name), f"the field {name}")


def open_header(driver: Any, header: Any) -> None:
    """Click a section's header until it is open: while the section above it opens, the header moves under the
    pointer and a click can miss it, as it can a person's."""

    def attempt() -> bool:
        if header.get_attribute("aria-expanded") == "true":
            return True
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", header)
        if header.is_displayed():
            header.click()
        return False

    wait_for(attempt, "a section to open", interval=0.4)


def fill(driver: Any, name: str, text: str) -> None:
    """Type ``text`` into the form field ``name`` key by key; the field keeps the focus and shows it all."""
    retype(driver, reveal(driver, name), text)
    assert focused_field(driver) == name, f"the field {name} lost the focus while typing"
    wait_for(lambda: field(driver, name).get_attribute("value") == text, f"the field {name} to show {text!r}")


def choose(driver: Any, name: str, option: str) -> None:
    """Open the select ``name`` and click ``option`` in its menu."""
    from selenium.webdriver.common.by import By

    element = reveal(driver, name)
    box = driver.execute_script("return arguments[0].closest('.q-field')", element)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.click()
    xpath = f"//div[contains(@class,'q-menu')]//div[contains(@class,'q-item')][normalize-space()='{option}']"
    wait_for(lambda: driver.find_element(By.XPATH, xpath), f"the option {option!r}").click()


def problems(driver: Any) -> str:
    return str(driver.execute_script("return document.querySelector('.q-scrollarea')?.innerText ?? ''"))


def states(driver: Any) -> dict[str, str]:
    """The task state each node shows on the canvas."""
    return dict(
        driver.execute_script(
            """const states = {};
            for (const node of document.querySelectorAll('.vue-flow__node')) {
              const badge = node.querySelector('.dagsmith-state');
              if (badge) states[node.dataset.id] = badge.textContent.trim();
            }
            return states;"""
        )
    )


def listed_state(driver: Any) -> str:
    """The state badge of the newest run in the runs tab's list ('' when none is listed)."""
    return str(
        driver.execute_script(
            "const item = document.querySelector('.q-tab-panel .q-list .q-item');"
            "return item?.querySelector('.q-badge')?.textContent.trim() ?? ''"
        )
    )


def notifications(driver: Any) -> str:
    return str(driver.execute_script("return document.querySelector('.q-notifications')?.innerText ?? ''"))


# ---- the walk ------------------------------------------------------------------------------------


def test_new_user_walkthrough(server: str, driver: Any, home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "dags-repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "--initial-branch=master", str(repo)], check=True)
    code = tmp_path / "ml-code"  # the user's own step code: where the steps run
    code.mkdir()
    for name, text in (("prepare.py", PREPARE), ("train.py", TRAIN), ("service.py", SERVICE)):
        (code / name).write_text(text, encoding="utf-8")
    with screenshot_on_failure(driver, "walkthrough-failure"):
        walk(server, driver, home, repo, code)


def walk(server: str, driver: Any, home: Path, repo: Path, code: Path) -> None:
    from selenium.webdriver.common.by import By

    # 1. The start page: the project's git repository (the branch left empty: the checked-out one).
    driver.get(with_token(f"{server}/"))
    retype(driver, labelled(driver, "Repository path"), str(repo))
    button(driver, "Save").click()
    wait_for(lambda: "saved" in notifications(driver), "the git settings to be saved")
    assert labelled(driver, "Branch").get_attribute("value") == "master"

    # 2. A blank pipeline: its name, default image and GPU settings in the dialog.
    button(driver, "Blank pipeline").click()
    for label, text in (
        ("Name", NAME),
        ("Default image", "registry.example.com/ml/train:1.0"),
        ("GPU resource name", "nvidia.com/gpu"),
        ("GPU product label", "nvidia.com/gpu.product"),
    ):
        retype(driver, labelled(driver, label, DIALOG), text)
    screenshot(driver, "walkthrough-1-new")
    button(driver, "Create", DIALOG).click()
    wait_for(lambda: "/pipeline/" in driver.current_url, "the new pipeline's page")
    wait_for(lambda: inspector_title(driver) == "Pipeline settings", "the settings form")
    assert count(driver, ".vue-flow__node") == 0

    # 3. Six steps from the palette, each form filled as soon as the step is on the canvas.
    ids: list[str] = []
    for kind, (fx, fy), fields in STEPS:
        before = set(node_ids(driver))
        box = driver.execute_script("return document.querySelector('.vue-flow__pane').getBoundingClientRect().toJSON()")
        drop_from_palette(driver, kind, box["left"] + box["width"] * fx, box["top"] + box["height"] * fy)
        wait_for(lambda b=before: len(set(node_ids(driver)) - b) == 1, f"the dropped {kind} step")
        (new,) = set(node_ids(driver)) - before
        ids.append(new)
        wait_for(lambda n=new: count(driver, f"{node_selector(n)}.selected") == 1, f"the {kind} step to be selected")
        first = next(iter(fields))
        wait_for(lambda f=first: field(driver, f), f"the form of the {kind} step")
        for name, text in fields.items():
            fill(driver, name, text)
        if fields.get("label") == "Train":  # the training step reports its MLflow run: a typed output port
            drawer = "//*[contains(@class,'q-drawer--right')]"
            section = button_like(
                driver, f"{drawer}//div[contains(@class,'q-item')][@aria-label='Expand \"Outputs (0)\"']"
            )
            open_header(driver, section)
            add = button(driver, "add outputs", drawer)
            wait_for(add.is_displayed, "the 'add outputs' button to show")
            add.click()
            fill(driver, "outputs.0.name", "run")
            choose(driver, "outputs.0.type", "mlflow_run")
            wait_for(
                lambda n=new: driver.find_elements(By.CSS_SELECTOR, f'{node_selector(n)} [data-handleid="run"]'),
                "the training step's new output handle",
            )
    screenshot(driver, "walkthrough-2-steps")

    # 4. Connect the steps by dragging from each output handle to the next input handle.
    for index, (source, out, target, into) in enumerate(EDGES, start=1):
        pan_into_view(driver, handle(driver, ids[source], "right", out), handle(driver, ids[target], "left", into))
        drag_handle(driver, handle(driver, ids[source], "right", out), handle(driver, ids[target], "left", into))
        wait_for(lambda i=index: count(driver, ".vue-flow__edge") == i, f"edge {index}")
    screenshot(driver, "walkthrough-3-connected")

    # 5. The deployer's service account: the one problem left, in the pipeline settings.
    wait_for(lambda: "deployer service account" in problems(driver), "the deploy step's service account problem")
    driver.find_element(By.CSS_SELECTOR, ".vue-flow__pane").click()  # an empty spot: the pipeline's own form
    wait_for(lambda: inspector_title(driver) == "Pipeline settings", "the settings form")
    fill(driver, "service_accounts.deployer", "ml-deployer")
    wait_for(lambda: "No problems" in problems(driver), "no problems", timeout=20)
    screenshot(driver, "walkthrough-4-valid")

    # 6. Export: review the DAG, commit it; git holds the reviewed bytes with the same version.
    button(driver, "Export", "//header").click()
    shown = str(
        wait_for(
            lambda: driver.execute_script(
                "const c = document.querySelector('.q-dialog .nicegui-code pre, .q-dialog .nicegui-code code');"
                "return c && c.textContent.length > 200 ? c.textContent : null"
            ),
            "the DAG in the export dialog",
        )
    )
    header = shown.splitlines()
    assert f"# dag_id: {DAG_ID}" in header and "# version: 1" in header, header[:8]
    for text in ("prepare.py", "train.py", MODEL, "service:Scorer", "walkthrough-api", "nvidia.com/gpu"):
        assert text in shown, f"{text!r} is not in the previewed DAG"
    retype(driver, labelled(driver, "Commit message"), "First GPU training pipeline")
    button(driver, "Commit to git", DIALOG).click()
    result = str(
        wait_for(
            lambda: driver.execute_script(
                "return [...document.querySelectorAll('.q-dialog div')].filter(e => !e.children.length)"
                ".map(e => e.textContent).find(t => / v\\d+ .*\\(\\w{10}\\)/.test(t)) ?? null"
            ),
            "the commit's result",
            timeout=60,
        )
    )
    assert result.startswith(f"Committed v1 of {DAG_ID}"), result
    assert git(repo, "show", f"master:dags/{DAG_ID}.py") == shown, "the committed DAG is not the previewed one"
    assert (repo / "dags" / f"{DAG_ID}.py").read_text(encoding="utf-8") == shown  # the checkout shows it
    committed = json.loads(git(repo, "show", f"master:pipelines/{DAG_ID}.dagsmith.json"))
    assert [n["type"] for n in committed["nodes"]] == [kind for kind, _, _ in STEPS]
    assert len(committed["edges"]) == len(EDGES)
    screenshot(driver, "walkthrough-5-committed")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    wait_for(lambda: count(driver, ".q-dialog") == 0, "the export dialog to close")

    # 7. Run on this machine: the project folder with the step code; every step reaches success.
    button(driver, "Run", "//header").click()
    retype(driver, labelled(driver, "Project folder", DIALOG), str(code))
    screenshot(driver, "walkthrough-6-run")
    button(driver, "Start", DIALOG).click()
    wait_for(lambda: set(states(driver)) == set(ids), "a state badge on every step", timeout=60)
    seen: list[dict[str, str]] = []
    listed: list[str] = []  # the run's state in the runs list while a step runs

    def finished() -> bool:
        now = states(driver)
        if not seen or seen[-1] != now:
            seen.append(now)
        if "running" in now.values():
            listed.append(listed_state(driver))
        return "failed" in now.values() or set(now.values()) == {"success"}

    wait_for(finished, "every step to succeed", timeout=RUN_TIMEOUT, interval=0.3)
    assert set(seen[-1].values()) == {"success"}, seen[-1]
    assert any("running" in s.values() for s in seen), seen
    # The runs list follows the live run too (it said "queued" until the run ended).
    assert "running" in listed, f"the runs list showed {sorted(set(listed))} while steps ran"
    # The run ends (the promotion after the deploy, its record written): Stop turns back into Run, and the
    # runs panel lists the run as a success.
    wait_for(lambda: driver.find_elements(By.XPATH, "//header//button[.//span[normalize-space()='Run']]"), "the end")
    panel = wait_for(
        lambda: (
            (text := driver.execute_script("return document.querySelector('.q-tab-panel')?.innerText ?? ''"))
            and "gate__promote" in text
            and text
        ),
        "the run's tasks in the runs panel",
    )
    assert "queued" not in panel and "running" not in panel, panel
    screenshot(driver, "walkthrough-7-done")
    assert severe_logs(driver) == []
    assert "Traceback" not in server_log(home), server_log(home)
