"""The CLI against a team server: ``dagsmith export --server URL --project P PIPELINE``.

The command talks to the server's REST API (``/api/v1``) with an API token from the environment
(``DAGSMITH_SERVER_TOKEN``; ``dagsmith users token NAME`` makes one), never from an argument, which would
show in ``ps`` and the shell history. The server does every check (role, review of a protected branch), so
the CLI can do nothing the user could not do in the browser. Only the standard library is used: the command
starts without the store or NiceGUI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

from ..terminal import printable

TOKEN_ENV = "DAGSMITH_SERVER_TOKEN"
TIMEOUT_S = 120.0
EXIT_FAILED, EXIT_USAGE = 1, 2


class ServerError(Exception):
    """The server refused or could not be reached; the message says what to do."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


class Server:
    """A team server's API, as the user of one API token."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ServerError(f"--server {url!r} is not a server address; use e.g. https://dagsmith.example.com")
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call; its JSON answer, or ``ServerError`` with the server's own reason."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/api/v1{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise ServerError(self._refusal(exc), usage=exc.code in (401, 403, 404)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerError(
                f"cannot reach {self.url}: {reason}; check the address and that the server runs"
            ) from None
        return json.loads(text) if text else None

    def _refusal(self, exc: urllib.error.HTTPError) -> str:
        try:
            detail = json.loads(exc.read().decode()).get("detail", "")
        except (ValueError, AttributeError, OSError):
            detail = ""
        if exc.code == 401:
            return f"{self.url} did not accept the token in {TOKEN_ENV} (revoked, or not a token of this server)"
        return f"{self.url} refused ({exc.code}): {detail or exc.reason}"

    def project_id(self, project: str) -> int:
        """The id of the user's project named (or numbered) ``project``."""
        projects = self.call("GET", "/projects")
        for item in projects:
            if project in (item["name"], str(item["id"])):
                return int(item["id"])
        names = ", ".join(repr(item["name"]) for item in projects) or "none"
        raise ServerError(f"you have no project {project!r} on {self.url} (yours: {names})", usage=True)

    def pipeline_id(self, project_id: int, pipeline: str) -> int:
        """The id of the project's pipeline named ``pipeline`` (its name, DAG id or number)."""
        listed = self.call("GET", f"/projects/{project_id}/pipelines")
        for item in listed:
            if pipeline in (item["name"], item["dag_id"], str(item["id"])):
                return int(item["id"])
        names = ", ".join(repr(item["name"]) for item in listed) or "none"
        raise ServerError(f"the project has no pipeline {pipeline!r} (its pipelines: {names})", usage=True)


def cmd_export_remote(args: argparse.Namespace) -> int:
    """Commit a pipeline's working copy to its project's repository through the server (its checks apply)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        return _fail(
            f"set {TOKEN_ENV} to an API token of yours (an administrator makes one: dagsmith users token NAME)"
        )
    if not args.project:
        return _fail("--server needs --project NAME (the project the pipeline belongs to)")
    try:
        server = Server(args.server, token)
        pipeline_id = server.pipeline_id(server.project_id(args.project), args.file)
        body = {"message": args.message or "", "target": args.target}
        done = server.call("POST", f"/pipelines/{quote(str(pipeline_id))}/commit", body)
    except ServerError as exc:
        return _fail(str(exc), EXIT_USAGE if exc.usage else EXIT_FAILED)
    sys.stdout.write(printable(f"version {done['version']} committed {done['commit']}: {', '.join(done['paths'])}"))
    sys.stdout.write("\n")
    return 0


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    sys.stderr.write(printable(f"dagsmith export: {message}") + "\n")
    return code
