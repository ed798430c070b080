"""The editor page through NiceGUI's simulated user: canvas events, forms, problems, undo, export."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.canvas import PipelineCanvas
from dagsmith.editor.pages import Workbench
from dagsmith.editor.services import EditorServices
from dagsmith.nodes import Pipeline, load_example, parse


@pytest.fixture
def services(tmp_path: Path) -> EditorServices:
    return EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")


class Page:
    """The opened workbench, its canvas, and the calls the canvas received (the browser side)."""

    def __init__(self, user: User, bench: Workbench) -> None:
        self.user = user
        self.bench = bench
        self.canvas: PipelineCanvas = bench.canvas
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.canvas.run_method = lambda name, *args, **_: self.calls.append((name, args))  # type: ignore[method-assign,assignment,return-value]
        self.canvas._handle_ready()  # what the browser's canvasReady does

    def trigger(self, event: str, payload: Any = None) -> None:
        self.user.find(PipelineCanvas).trigger(event, payload)

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    @property
    def pipeline(self) -> Pipeline:
        return self.bench.session.pipeline


async def open_bench(user: User, services: EditorServices, pipeline: Pipeline | None = None) -> Page:
    project = services.local_project()
    info = services.create(project.id, pipeline or Pipeline.model_validate({"settings": {"name": "Blank"}}))
    holder: dict[str, Workbench] = {}

    @ui.page("/")
    def page() -> None:
        _, document, revision = services.open_draft(info.id)
        holder["bench"] = Workbench(services, info.id, document, info.name, revision)

    await user.open("/")
    return Page(user, holder["bench"])


async def draft(services: EditorServices, page: Page) -> Pipeline:
    """The saved draft, once the saves the page started have finished."""
    await page.bench.drafts.flush()
    return services.open_draft(page.bench.pipeline_id)[1]


async def test_drop_adds_node_selects_it_and_saves_the_draft(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services)
    page.trigger("nodeDropped", {"kind": "script", "x": 100, "y": 50})
    [node] = page.pipeline.nodes
    assert (node.type, node.position.x, node.position.y) == ("script", 100, 50)
    assert "addNode" in page.methods()
    await user.should_see("Run a Python file or a command in an image (CPU or GPU)")
    assert [n.id for n in (await draft(services, page)).nodes] == [node.id]


async def test_a_draft_that_cannot_be_saved_is_reported_and_kept(
    user: User, services: EditorServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = await open_bench(user, services)
    real = services.save_draft

    def broken(pipeline_id: int, pipeline: Pipeline | str, **_: Any) -> int:
        raise OSError("database is read-only")

    monkeypatch.setattr(services, "save_draft", broken)
    page.trigger("nodeDropped", {"kind": "script", "x": 100, "y": 50})
    await page.bench.drafts.flush()
    await user.should_see("The draft could not be saved (OSError: database is read-only)")
    assert page.bench.saved.text == "not saved"
    assert len(page.pipeline.nodes) == 1  # the change stays in the page
    monkeypatch.setattr(services, "save_draft", real)
    page.trigger("nodeDropped", {"kind": "script", "x": 300, "y": 50})
    assert len((await draft(services, page)).nodes) == 2  # the next change saves everything
    assert page.bench.saved.text == "saved"


async def test_unknown_kind_is_refused_with_a_message(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services)
    page.trigger("nodeDropped", {"kind": "nope", "x": 0, "y": 0})
    assert page.pipeline.nodes == []
    await user.should_see("there is no node type 'nope'")


async def test_connect_compatible_and_refuse_incompatible(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services)
    page.trigger("nodeDropped", {"kind": "register_model", "x": 0, "y": 0})
    page.trigger("nodeDropped", {"kind": "bentoml_build", "x": 300, "y": 0})
    page.trigger("nodeDropped", {"kind": "batch_predict", "x": 600, "y": 0})
    reg, build, predict = (n.id for n in page.pipeline.nodes)
    page.trigger("edgeRequested", {"source": reg, "source_port": "model", "target": build, "target_port": "model"})
    assert [(e.source, e.target) for e in page.pipeline.edges] == [(reg, build)]
    assert "addEdge" in page.methods()
    page.trigger("edgeRequested", {"source": build, "source_port": "bento", "target": predict, "target_port": "model"})
    assert len(page.pipeline.edges) == 1
    [(_, (message,))] = [c for c in page.calls if c[0] == "rejectConnection"]
    assert "gives bento" in message and "takes registered_model" in message


async def test_cycle_is_refused(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services)
    for x in (0, 300):
        page.trigger("nodeDropped", {"kind": "script", "x": x, "y": 0})
    a, b = (n.id for n in page.pipeline.nodes)
    page.trigger("edgeRequested", {"source": a, "source_port": "output", "target": b, "target_port": "upstream"})
    page.trigger("edgeRequested", {"source": b, "source_port": "output", "target": a, "target_port": "upstream"})
    assert len(page.pipeline.edges) == 1
    assert any(name == "rejectConnection" and "cycle" in args[0] for name, args in page.calls)


async def test_move_delete_undo_redo(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services)
    page.trigger("nodeDropped", {"kind": "script", "x": 0, "y": 0})
    node_id = page.pipeline.nodes[0].id
    page.trigger("nodeMoved", {"id": node_id, "x": 40, "y": 60, "nodes": [{"id": node_id, "x": 40, "y": 60}]})
    assert page.pipeline.nodes[0].position.x == 40
    page.trigger("deleteRequested", {"node_ids": [node_id], "edge_ids": []})
    assert page.pipeline.nodes == []
    page.trigger("undoRequested")
    assert page.pipeline.nodes[0].position.x == 40
    page.trigger("undoRequested")
    assert page.pipeline.nodes[0].position.x == 0
    page.trigger("redoRequested")
    page.trigger("redoRequested")
    assert page.pipeline.nodes == []
    assert (await draft(services, page)).nodes == []


async def test_copy_and_paste_keep_internal_edges(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services)
    for x in (0, 300):
        page.trigger("nodeDropped", {"kind": "script", "x": x, "y": 0})
    a, b = (n.id for n in page.pipeline.nodes)
    page.trigger("edgeRequested", {"source": a, "source_port": "output", "target": b, "target_port": "upstream"})
    page.trigger("copyRequested", {"node_ids": [a, b]})
    page.trigger("pasteRequested", {"x": 0, "y": 400})
    assert len(page.pipeline.nodes) == 4
    assert len(page.pipeline.edges) == 2
    pasted = page.pipeline.nodes[2:]
    assert {n.position.y for n in pasted} == {400}
    assert len({n.task_id() for n in page.pipeline.nodes}) == 4


async def test_typing_into_a_form_field_updates_params_and_errors(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services)
    page.trigger("nodeDropped", {"kind": "register_model", "x": 0, "y": 0})
    node_id = page.pipeline.nodes[0].id
    field = page.bench.inspector.forms[1].widgets["model_name"]
    assert field.props.get("error") is True  # required and empty
    assert "is required" in field.props["error-message"]
    user.find(marker="field-model_name").type("keyword-recommender")
    assert page.pipeline.node(node_id).params["model_name"] == "keyword-recommender"  # type: ignore[union-attr]
    assert not field.props.get("error")
    # the whole typing is one undo step
    page.trigger("undoRequested")
    assert "model_name" not in page.pipeline.node(node_id).params  # type: ignore[union-attr]


async def test_invalid_value_shows_inline_and_on_canvas_then_clears(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services, load_example("keyword_recommendation"))
    page.trigger("nodeClicked", {"id": "train"})
    await user.should_see(marker="field-script")
    form = page.bench.inspector.forms[1]
    page.bench.inspector.forms[1].on_change(("pod", "shm_size"), "8 gigs", False)
    form.widgets["pod"].set_value(True)  # the user opens "Pod": its fields are built then, with their errors
    assert form.widgets["pod.shm_size"].props["error-message"].startswith("'8 gigs' is not a Kubernetes quantity")
    issues = [args for name, args in page.calls if name == "setIssues"][-1][0]
    assert "train" in issues
    form.on_change(("pod", "shm_size"), "8Gi", False)
    issues = [args for name, args in page.calls if name == "setIssues"][-1][0]
    assert "train" not in issues


async def test_problem_click_selects_node_and_form(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services)
    page.trigger("nodeDropped", {"kind": "model_gate", "x": 0, "y": 0})
    page.trigger("paneClicked")
    await user.should_see("Pipeline settings")
    await user.should_see("Metric to compare (metric) is required; fill it in")
    issue = next(i for i in page.bench.session.issues if i.field == "metric")
    page.bench.pick_issue(issue)
    assert page.bench.inspector.node_id == issue.node
    assert any(name == "select" and args[0] == [issue.node] for name, args in page.calls)


async def test_settings_form_edits_schedule_with_validation(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services)
    user.find(marker="field-schedule").type("every day")
    assert page.pipeline.settings.schedule == "every day"  # kept, not lost
    assert "cron" in page.bench.inspector.forms[0].widgets["schedule"].props["error-message"]
    page.bench.inspector.forms[0].on_change(("schedule",), "@daily", False)
    assert not page.bench.inspector.forms[0].widgets["schedule"].props.get("error")


async def test_palette_search_and_click_to_add(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services)
    user.find(marker="palette-search").type("bento")
    await user.should_see(marker="palette-bentoml_deploy")
    await user.should_not_see(marker="palette-script")
    user.find(marker="palette-bentoml_build").click()
    assert [n.type for n in page.pipeline.nodes] == ["bentoml_build"]


async def test_export_preview_version_and_git_commit(user: User, services: EditorServices, tmp_path: Path) -> None:
    page = await open_bench(user, services, load_example("keyword_recommendation"))
    repo = tmp_path / "dags-repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    services.set_git(services.local_project().id, str(repo), "main")
    dag_id = page.pipeline.dag_id  # the templates already hold keyword_recommendation: a suffix is added
    assert dag_id == "keyword_recommendation_2"
    await page.bench.open_export()
    assert f"# dag_id: {dag_id}\n# version: 1\n" in page.bench.export.code.content
    await page.bench.export.commit()
    await user.should_see(f"Committed v1 of {dag_id} to branch 'main'")
    log = subprocess.run(
        ["git", "-C", str(repo), "log", "main", "--format=%s"], capture_output=True, text=True, check=True
    )
    assert f"{dag_id} v1" in log.stdout
    show = subprocess.run(
        ["git", "-C", str(repo), "show", f"main:dags/{dag_id}.py"], capture_output=True, text=True, check=True
    )
    assert show.stdout == page.bench.export.source


async def test_versions_follow_the_pages_own_saves(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services)
    page.trigger("nodeDropped", {"kind": "script", "x": 0, "y": 0})
    await page.bench.export.save_version()  # waits for the pending draft save, makes the version from it
    await user.should_see("Saved version v1")
    assert [n.type for n in services.store.get_version(page.bench.pipeline_id, 1).pipeline().nodes] == ["script"]
    page.trigger("nodeDropped", {"kind": "notebook", "x": 300, "y": 0})
    assert len((await draft(services, page)).nodes) == 2  # later saves go on: no conflict with itself
    assert page.bench.saved.text == "saved"


async def test_a_draft_changed_elsewhere_is_merged_not_overwritten(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services)
    pipeline_id = page.bench.pipeline_id
    other = services.open_draft(pipeline_id)[1]
    other.settings.description = "from the other tab"
    services.save_draft(pipeline_id, other)  # another editor process saved meanwhile: this page was not told
    page.trigger("nodeDropped", {"kind": "script", "x": 0, "y": 0})
    await page.bench.live.settled()  # this page's save was refused: it merged the draft, then saved again
    stored = services.open_draft(pipeline_id)[1]
    assert stored.settings.description == "from the other tab", "the other tab's change was overwritten"
    assert [n.type for n in stored.nodes] == ["script"], "this page's change was not saved"
    assert page.pipeline.settings.description == "from the other tab"
    assert page.bench.saved.text == "saved"
    await page.bench.export.save_version()
    assert services.latest_version(pipeline_id) == 1


async def test_comments_are_added_edited_attached_and_deleted(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services)
    page.trigger("nodeDropped", {"kind": "script", "x": 0, "y": 0})
    node_id = page.pipeline.nodes[0].id
    page.trigger("selectionChanged", {"nodes": [node_id], "edges": []})
    page.canvas.selection = {"nodes": [node_id], "edges": []}
    user.find(marker="add-comment").click()
    [comment] = page.pipeline.comments
    assert comment.nodes == [node_id]
    user.find(marker="comment-text").type(" about training")
    user.find(marker="comment-save").click()
    assert page.pipeline.comments[0].text == "New comment about training"
    page.trigger("nodeMoved", {"id": comment.id, "x": 9, "y": 8, "nodes": [{"id": comment.id, "x": 9, "y": 8}]})
    assert (page.pipeline.comments[0].position.x, page.pipeline.comments[0].position.y) == (9, 8)
    page.trigger("nodeClicked", {"id": comment.id})
    assert page.bench.comments.comment_id == comment.id
    page.trigger("deleteRequested", {"node_ids": [comment.id], "edge_ids": []})
    assert page.pipeline.comments == []
    page.trigger("undoRequested")
    assert [c.id for c in page.pipeline.comments] == [comment.id]
    assert [c.id for c in (await draft(services, page)).comments] == [comment.id]


async def test_download_document(user: User, services: EditorServices) -> None:
    page = await open_bench(user, services, load_example("user_targeting"))
    user.find(marker="download-document").click()
    response = await user.download.next()
    assert parse(response.content) == page.pipeline


async def test_notebook_is_shown_rendered_and_read_only(user: User, services: EditorServices, tmp_path: Path) -> None:
    import nbformat

    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('features ready')")])
    nbformat.write(notebook, repo / "notebooks" / "train.ipynb")
    services.set_git(services.local_project().id, str(repo), "main")
    page = await open_bench(user, services)
    page.trigger("nodeDropped", {"kind": "notebook", "x": 0, "y": 0})
    node_id = page.pipeline.nodes[0].id
    page.bench.session.set_param(node_id, ["notebook"], "notebooks/train.ipynb")
    page.bench.inspector.select(node_id)
    user.find(marker="view-notebook").click()
    frame = page.bench.notebooks.frame
    for _ in range(100):  # nbconvert runs off the event loop
        if "srcdoc" in frame.props:
            break
        await asyncio.sleep(0.05)
    assert "features ready" in frame.props["srcdoc"]
    assert frame.props["sandbox"] == ""  # no scripts from the notebook run in the editor


async def test_unexpected_error_is_reported_without_a_traceback(user: User, caplog: pytest.LogCaptureFixture) -> None:
    from nicegui import app

    from dagsmith.editor.app import report_exception

    app.on_exception(report_exception)

    @ui.page("/")
    def page() -> None:
        ui.button("boom", on_click=lambda: 1 / 0).mark("boom")

    await user.open("/")
    user.find(marker="boom").click()
    await user.should_see("Something went wrong (ZeroDivisionError); your work is saved.")
    await user.should_not_see("Traceback")
    assert any("unexpected error in the editor" in r.getMessage() for r in caplog.records)  # logged for us
    caplog.clear()  # the error was expected here (the fixture fails tests that log errors)


async def test_the_runs_tab_reads_the_run_history_only_when_it_is_first_shown(
    user: User, services: EditorServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    history = services.runs.history
    monkeypatch.setattr(services.runs, "history", lambda *args: reads.append(1) or history(*args))
    page = await open_bench(user, services, load_example("keyword_recommendation"))
    assert reads == []  # a page open builds no runs list (most never look at it)
    with pytest.raises(AssertionError):
        user.find(marker="run-list")
    page.bench.bottom.panels.set_value("runs")  # the user opens the Runs tab
    await user.should_see("No runs yet: press Run in the header.")
    assert reads == [1]
    page.bench.bottom.panels.set_value("problems")
    page.bench.bottom.panels.set_value("runs")
    assert reads == [1]  # built once
