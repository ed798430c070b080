"""Issue 13, "every action checks the role on the server": starting a local run of a pipeline.

The Run button is hidden from a viewer's page (test_read_only_page.py), but the check that counts is the
server's: ``TeamServices.runs`` (``TeamRuns.start``) refuses a viewer with the role it needs and a
non-member as if the pipeline did not exist, before anything is validated, written or started. The
pipeline has an empty script field, so an editor who passes the role check gets the validation's refusal:
proof that the check ran first and that the same call goes further for a member who may run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_run_services import _script_pipeline

from dagsmith.editor.errors import UserError
from dagsmith.editor.run_services import RunSettings
from dagsmith.editor.store import Role, open_store
from dagsmith.editor.team.accounts import Identity
from dagsmith.editor.team.identity import acting_as
from dagsmith.editor.team.services import NoAccessError, RoleError, TeamServices


@pytest.fixture
def team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TeamServices, int, int]]:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSMITH_WORKSPACE", raising=False)
    store = open_store(f"sqlite:///{tmp_path / 'team.db'}", local_user=False)
    for name in ("alice", "ed", "vic", "eve"):
        store.create_user(name)
    project = store.create_project("Team", by="alice")
    store.add_member(project.id, "ed", Role.EDITOR, by="alice")
    store.add_member(project.id, "vic", Role.VIEWER, by="alice")
    store.create_project("Other", by="eve")
    broken = _script_pipeline()
    broken.nodes[0].params["script"] = ""
    info = store.create_pipeline(project.id, broken, by="alice")
    yield TeamServices(store), info.id, project.id
    store.close()


def _start(services: TeamServices, pipeline_id: int, name: str, folder: Path) -> None:
    with acting_as(Identity(name, False)):
        pipeline = services.store.get_draft(pipeline_id).pipeline()
        services.runs.start(pipeline_id, pipeline, RunSettings(project_dir=str(folder)))


def test_a_viewer_cannot_start_a_run_and_a_stranger_cannot_tell_the_pipeline_exists(
    team: tuple[TeamServices, int, int], tmp_path: Path
) -> None:
    services, pipeline_id, project_id = team
    with pytest.raises(RoleError, match="run its pipelines"):
        _start(services, pipeline_id, "vic", tmp_path)
    with pytest.raises(NoAccessError, match="does not exist or you have no access"):
        _start(services, pipeline_id, "eve", tmp_path)
    with pytest.raises(UserError, match=r"fix the pipeline's 1 error\(s\)") as editor:
        _start(services, pipeline_id, "ed", tmp_path)  # the control: an editor passes the role check
    assert not isinstance(editor.value, (RoleError, NoAccessError))
    assert not list(services.runs.workspace(project_id).root.glob("runs/*/*"))  # nothing was started
