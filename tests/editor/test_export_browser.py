"""Export and commit in a real browser (headless Chromium against ``dagsmith edit``): git gets what was reviewed.

Issue 11, defect 4: the preview said v2 while the committed file said ``version: 1`` (another checksum);
the committed DAG must be byte for byte the previewed one. Defect 5: after a plain ``git init`` (HEAD on
``master``) the commit went to the pre-filled ``main`` and the working tree stayed empty without a word;
the branch now defaults to the checked-out one, and the page says when it differs and whether the
working tree was updated. The git settings are typed on the start page key by key, as a person does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from browser import count, screenshot_on_failure, wait_for, with_token

from dagsmith.editor.services import EditorServices
from dagsmith.nodes import load_example

pytestmark = pytest.mark.slow

DIALOG = "//div[contains(@class,'q-dialog')]"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export-home")


# ---- helpers -------------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` (as a person would at the terminal); its output."""
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)
    return done.stdout


def plain_repo(path: Path) -> Path:
    """``git init`` with HEAD on ``master`` (git's own default, whatever this machine's config says)."""
    path.mkdir()
    subprocess.run(["git", "init", "-q", "--initial-branch=master", str(path)], check=True)
    return path


def new_pipeline(services: EditorServices, name: str) -> tuple[int, str]:
    """A valid pipeline (a template) in the local project; its id and dag_id."""
    pipeline = load_example("user_targeting")
    pipeline.settings.name = name
    pipeline.settings.dag_id = None
    info = services.create(services.local_project().id, pipeline)
    return info.id, info.dag_id


def input_labelled(driver: Any, label: str) -> Any:
    from selenium.webdriver.common.by import By

    xpath = f"//label[.//div[contains(@class,'q-field__label') and normalize-space()='{label}']]//input"
    return wait_for(lambda: driver.find_element(By.XPATH, xpath), f"the input {label!r}")


def button(driver: Any, text: str, within: str = "") -> Any:
    from selenium.webdriver.common.by import By

    xpath = f"{within}//button[.//span[normalize-space()='{text}']]"
    return wait_for(lambda: driver.find_element(By.XPATH, xpath), f"the button {text!r}")


def type_into(driver: Any, element: Any, text: str) -> None:
    """Click into ``element``, select what it holds and type ``text`` key by key."""
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.BACKSPACE)
    for key in text:
        driver.switch_to.active_element.send_keys(key)


def save_git_settings(driver: Any, server: str, repo: Path, branch: str | None) -> str:
    """On the start page: type the repository path (and a branch, when given), press Save; the note shown."""
    from selenium.webdriver.common.by import By

    driver.get(with_token(server))
    type_into(driver, input_labelled(driver, "Repository path"), str(repo))
    if branch is not None:
        type_into(driver, input_labelled(driver, "Branch"), branch)
    button(driver, "Save").click()
    wait_for(lambda: "saved" in driver.find_element(By.CSS_SELECTOR, ".q-notifications").text, "the saved notice")
    return str(driver.find_element(By.CSS_SELECTOR, ".q-notifications").text)


def open_export(driver: Any, server: str, pipeline_id: int, nodes: int) -> str:
    """Open the pipeline and its export dialog; the previewed DAG file as the page shows it."""
    from selenium.webdriver.common.by import By

    driver.get(with_token(f"{server}/pipeline/{pipeline_id}"))
    wait_for(lambda: count(driver, ".vue-flow__node") == nodes, "the pipeline's nodes on the canvas")
    driver.find_element(By.XPATH, "//header//button[.//span[normalize-space()='Export']]").click()
    return str(
        wait_for(
            lambda: driver.execute_script(
                "const c = document.querySelector('.q-dialog .nicegui-code pre, .q-dialog .nicegui-code code');"
                "return c && c.textContent.length > 200 ? c.textContent : null"
            ),
            "the DAG in the export dialog",
        )
    )


def export_status(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    # textContent, not .text: the dialog may still be fading in, and Selenium reads hidden text as ''.
    return str(
        wait_for(
            lambda: driver.find_element(By.XPATH, f"{DIALOG}//div[contains(text(), '.py, ')]").get_attribute(
                "textContent"
            ),
            "the export's version line",
        )
    )


def commit(driver: Any, message: str) -> str:
    """Type a commit message, press Commit to git; the result line the dialog shows."""
    from selenium.webdriver.common.by import By

    type_into(driver, input_labelled(driver, "Commit message"), message)
    button(driver, "Commit to git", DIALOG).click()

    def result() -> str | None:
        text = driver.execute_script(
            "return [...document.querySelectorAll('.q-dialog div')].filter(e => !e.children.length)"
            ".map(e => e.textContent).find(t => / v\\d+ .*\\(\\w{10}\\)/.test(t)) ?? null"
        )
        if text is None and "negative" in driver.find_element(By.CSS_SELECTOR, ".q-notifications").get_attribute(
            "innerHTML"
        ):
            raise AssertionError(driver.find_element(By.CSS_SELECTOR, ".q-notifications").text)
        return text

    return str(wait_for(result, "the commit's result", timeout=60))


# ---- defect 4 ------------------------------------------------------------------------------------


def test_committed_file_is_the_previewed_file(
    server: str, driver: Any, services: EditorServices, tmp_path: Path
) -> None:
    repo = plain_repo(tmp_path / "repo")
    services.set_git(services.local_project().id, str(repo), "master")
    pipeline_id, dag_id = new_pipeline(services, "Reviewed export")
    # v1 was saved earlier (never committed); the draft changed since, so the next version is v2.
    _info, pipeline, _revision = services.open_draft(pipeline_id)
    services.save_version(pipeline_id, pipeline, "first")
    pipeline.settings.description = "Scores every user nightly, now with a note."
    services.save_draft(pipeline_id, pipeline)

    with screenshot_on_failure(driver, "export-reviewed"):
        shown = open_export(driver, server, pipeline_id, len(pipeline.nodes))
        status = export_status(driver)
        result = commit(driver, "Reviewed in the editor")

    blob = git(repo, "show", f"master:dags/{dag_id}.py")
    assert blob == shown, "the committed DAG file differs from the one shown for review"
    assert "# version: 2" in shown.splitlines()
    assert f"{dag_id}.py, version v2," in status, status
    assert result.startswith(f"Committed v2 of {dag_id}"), result
    assert git(repo, "log", "-1", "--format=%s", "master").startswith(f"dagsmith: export {dag_id} v2 ")
    assert services.latest_version(pipeline_id) == 2


# ---- defect 5 ------------------------------------------------------------------------------------


def test_commit_goes_to_the_checked_out_branch_and_updates_the_working_tree(
    server: str, driver: Any, services: EditorServices, tmp_path: Path
) -> None:
    repo = plain_repo(tmp_path / "plain")
    pipeline_id, dag_id = new_pipeline(services, "Plain git init")
    nodes = len(services.open_draft(pipeline_id)[1].nodes)
    with screenshot_on_failure(driver, "export-branch-default"):
        notice = save_git_settings(driver, server, repo, branch=None)  # the branch is left as the page shows it
        assert "'master'" in notice, notice
        assert input_labelled(driver, "Branch").get_attribute("value") == "master"
        open_export(driver, server, pipeline_id, nodes)
        result = commit(driver, "First export")
    assert "the working tree (on 'master') was updated" in result, result
    assert (repo / "dags" / f"{dag_id}.py").read_text() == git(repo, "show", f"HEAD:dags/{dag_id}.py")
    assert git(repo, "status", "--porcelain") == ""
    assert "main" not in git(repo, "branch", "--list")


def test_a_branch_other_than_the_checked_out_one_is_said(
    server: str, driver: Any, services: EditorServices, tmp_path: Path
) -> None:
    repo = plain_repo(tmp_path / "other")
    pipeline_id, dag_id = new_pipeline(services, "Other branch")
    nodes = len(services.open_draft(pipeline_id)[1].nodes)
    with screenshot_on_failure(driver, "export-branch-other"):
        notice = save_git_settings(driver, server, repo, branch="main")
        assert "has 'master' checked out" in notice, notice
        open_export(driver, server, pipeline_id, nodes)
        result = commit(driver, "To main")
    assert "the working tree is on 'master', not 'main', so it was not updated" in result, result
    assert "git checkout main" in result
    assert not (repo / "dags").exists()
    assert git(repo, "show", f"main:dags/{dag_id}.py").startswith("# Generated by dagsmith")
