"""A client of a deployed Airflow's stable REST API: v2 (Airflow 3) and v1 (Airflow 2), standard library only.

Both versions are answered in one shape (``DagInfo``, ``RunInfo``, ``TaskInfo``), so the service and the
editor never ask which Airflow they talk to. Every failure becomes a ``DeploymentError`` whose message
names the deployment and says what to do: unreachable, refused credentials, a DAG not deployed, a DAG
with import errors (Airflow's own error), an answer that is not Airflow's.
"""

from __future__ import annotations

import ast
import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

API_VERSIONS = ("auto", "v2", "v1")
TIMEOUT = 20.0


class DeploymentError(Exception):
    """A problem with a deployment (its configuration, its answer, or no answer); the message says what to do."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotDeployedError(DeploymentError):
    """The DAG is not on the deployment (``import_error``: Airflow's own error when its file failed to parse)."""

    def __init__(self, message: str, import_error: str | None = None) -> None:
        super().__init__(message, 404)
        self.import_error = import_error


@dataclass(frozen=True, slots=True)
class Credentials:
    """How to sign in: ``token`` (a bearer token), ``password`` (user and password) or ``none``."""

    kind: str = "none"
    user: str = ""
    secret: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class DagInfo:
    """A DAG as the deployment knows it."""

    dag_id: str
    is_paused: bool
    fileloc: str
    file_token: str


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One DAG run."""

    run_id: str
    state: str
    when: str
    start_date: str | None
    end_date: str | None
    conf: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """One task instance of a run."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _detail(raw: str) -> str:
    try:
        answer = json.loads(raw)
    except ValueError:
        return raw.strip()[:300]
    detail = (answer.get("detail") or answer.get("title") or answer) if isinstance(answer, dict) else answer
    if isinstance(detail, dict):
        detail = detail.get("reason") or detail.get("message") or json.dumps(detail)
    if isinstance(detail, list):  # FastAPI's validation errors
        detail = "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail)
    return str(detail).strip()[:500]


def log_text(content: Any) -> str:
    """The text of a task log as either API returns it (v2: structured entries; v1: text or host/text pairs)."""
    if isinstance(content, list):
        lines = []
        for entry in content:
            if isinstance(entry, dict):
                stamp, level = entry.get("timestamp"), entry.get("level")
                prefix = " ".join(str(part) for part in (stamp, level and str(level).upper()) if part)
                lines.append(f"[{prefix}] {entry.get('event', '')}" if prefix else str(entry.get("event", "")))
            elif isinstance(entry, list | tuple) and len(entry) == 2:
                lines.append(str(entry[1]))
            else:
                lines.append(str(entry))
        return "\n".join(lines)
    text = str(content or "")
    if text.startswith("[(") and text.endswith(")]"):  # Airflow 2's repr of [(host, text), ...]
        try:
            pairs = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        return "\n".join(str(pair[1]) for pair in pairs if isinstance(pair, tuple) and len(pair) == 2)
    return text


class AirflowApi:
    """Calls to one deployment's REST API; ``api_version`` ``auto`` asks the server which one it has."""

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        api_version: str = "auto",
        name: str = "",
        timeout: float = TIMEOUT,
    ) -> None:
        if api_version not in API_VERSIONS:
            raise DeploymentError(f"api_version {api_version!r} is not one of {', '.join(API_VERSIONS)}")
        self.base = url.rstrip("/")
        self.credentials = credentials
        self.name = name or self.base
        self.timeout = timeout
        self._version = None if api_version == "auto" else api_version
        self._token: str | None = credentials.secret if credentials.kind == "token" else None

    # -- transport ------------------------------------------------------------------------------------
    def _send(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> tuple[int, str]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers.update(self._auth_header())
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return int(response.status), response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode("utf-8", errors="replace")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise DeploymentError(
                f"deployment {self.name!r}: cannot reach the Airflow API at {self.base} ({reason}); check the "
                "deployment's URL (dagsmith deployments add NAME --url URL --replace) and that Airflow runs"
            ) from None

    def _auth_header(self) -> dict[str, str]:
        creds = self.credentials
        if creds.kind == "none":
            return {}
        if creds.kind == "password" and self.version == "v1":
            pair = base64.b64encode(f"{creds.user}:{creds.secret}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        if self._token is None:
            self._token = self._sign_in()
        return {"Authorization": f"Bearer {self._token}"}

    def _sign_in(self) -> str:
        """Airflow 3: trade user and password for a JWT at ``/auth/token``."""
        body = {"username": self.credentials.user, "password": self.credentials.secret}
        status, text = self._send("POST", "/auth/token", body, auth=False)
        if status in (401, 403):
            raise DeploymentError(
                f"deployment {self.name!r}: Airflow refused the user {self.credentials.user!r} and its password "
                f"(HTTP {status}: {_detail(text)}); check the user name and the secret the deployment refers to",
                status,
            )
        answer = self._json(status, text, "POST /auth/token")
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not token:
            raise DeploymentError(f"deployment {self.name!r}: /auth/token gave no access_token; is this Airflow 3?")
        return str(token)

    def _json(self, status: int, text: str, what: str) -> Any:
        if status in (401, 403):
            refused = status == 401 or "jwt" in text.lower() or "not authenticated" in text.lower()
            check = "check the token or password the deployment refers to (dagsmith deployments list shows where it is)"
            # Airflow 2 answers a wrong password with 403 too: it cannot be told from a missing permission.
            hint = check if refused else f"{check}, or ask the Airflow admin to let its user do this"
            raise DeploymentError(
                f"deployment {self.name!r}: Airflow refused {what} (HTTP {status}: {_detail(text)}); {hint}", status
            )
        if status >= 400:
            raise DeploymentError(f"deployment {self.name!r}: {what} failed (HTTP {status}: {_detail(text)})", status)
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise DeploymentError(
                f"deployment {self.name!r}: {what} answered with something that is not JSON (HTTP {status}); "
                f"is {self.base} the Airflow API server's address (without /api/...)?"
            ) from None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """A call to ``/api/<version>/<path>`` with the credentials; its JSON answer."""
        full = f"/api/{self.version}/{path}"
        status, text = self._send(method, full, body)
        if status == 403 and self.credentials.kind == "password" and self.version == "v2" and "jwt" in text.lower():
            self._token = None  # an expired token: sign in again once
            status, text = self._send(method, full, body)
        return self._json(status, text, f"{method} {full}")

    # -- version --------------------------------------------------------------------------------------
    @property
    def version(self) -> str:
        """``v2`` or ``v1``: as configured, or as the server answers ``/api/v2/version``."""
        if self._version is None:
            status, _ = self._send("GET", "/api/v2/version", auth=False)
            if status == 404:
                status, _ = self._send("GET", "/api/v1/version", auth=False)
                self._version = "v1" if status in (200, 401, 403) else None
            elif status in (200, 401, 403):
                self._version = "v2"
            if self._version is None:
                raise DeploymentError(
                    f"deployment {self.name!r}: {self.base} does not answer as an Airflow API (HTTP {status} for "
                    "/api/v2/version and /api/v1/version); check the URL, or set the API version with --api-version"
                )
        return self._version

    def airflow_version(self) -> str:
        """The Airflow version the server reports."""
        answer = self.call("GET", "version")
        return str(answer.get("version", "?")) if isinstance(answer, dict) else "?"

    # -- DAGs ----------------------------------------------------------------------------------------
    def dag(self, dag_id: str) -> DagInfo:
        """The DAG; ``NotDeployedError`` (with Airflow's import error when its file failed) when it is not there."""
        try:
            answer = self.call("GET", f"dags/{_quote(dag_id)}")
        except DeploymentError as exc:
            if exc.status != 404:
                raise
            error = self.import_error(dag_id)
            if error:
                raise NotDeployedError(
                    f"deployment {self.name!r}: the DAG {dag_id!r} failed to import there; Airflow says:\n{error}\n"
                    "Fix the pipeline (or the deployment's environment) and export it again",
                    error,
                ) from None
            raise NotDeployedError(
                f"deployment {self.name!r}: the DAG {dag_id!r} is not deployed there (yet); export the pipeline "
                "to the DAG folder the deployment reads, and wait for Airflow to parse it"
            ) from None
        return DagInfo(
            dag_id=str(answer["dag_id"]),
            is_paused=bool(answer.get("is_paused")),
            fileloc=str(answer.get("fileloc") or ""),
            file_token=str(answer.get("file_token") or ""),
        )

    def import_error(self, dag_id: str) -> str | None:
        """Airflow's import error of the file ``<dag_id>.py``, if it has one."""
        answer = self.call("GET", "importErrors?limit=1000")
        for item in answer.get("import_errors", []) if isinstance(answer, dict) else []:
            if str(item.get("filename", "")).rsplit("/", 1)[-1] == f"{dag_id}.py":
                return str(item.get("stack_trace") or "")
        return None

    def dag_source(self, dag: DagInfo) -> str:
        """The DAG file's text (v2 by dag_id, v1 by the DAG's file token)."""
        key = dag.dag_id if self.version == "v2" else dag.file_token
        answer = self.call("GET", f"dagSources/{_quote(key)}")
        return str(answer.get("content", "")) if isinstance(answer, dict) else str(answer or "")

    def set_paused(self, dag_id: str, paused: bool) -> bool:
        """Pause or unpause the DAG; whether it is paused now."""
        answer = self.call("PATCH", f"dags/{_quote(dag_id)}?update_mask=is_paused", {"is_paused": paused})
        return bool(answer.get("is_paused")) if isinstance(answer, dict) else paused

    # -- runs ----------------------------------------------------------------------------------------
    def runs(self, dag_id: str, limit: int = 25) -> list[RunInfo]:
        """The DAG's latest runs, newest first."""
        order = "-run_after" if self.version == "v2" else "-execution_date"
        answer = self.call("GET", f"dags/{_quote(dag_id)}/dagRuns?order_by={order}&limit={limit}")
        return [self._run(item) for item in answer.get("dag_runs", [])]

    def run(self, dag_id: str, run_id: str) -> RunInfo:
        """One run."""
        return self._run(self.call("GET", f"dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}"))

    @staticmethod
    def _run(item: dict[str, Any]) -> RunInfo:
        when = item.get("run_after") or item.get("logical_date") or item.get("execution_date") or ""
        conf = item.get("conf")
        return RunInfo(
            run_id=str(item["dag_run_id"]),
            state=str(item.get("state") or "queued"),
            when=str(when),
            start_date=item.get("start_date"),
            end_date=item.get("end_date"),
            conf=conf if isinstance(conf, dict) else {},
        )

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> RunInfo:
        """Start a run with ``conf`` (Airflow checks it against the DAG's params too)."""
        body: dict[str, Any] = {"conf": conf}
        if self.version == "v2":
            body["logical_date"] = None
        return self._run(self.call("POST", f"dags/{_quote(dag_id)}/dagRuns", body))

    def task_instances(self, dag_id: str, run_id: str) -> list[TaskInfo]:
        """The run's task instances."""
        answer = self.call("GET", f"dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances?limit=1000")
        return [
            TaskInfo(
                task_id=str(item["task_id"]),
                map_index=int(item.get("map_index", -1) if item.get("map_index") is not None else -1),
                state=item.get("state"),
                try_number=int(item.get("try_number") or 0),
            )
            for item in answer.get("task_instances", [])
        ]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The task instance's log of one try, as text."""
        path = f"dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances/{_quote(task_id)}/logs/{try_number}"
        answer = self.call("GET", f"{path}?full_content=true&map_index={map_index}")
        return log_text(answer.get("content") if isinstance(answer, dict) else answer)

    def clear(self, dag_id: str, run_id: str, task_ids: list[str], *, only_failed: bool = True) -> list[str]:
        """Clear task instances of a run so the scheduler runs them again; the ids it cleared."""
        body = {
            "dry_run": False,
            "task_ids": task_ids,
            "dag_run_id": run_id,
            "only_failed": only_failed,
            "reset_dag_runs": True,
        }
        answer = self.call("POST", f"dags/{_quote(dag_id)}/clearTaskInstances", body)
        return sorted({str(item.get("task_id")) for item in answer.get("task_instances", [])})
