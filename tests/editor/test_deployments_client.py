"""The deployments client against Airflow 2's REST API v1, and the deployments' settings in the store.

Airflow 2 is not started here: a small HTTP server answers with JSON of the shapes Airflow 2.10/2.11's
stable REST API v1 documents and returns (recorded from its OpenAPI spec and answers: basic auth, a DAG's
``file_token`` for ``dagSources``, ``execution_date`` ordering, text logs and the older ``[(host, text)]``
form, ``clearTaskInstances``, ``update_mask`` for pausing, 401/404 bodies with ``title``). The same client
is tested against a real Airflow 3 in ``test_deployments_airflow.py``. It was also run once by hand against a
real Airflow 2.11.2 (``.venv-airflow2``: ``airflow webserver`` with the basic_auth backend and a scheduler):
version detection, the header through the file token, pause, trigger, runs, task states, a log, clear, and
the 403 that 2.11 answers to a wrong password; starting that takes about 3 minutes here, so it is not a test.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlite_dump import sqlite_dump

from dagsmith.codegen import render
from dagsmith.editor.deployments.client import AirflowApi, Credentials, DeploymentError, NotDeployedError, log_text
from dagsmith.editor.deployments.config import Deployments, connect, resolve_secret
from dagsmith.editor.deployments.service import RemotePipeline, conf_from
from dagsmith.editor.store import PermissionDenied, Store, open_store
from dagsmith.nodes import Node, Pipeline, PipelineSettings
from dagsmith.nodes.document import RuntimeParam
from dagsmith.nodes.fileformat import content_hash

USER, PASSWORD = "ops", "s3cret-pw"
RUN = "manual__2026-12-01T10:00:00+00:00"


def pipeline() -> Pipeline:
    return Pipeline(
        settings=PipelineSettings(
            name="Remote demo",
            default_image="registry.example.com/x:1",
            params=[
                RuntimeParam(name="rows", type="integer", default=3, minimum=1),
                RuntimeParam(name="mode", type="string", default="fast", enum=["fast", "full"]),
            ],
        ),
        nodes=[
            Node(id="say", type="script", params={"command": ["python", "-c", "print(1)"], "outputs": []}),
            Node(id="flaky", type="script", params={"command": ["python", "-c", "print(2)"], "outputs": []}),
        ],
    )


class Airflow2:
    """What an Airflow 2 API server answers (the shapes of 2.10/2.11), and what it was asked."""

    def __init__(self) -> None:
        self.source = render(pipeline(), version=4, target="airflow2")
        self.requests: list[tuple[str, str, Any]] = []
        self.paused = False
        self.log_form = "text"

    def answer(self, method: str, path: str, body: Any, headers: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if path == "/api/v2/version":
            return 404, "<html>404 Not Found</html>"
        if path == "/api/v1/version":
            return 200, {"version": "2.11.2", "git_version": ".release:abc"}
        if not path.startswith("/api/v1/"):
            return 404, "<html>404 Not Found</html>"
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if headers.get("Authorization") != expected:
            # Airflow 2.11 (basic_auth backend) answers a wrong password with 403, checked against a real webserver
            return 403, {"detail": None, "status": 403, "title": "Forbidden", "type": "https://x/PermissionDenied"}
        dag = {
            "dag_id": "remote_demo",
            "is_paused": self.paused,
            "fileloc": "/dags/remote_demo.py",
            "file_token": "Ii9k",
        }
        if path == "/api/v1/dags/remote_demo" and method == "GET":
            return 200, dag
        if path == "/api/v1/dags/remote_demo?update_mask=is_paused" and method == "PATCH":
            self.paused = bool(body["is_paused"])
            return 200, {**dag, "is_paused": self.paused}
        if path.startswith("/api/v1/dags/"):
            if path.startswith("/api/v1/dags/remote_demo/"):
                return self.runs(method, path.removeprefix("/api/v1/dags/remote_demo/"), body)
            dag_id = path.split("/")[4].split("?", maxsplit=1)[0]
            return 404, {"detail": f"DAG with dag_id: '{dag_id}' not found", "status": 404, "title": "DAG not found"}
        if path == "/api/v1/dagSources/Ii9k":
            return 200, {"content": self.source}
        if path.startswith("/api/v1/importErrors"):
            error = {"filename": "/dags/broken_demo.py", "import_error_id": 1, "stack_trace": "ModuleNotFoundError: x"}
            return 200, {"import_errors": [error], "total_entries": 1}
        return 404, {"detail": path, "status": 404, "title": "Not Found"}

    def runs(self, method: str, rest: str, body: Any) -> tuple[int, Any]:
        run = {
            "dag_run_id": RUN,
            "dag_id": "remote_demo",
            "execution_date": "2026-12-01T10:00:00+00:00",
            "logical_date": "2026-12-01T10:00:00+00:00",
            "start_date": "2026-12-01T10:00:01+00:00",
            "end_date": None,
            "state": "running",
            "conf": {"rows": 5},
            "external_trigger": True,
        }
        if rest == "dagRuns?order_by=-execution_date&limit=25":
            return 200, {"dag_runs": [run], "total_entries": 1}
        if rest == "dagRuns" and method == "POST":
            return 200, {**run, "conf": body["conf"], "state": "queued"}
        if rest.startswith("dagRuns/manual__2026-12-01T10%3A00%3A00%2B00%3A00/taskInstances?"):
            tasks = [
                {"task_id": "say", "map_index": -1, "state": "success", "try_number": 1, "dag_run_id": RUN},
                {"task_id": "flaky", "map_index": -1, "state": "failed", "try_number": 1, "dag_run_id": RUN},
            ]
            return 200, {"task_instances": tasks, "total_entries": 2}
        if "/taskInstances/flaky/logs/1?full_content=true" in rest:
            text = "*** Found local files:\n[2026-12-01] INFO - first try\n"
            content = text if self.log_form == "text" else repr([("worker-1", text)])
            return 200, {"continuation_token": "eyJ", "content": content}
        if rest == "clearTaskInstances" and method == "POST":
            assert body["dag_run_id"] == RUN and body["dry_run"] is False
            cleared = [{"dag_id": "remote_demo", "dag_run_id": RUN, "task_id": t} for t in body["task_ids"]]
            return 200, {"task_instances": cleared}
        return 404, {"detail": rest, "status": 404, "title": "Not Found"}


@pytest.fixture
def airflow2() -> Iterator[tuple[str, Airflow2]]:
    fake = Airflow2()

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, answer = fake.answer(method, self.path, body, self.headers)
            data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if isinstance(answer, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.handle_one("GET")

        def do_POST(self) -> None:
            self.handle_one("POST")

        def do_PATCH(self) -> None:
            self.handle_one("PATCH")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", fake
    server.shutdown()
    server.server_close()


def v1(url: str, password: str = PASSWORD) -> AirflowApi:
    return AirflowApi(url, Credentials("password", USER, password), name="prod2")


# Airflow 2 (REST API v1)


def test_v1_is_detected_and_the_deployed_version_read_through_the_file_token(airflow2: tuple[str, Airflow2]) -> None:
    url, fake = airflow2
    remote = RemotePipeline(v1(url), pipeline(), latest=4)
    status = remote.status()
    assert remote.api.version == "v1"
    assert (status.version, status.behind, status.paused) == (4, False, False)
    assert ("GET", "/api/v1/dagSources/Ii9k", None) in fake.requests
    assert RemotePipeline(v1(url), pipeline(), latest=6).status().behind is True


def test_a_deployed_file_whose_content_differs_from_the_recorded_version_is_a_mismatch(
    airflow2: tuple[str, Airflow2],
) -> None:
    url, _ = airflow2
    same = RemotePipeline(v1(url), pipeline(), latest=4, hashes={4: content_hash(pipeline())}).status()
    assert (same.mismatch, same.describe()) == (False, "prod2: remote_demo v4 (the latest export); active")
    other = RemotePipeline(v1(url), pipeline(), latest=4, hashes={4: "0123456789abcdef"}).status()
    assert other.mismatch and "but its content differs from v4 recorded here" in other.describe()


def test_v1_runs_states_trigger_logs_clear_and_pause(airflow2: tuple[str, Airflow2]) -> None:
    url, fake = airflow2
    remote = RemotePipeline(v1(url), pipeline())
    runs = remote.runs()
    assert [(r.run_id, r.state, r.conf) for r in runs] == [(RUN, "running", {"rows": 5})]
    assert remote.node_states(remote.tasks(RUN)) == {"say": "success", "flaky": "failed"}
    run = remote.trigger({"rows": "7", "mode": "full"})
    assert run.conf == {"rows": 7, "mode": "full"}
    assert ("POST", "/api/v1/dags/remote_demo/dagRuns", {"conf": {"rows": 7, "mode": "full"}}) in fake.requests
    assert "first try" in remote.log(RUN, "flaky")
    fake.log_form = "pairs"  # older 2.x: the repr of [(host, text)]
    assert remote.log(RUN, "flaky").startswith("*** Found local files:\n")
    assert remote.clear(RUN) == ["flaky"]
    assert remote.set_paused(True) is True and fake.paused


def test_v1_errors_are_messages(airflow2: tuple[str, Airflow2]) -> None:
    url, _ = airflow2
    refused = r"deployment 'prod2': Airflow refused GET .* \(HTTP 403: Forbidden\); check the token or password"
    with pytest.raises(DeploymentError, match=refused):
        RemotePipeline(v1(url, "wrong"), pipeline()).status()
    other = pipeline().model_copy(update={"settings": pipeline().settings.model_copy(update={"name": "Elsewhere"})})
    with pytest.raises(NotDeployedError, match="'elsewhere' is not deployed there"):
        RemotePipeline(v1(url), other).status()
    broken = pipeline().model_copy(update={"settings": pipeline().settings.model_copy(update={"name": "Broken demo"})})
    with pytest.raises(NotDeployedError, match="failed to import there; Airflow says:\nModuleNotFoundError: x"):
        RemotePipeline(v1(url), broken).status()


def test_a_url_that_is_not_airflow_says_so(airflow2: tuple[str, Airflow2]) -> None:
    url, _ = airflow2
    with pytest.raises(DeploymentError, match="does not answer as an Airflow API"):
        _ = AirflowApi(url + "/elsewhere", Credentials()).version


def test_log_text_formats_airflow_3_structured_entries() -> None:
    entries = [{"event": "::group::x"}, {"timestamp": "2026-12-05T03:00:00Z", "level": "info", "event": "hello"}]
    assert log_text(entries) == "::group::x\n[2026-12-05T03:00:00Z INFO] hello"


# Params


def test_conf_is_typed_and_checked_against_the_pipeline_params() -> None:
    assert conf_from(pipeline(), {"rows": "12", "mode": "full"}) == {"rows": 12, "mode": "full"}
    with pytest.raises(DeploymentError, match="param rows: enter a whole number"):
        conf_from(pipeline(), {"rows": "many"})
    with pytest.raises(DeploymentError, match=r"param mode: .*not one of the allowed values"):
        conf_from(pipeline(), {"mode": "slow"})
    with pytest.raises(DeploymentError, match=r"param 'row': the pipeline has no run-time param .* rows"):
        conf_from(pipeline(), {"row": "1"})


# Settings in the store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as opened:
        yield opened


def test_deployments_keep_a_reference_never_the_secret(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = store.create_project("ML")
    deployments = Deployments(store)
    added = deployments.add(
        project.id, "prod", "https://airflow.example.com/", user="ops", auth="password", secret_ref="env:PROD_PW"
    )
    assert added.api_url == "https://airflow.example.com"
    monkeypatch.setenv("PROD_PW", "pw-from-env")
    assert resolve_secret(added) == "pw-from-env"
    stored = sqlite_dump(tmp_path / "store.db")  # through SQLite: WAL rows included, no locks dropped
    assert "env:PROD_PW" in stored and "pw-from-env" not in stored
    secret_file = tmp_path / "token"
    secret_file.write_text("tok-123\n", encoding="utf-8")
    changed = deployments.add(
        project.id, "prod", "https://airflow.example.com", secret_ref=f"file:{secret_file}", replace=True
    )
    assert (changed.auth, changed.user, resolve_secret(changed)) == ("token", "", "tok-123")
    assert [d.name for d in deployments.list(project.id)] == ["prod"]
    deployments.remove(project.id, "prod")
    assert deployments.list(project.id) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "bad name"}, "name 'bad name': use 1 to 64 letters"),
        ({"url": "airflow.example.com"}, "url 'airflow.example.com': enter the Airflow API server's address"),
        ({"url": "https://u:p@airflow.example.com"}, "url: do not put a user or password in the URL"),
        ({"secret_ref": "hunter2"}, "secret: give where the token or password is, not the secret itself"),
        ({"auth": "password", "user": ""}, "user: password sign-in needs a user name"),
        ({"auth": "token", "user": "alice"}, "user 'alice': only password sign-in uses a user, and sign-in is 'token'"),
        ({"api_version": "v3"}, "api_version 'v3': choose one of auto, v2, v1"),
    ],
)
def test_wrong_settings_name_the_field(store: Store, fields: dict[str, str], message: str) -> None:
    project = store.create_project("ML")
    settings = {"name": "prod", "url": "https://airflow.example.com", "secret_ref": "env:X", **fields}
    name, url = settings.pop("name"), settings.pop("url")
    with pytest.raises(DeploymentError, match=message):
        Deployments(store).add(project.id, name, url, **settings)


def test_a_second_add_of_a_name_needs_replace_and_viewers_cannot_change_them(store: Store) -> None:
    project = store.create_project("ML")
    deployments = Deployments(store)
    deployments.add(project.id, "prod", "https://a.example.com", secret_ref="env:X")
    with pytest.raises(DeploymentError, match="pass --replace to change it"):
        deployments.add(project.id, "prod", "https://b.example.com", secret_ref="env:X")
    with pytest.raises(DeploymentError, match=r"deployment 'qa': the project has no deployment .* \(it has: prod\)"):
        deployments.get(project.id, "qa")
    store.create_user("viewer")
    from dagsmith.editor.store import Role

    store.add_member(project.id, "viewer", Role.VIEWER)
    with pytest.raises(PermissionDenied):
        Deployments(store, "viewer").add(project.id, "qa", "https://q.example.com", secret_ref="env:X")
    assert [d.name for d in Deployments(store, "viewer").list(project.id)] == ["prod"]


def test_a_missing_secret_says_which_variable_to_set(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    project = store.create_project("ML")
    deployment = Deployments(store).add(project.id, "prod", "https://a.example.com", secret_ref="env:NOT_SET_PW")
    monkeypatch.delenv("NOT_SET_PW", raising=False)
    with pytest.raises(DeploymentError, match=r"the environment variable NOT_SET_PW .* is not set"):
        connect(deployment)
