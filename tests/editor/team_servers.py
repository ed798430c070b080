"""Real team servers for tests and the load bench: a throw-away PostgreSQL, ``dagsmith serve`` replicas on it,
and a pipeline page driven over HTTP and socket.io's websocket exactly as NiceGUI's own client drives it.

``PageClient`` loads ``/pipeline/{id}`` with a session cookie, reads the page's elements (their ids and event
listeners) from its HTML, connects socket.io as the page's script does, and sends the canvas and form
events a user's gestures send. What the server sends back (canvas method calls, element updates, notices)
is collected so that a caller can wait for the answer to each gesture.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from browser import DAGSMITH, ROOT, free_port, server_env
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

PASSWORD = "correct horse battery"
SECRET = "k" * 48
COOKIE = "dagsmith-session"


def _as_postgres(*command: str) -> list[str]:
    # initdb and the server refuse to run as root; CI runs as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@contextmanager
def postgres(*, max_connections: int = 100) -> Iterator[str]:
    """A throw-away PostgreSQL cluster on loopback for as long as the block runs; its SQLAlchemy URL."""
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    assert binaries, "PostgreSQL server binaries are needed (apt-get install postgresql); .ci/run installs them"
    bin_dir = binaries[-1].parent
    base = Path(tempfile.mkdtemp(prefix="dagsmith-pg-"))
    base.chmod(0o755)  # the server's user must reach its data folder
    data = base / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "dagsmith", "--no-sync"]
    subprocess.run(_as_postgres(*initdb), check=True, capture_output=True)
    options = f"-k {data} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections={max_connections}"
    pg_ctl = str(bin_dir / "pg_ctl")
    start = [pg_ctl, "-D", str(data), "-o", options, "-w", "-l", str(data / "log"), "start"]
    subprocess.run(_as_postgres(*start), check=True, capture_output=True)
    try:
        createdb = [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagsmith", "dagsmith"]
        subprocess.run(_as_postgres(*createdb), check=True, capture_output=True)
        yield f"postgresql+psycopg://dagsmith@127.0.0.1:{port}/dagsmith"
    finally:
        stop = [pg_ctl, "-D", str(data), "-m", "immediate", "stop"]
        subprocess.run(_as_postgres(*stop), check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Replica:
    """One running ``dagsmith serve`` process."""

    port: int
    log: Path

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        *,
        source: str | None = None,
    ) -> tuple[int, dict[str, str], str]:
        """One HTTP request (no redirects followed, no cookies kept): status, headers, body. ``source``: the
        loopback address to send from (the peer the server sees), e.g. a trusted proxy's."""
        address = (source, 0) if source else None
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60, source_address=address)
        try:
            connection.putrequest(method, path, skip_host=True)
            for name, value in {"Host": f"127.0.0.1:{self.port}", **(headers or {})}.items():
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
        finally:
            connection.close()

    def session(self, name: str, password: str = PASSWORD) -> str:
        """Sign in through the form as a browser does; the session cookie's value."""
        body = urlencode({"name": name, "password": password, "next": "/"}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{self.port}"}
        status, received, _ = self.request("POST", "/login", headers, body)
        assert status == 303, (name, status)
        cookies: SimpleCookie = SimpleCookie()
        cookies.load(received["set-cookie"])
        return cookies[COOKIE].value

    def api(self, path: str, cookie: str) -> tuple[int, str]:
        """GET an API route with the session cookie: status and body."""
        status, _, body = self.request("GET", path, {"Cookie": f"{COOKIE}={cookie}"})
        return status, body

    def draft(self, pipeline_id: int, cookie: str) -> tuple[int, dict[str, Any]]:
        """The pipeline's working copy through this replica's REST API: (revision, document)."""
        status, body = self.api(f"/api/v1/pipelines/{pipeline_id}/draft", cookie)
        assert status == 200, (status, body)
        answer = json.loads(body)
        return int(answer["revision"]), dict(answer["document"])


@contextmanager
def replica(database: str, home: Path, *, extra_env: dict[str, str] | None = None) -> Iterator[Replica]:
    """``dagsmith serve`` on ``database`` (PostgreSQL) until the block ends; waits until it answers."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = server_env(home)
    env.update(DAGSMITH_DATABASE_URL=database, DAGSMITH_SECRET_KEY=SECRET, **(extra_env or {}))
    log = home / "server.log"
    with log.open("wb") as out:
        command = [str(DAGSMITH), "serve", "--port", str(port)]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Replica(port, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if server.request("GET", "/login")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the team server did not start:\n" + log.read_text(errors="replace")
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def page_elements(page: str) -> tuple[str, dict[str, Any]]:
    """(client id, elements by id) of a NiceGUI page's HTML, as its ``parseElements`` reads them."""
    client_id = re.search(r"'client_id': '([0-9a-f-]+)'", page)
    raw = re.search(r"parseElements\(String\.raw`(.*?)`\)", page, re.S)
    assert client_id and raw, "the page has no client id or no elements"
    text = raw.group(1)
    for old, new in (("&#36;", "$"), ("&#96;", "`"), ("&gt;", ">"), ("&lt;", "<"), ("&amp;", "&")):
        text = text.replace(old, new)
    return client_id.group(1), dict(json.loads(text))


class PageClient:
    """A pipeline page of one user on one replica, connected over socket.io's websocket."""

    def __init__(self, server: Replica, cookie: str, pipeline_id: int) -> None:
        self.server, self.cookie, self.pipeline_id = server, cookie, pipeline_id
        self.ws: ClientConnection | None = None
        self.received: list[str] = []
        self.elements: dict[str, Any] = {}
        self.nodes: dict[str, Any] = {}  # the canvas's nodes, as the server told the page to draw them
        self.client_id = ""
        self.focus: str | None = None  # the form field (data-field) the user is typing in, as the page reports it

    def open(self) -> None:
        """Load the page and connect its socket as its script does (the implicit handshake included)."""
        status, _, page = self.server.request("GET", f"/pipeline/{self.pipeline_id}", self._headers("text/html"))
        assert status == 200, status
        self.client_id, self.elements = page_elements(page)
        query = urlencode(
            {
                "client_id": self.client_id,
                "implicit_handshake": "true",
                "document_id": "d",
                "tab_id": "t",
                "next_message_id": 0,
            }
        )
        port = self.server.port
        uri = f"ws://127.0.0.1:{port}/_nicegui_ws/socket.io/?{query}&EIO=4&transport=websocket"
        headers = {"Cookie": f"{COOKIE}={self.cookie}"}
        self.ws = connect(uri, origin=f"http://127.0.0.1:{port}", additional_headers=headers, open_timeout=60)  # type: ignore[arg-type]
        assert str(self.ws.recv(timeout=60)).startswith("0{")  # engine.io open
        self.ws.send("40")  # socket.io connect
        self.until(lambda message: message.startswith("40"))

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None

    def __enter__(self) -> PageClient:
        self.open()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _headers(self, accept: str) -> dict[str, str]:
        return {"Accept": accept, "Cookie": f"{COOKIE}={self.cookie}"}

    def listeners(self, event: str) -> tuple[int, list[str]]:
        """(element id, listener ids) of the first element of the page listening to ``event``."""
        for element_id, element in self.elements.items():
            found = [str(item["listener_id"]) for item in element.get("events", []) if item["type"] == event]
            if found:
                return int(element_id), found
        raise AssertionError(f"no element of the page listens to {event}")

    def send(self, event: str, payload: Any = None, *, element: int | None = None) -> None:
        """Emit ``event`` with ``payload`` as the element's component does: one message per listener."""
        assert self.ws is not None, "open the page first"
        if element is None:
            element, listener_ids = self.listeners(event)
        else:
            items = self.elements[str(element)].get("events", [])
            listener_ids = [str(item["listener_id"]) for item in items if item["type"] == event]
        args = [json.dumps(payload)] if payload is not None else []
        for listener_id in listener_ids:
            message = {"id": element, "client_id": self.client_id, "listener_id": listener_id, "args": args}
            self.ws.send("42" + json.dumps(["event", message]))

    def until(self, done: Callable[[str], bool], *, seconds: float = 60) -> list[str]:
        """What the server sends until ``done`` says stop (answering pings); AssertionError after ``seconds``."""
        assert self.ws is not None, "open the page first"
        got: list[str] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = str(self.ws.recv(timeout=left))
            except TimeoutError:
                break
            except ConnectionClosed as exc:
                raise AssertionError(f"the server closed the page's socket: {exc}; got {got[-3:]}") from None
            if message == "2":
                self.ws.send("3")
                continue
            got.append(message)
            self.received.append(message)
            self._follow(message)
            if done(message):
                return got
        raise AssertionError(f"no awaited answer within {seconds} s; got {got[-3:]}")

    def idle(self, seconds: float) -> None:
        """Let ``seconds`` pass as an open page does while its user reads: the server's messages are taken in and
        its pings answered (NiceGUI pings every 4 s and closes a socket whose pong is 2 s late, so a client that
        merely slept through a pause would be dropped, as no browser is)."""
        deadline = time.monotonic() + seconds
        if self.ws is None:
            time.sleep(max(seconds, 0.0))
            return
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = str(self.ws.recv(timeout=left))
            except TimeoutError:
                return
            if message == "2":
                self.ws.send("3")
                continue
            self.received.append(message)
            self._follow(message)

    def element(self, **props: Any) -> int:
        """The id of the first element whose props include ``props`` (e.g. ``label="Export"``)."""
        for element_id, element in self.elements.items():
            if all(element.get("props", {}).get(k) == v for k, v in props.items()):
                return int(element_id)
        raise AssertionError(f"the page has no element with {props}")

    def _follow(self, message: str) -> None:
        """Keep ``elements`` (``update`` messages) and ``nodes`` (canvas calls) as the browser would."""
        if message.startswith('42["update",'):
            for element_id, element in json.loads(message[2:])[1].items():
                if element is None:
                    self.elements.pop(element_id, None)
                elif element_id != "_id":
                    self.elements[element_id] = element
        elif message.startswith('42["run_javascript",'):
            request = json.loads(message[2:])[1]
            if "request_id" in request and self.ws is not None:  # awaited: answer as the page would
                result = None  # no focus, or not a question this client knows
                if self.focus is not None and "document.activeElement" in str(request.get("code")):
                    result = {"field": self.focus, "start": None, "end": None}
                answer = {"request_id": request["request_id"], "client_id": self.client_id, "result": result}
                self.ws.send("42" + json.dumps(["javascript_response", answer]))
            code = str(request["code"])
            if "runMethod(" not in code:
                return
            try:
                method = code.split('"', 2)[1]
                args = json.loads(code[code.index(", [", code.index(method)) + 2 : code.rindex(")")])
            except (IndexError, ValueError):  # not a canvas method call
                return
            if method == "loadGraph":
                self.nodes = {node["id"]: node for node in args[0]}
            elif method in ("addNode", "updateNode"):
                self.nodes[args[0]["id"]] = args[0]
            elif method == "removeElements":
                for node_id in args[0]:
                    self.nodes.pop(node_id, None)

    def graph(self) -> dict[str, Any]:
        """Ask the page to draw its graph (the canvas mounted: ``canvasReady``); the nodes and edges it sends."""
        self.send("canvasReady")
        for message in reversed(self.until(lambda m: "loadGraph" in m)):
            if "loadGraph" in message:
                return loaded_graph(message)
        raise AssertionError("no loadGraph")


def loaded_graph(message: str) -> dict[str, Any]:
    """The nodes and edges of a canvas ``loadGraph`` call in a socket.io message (a ``run_javascript``)."""
    _, payload = json.loads(message[message.index("[") :])
    code = str(payload["code"])
    start = code.index('"loadGraph", ') + len('"loadGraph", ')
    nodes, edges, *_ = json.loads(code[start : code.rindex(")")])
    return {"nodes": {n["id"]: n for n in nodes}, "edges": {e["id"]: e for e in edges}}
