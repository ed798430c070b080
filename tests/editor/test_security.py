"""The local editor serves only this machine's user: a real ``dagsmith edit`` driven over HTTP and websockets.

Each refused case (a foreign Host as DNS rebinding sends, a foreign Origin as another web page sends, a
missing or wrong token as another local user sends) is checked on the page, on socket.io's long polling,
on the websocket handshake and on the upload route; a refused upload creates nothing.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import DAGSMITH, ROOT, TOKEN, editor_server, server_env, server_log
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from dagsmith.editor.security import cookie_name
from dagsmith.editor.store.store import open_store
from dagsmith.nodes import Pipeline, dumps

POLLING = "/_nicegui_ws/socket.io/?EIO=4&transport=polling"
WEBSOCKET = "/_nicegui_ws/socket.io/?EIO=4&transport=websocket"


class Editor:
    """The running editor: its port, home, and raw requests to it."""

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home
        self.port = int(url.rsplit(":", 1)[1])
        self.cookie = f"{cookie_name(self.port)}={TOKEN}"
        self.host = f"127.0.0.1:{self.port}"

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], str]:
        """One HTTP request (no redirects followed, no cookies kept): status, headers, body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.putrequest(method, path, skip_host=True)
            for name, value in {"Host": self.host, **(headers or {})}.items():
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
        finally:
            connection.close()

    def signed(self, **extra: str) -> dict[str, str]:
        """Headers of a request from the editor's own page: its cookie (and ``extra``)."""
        return {"Cookie": self.cookie, **extra}

    def websocket(
        self, *, host: str | None = None, headers: dict[str, str] | None = None, origin: str | None = None
    ) -> str:
        """Open socket.io's websocket (connecting to 127.0.0.1 whatever ``host`` says); its first message."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        uri = f"ws://{host or self.host}{WEBSOCKET}"
        with connect(uri, sock=sock, origin=origin, additional_headers=headers, open_timeout=30) as ws:  # type: ignore[arg-type]
            return str(ws.recv(timeout=30))

    def pipelines(self) -> list[str]:
        """The names of the pipelines in the editor's store."""
        store = open_store(f"sqlite:///{self.home / 'dagsmith.db'}")
        try:
            return [info.name for project in store.list_projects() for info in store.list_pipelines(project.id)]
        finally:
            store.close()

    def upload_route(self) -> str:
        """A fresh start page's upload address (its client and upload element)."""
        status, _, page = self.request("GET", "/", self.signed())
        assert status == 200
        match = re.search(r"/_nicegui/client/[0-9a-f-]+/upload/\d+", page)
        assert match, "the start page has no upload element"
        return match.group(0)


@pytest.fixture(scope="module")
def editor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Editor]:
    home = tmp_path_factory.mktemp("security-home")
    with editor_server(home) as url:
        yield Editor(url, home)


def multipart(name: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file, as the upload element sends it; (body, content type)."""
    boundary = "dagsmith-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/json\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_the_printed_address_carries_the_token(editor: Editor) -> None:
    assert f"http://127.0.0.1:{editor.port}/?token={TOKEN}" in server_log(editor.home)


def test_the_token_becomes_a_cookie_and_leaves_the_address(editor: Editor) -> None:
    status, headers, _ = editor.request("GET", f"/?token={TOKEN}")
    assert status == 303
    assert headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"{cookie_name(editor.port)}={TOKEN};")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    status, _, page = editor.request("GET", "/", editor.signed())
    assert status == 200 and "<title>dagsmith" in page
    assert editor.request("GET", "/", {"Authorization": f"token {TOKEN}"})[0] == 200


def test_socketio_handshakes_are_accepted_with_the_token(editor: Editor) -> None:
    status, _, body = editor.request("GET", POLLING, editor.signed())
    assert status == 200 and body.startswith("0{") and "sid" in json.loads(body[1:])
    opened = editor.websocket(headers=editor.signed(), origin=f"http://{editor.host}")
    assert opened.startswith("0{") and "sid" in json.loads(opened[1:])


@pytest.mark.parametrize(
    "credential",
    ["none", "cookie of another port", "wrong cookie", "wrong header token", "wrong address token"],
)
def test_a_missing_or_wrong_token_is_refused(editor: Editor, credential: str) -> None:
    headers, query = {
        "none": ({}, ""),
        "cookie of another port": ({"Cookie": f"{cookie_name(editor.port + 1)}={TOKEN}"}, ""),
        "wrong cookie": ({"Cookie": f"{cookie_name(editor.port)}=wrong"}, ""),
        "wrong header token": ({"Authorization": "token wrong"}, ""),
        "wrong address token": ({}, "token=wrong"),
    }[credential]
    status, received, page = editor.request("GET", f"/?{query}", headers)
    assert status == 403 and "printed in its terminal" in page
    assert "set-cookie" not in received
    assert editor.request("GET", f"{POLLING}&{query}", headers)[0] == 403
    with pytest.raises(InvalidStatus) as refused:
        editor.websocket(headers=headers, origin=f"http://{editor.host}")
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:{port}", "192.168.1.20:{port}"])
def test_a_foreign_host_is_refused_even_with_the_token(editor: Editor, host: str) -> None:
    host = host.format(port=editor.port)
    assert editor.request("GET", "/", editor.signed(Host=host))[0] == 403
    assert editor.request("GET", POLLING, editor.signed(Host=host))[0] == 403
    with pytest.raises(InvalidStatus) as refused:
        editor.websocket(host=host, headers=editor.signed(), origin=f"http://{host}")
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("host", ["localhost:{port}", "[::1]:{port}", "127.0.0.2:{port}"])
def test_loopback_names_are_accepted(editor: Editor, host: str) -> None:
    assert editor.request("GET", "/", editor.signed(Host=host.format(port=editor.port)))[0] == 200


@pytest.mark.parametrize(
    "origin", ["http://attacker.example", "http://localhost:1", "null", "http://127.0.0.1:{port}.attacker.example"]
)
def test_a_foreign_origin_is_refused_even_with_the_token(editor: Editor, origin: str) -> None:
    origin = origin.format(port=editor.port)
    assert editor.request("POST", POLLING, editor.signed(Origin=origin), b"")[0] == 403
    with pytest.raises(InvalidStatus) as refused:
        editor.websocket(headers=editor.signed(), origin=origin)
    assert refused.value.response.status_code == 403


def test_a_refused_upload_creates_nothing(editor: Editor) -> None:
    """DNS rebinding's attack: a page on another origin uploads a pipeline. Refused: nothing is created.

    The same upload from the editor's own page does create the pipeline, so the refusal is what stopped it.
    """
    body, content_type = multipart(
        "evil.dagsmith.json", dumps(Pipeline.model_validate({"settings": {"name": "Evil"}})).encode()
    )
    before = editor.pipelines()
    attempts = [
        editor.signed(Origin="http://attacker.example"),
        editor.signed(Host=f"attacker.example:{editor.port}"),
        {"Origin": f"http://{editor.host}"},
        {"Authorization": "token wrong"},
    ]
    for headers in attempts:
        status, _, _ = editor.request("POST", editor.upload_route(), {**headers, "Content-Type": content_type}, body)
        assert status == 403, headers
    assert editor.pipelines() == before

    own_page = editor.signed(Origin=f"http://{editor.host}", **{"Content-Type": content_type})
    assert editor.request("POST", editor.upload_route(), own_page, body)[0] == 200
    deadline = time.monotonic() + 30
    while "Evil" not in editor.pipelines() and time.monotonic() < deadline:  # the handler runs after the reply
        time.sleep(0.2)
    assert editor.pipelines().count("Evil") == 1


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.com"])
def test_a_non_loopback_host_is_refused_before_anything_starts(
    host: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagsmith.editor import app, cli

    def must_not_start(**_: Any) -> None:
        raise AssertionError("the editor started")

    monkeypatch.setattr(app, "run_editor", must_not_start)
    assert cli.run(["edit", "--host", host, "--no-browser"]) == 2
    message = capsys.readouterr().err
    assert f"refusing --host {host}" in message and "team mode" in message and "dagsmith serve" in message


def test_the_real_command_refuses_0_0_0_0(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(DAGSMITH), "edit", "--host", "0.0.0.0", "--port", "0", "--no-browser"],
        cwd=ROOT,
        env=server_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "team mode" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "dagsmith.db").exists()  # not even the store was opened


# ---- the middleware alone, on a small Starlette app ---------------------------------------------


def guarded_app(*, allowed_hosts: tuple[str, ...] = ()) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    from dagsmith.editor.security import LocalEditorGuard

    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{request.method} {request.url.path}?{request.url.query}")

    async def socket_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("open")
        await websocket.close()

    app = Starlette(
        routes=[Route("/{path:path}", echo, methods=["GET", "POST"]), WebSocketRoute("/ws", socket_endpoint)]
    )
    return LocalEditorGuard(app, token="t0ken", port=8080, allowed_hosts=allowed_hosts)


def client(app: Any, host: str = "127.0.0.1:8080") -> Any:
    with warnings.catch_warnings():  # starlette asks for httpx2, which this environment does not have
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    return TestClient(app, base_url=f"http://{host}", follow_redirects=False)


def test_the_redirect_keeps_the_other_parameters_and_stays_on_the_site() -> None:
    with client(guarded_app()) as http:
        answer = http.get("/pipeline/3?token=t0ken&tab=runs")
        assert (answer.status_code, answer.headers["location"]) == (303, "/pipeline/3?tab=runs")
        answer = http.get("http://127.0.0.1:8080//attacker.example/?token=t0ken")
        assert answer.headers["location"] == "/attacker.example/"  # never a protocol-relative address
        assert http.get("/pipeline/3?tab=runs").text == "GET /pipeline/3?tab=runs"  # the cookie was kept


def test_configured_host_names_are_accepted_and_nothing_else() -> None:
    app = guarded_app(allowed_hosts=("dagsmith.internal",))
    headers = {"Authorization": "token t0ken"}
    assert client(app, "dagsmith.internal:8080").get("/", headers=headers).status_code == 200
    assert client(app, "other.internal:8080").get("/", headers=headers).status_code == 403
    assert client(guarded_app(), "dagsmith.internal:8080").get("/", headers=headers).status_code == 403


def test_a_state_changing_request_needs_its_own_origin() -> None:
    with client(guarded_app()) as http:
        headers = {"Authorization": "token t0ken"}
        assert http.post("/upload", headers={**headers, "Origin": "http://127.0.0.1:8080"}).status_code == 200
        assert http.post("/upload", headers={**headers, "Origin": "http://127.0.0.1:9999"}).status_code == 403
        assert http.post("/upload", headers={**headers, "Origin": "http://127.0.0.1:8080/x"}).status_code == 403


def test_the_websocket_is_refused_before_it_opens() -> None:
    from starlette.websockets import WebSocketDisconnect

    with client(guarded_app()) as http:
        with http.websocket_connect(
            "ws://127.0.0.1:8080/ws?token=t0ken", headers={"Origin": "http://127.0.0.1:8080"}
        ) as ws:
            assert ws.receive_text() == "open"
        for headers in ({"Origin": "http://attacker.example"}, {}):
            url = "ws://127.0.0.1:8080/ws" + ("?token=t0ken" if headers else "")
            with pytest.raises(WebSocketDisconnect) as refused, http.websocket_connect(url, headers=headers):
                pass
            assert refused.value.code == 1008


@pytest.mark.parametrize(
    ("name", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("localhost.attacker.example", False),
        ("", False),
    ],
)
def test_loopback_host_names(name: str, loopback: bool) -> None:
    from dagsmith.editor.security import is_loopback_host

    assert is_loopback_host(name) is loopback


def test_each_launch_gets_a_fresh_token_unless_one_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagsmith.editor.security import launch_token

    monkeypatch.delenv("DAGSMITH_TOKEN", raising=False)
    first, second = launch_token(), launch_token()
    assert first != second and len(first) >= 40
    monkeypatch.setenv("DAGSMITH_TOKEN", "fixed")
    assert launch_token() == "fixed"
