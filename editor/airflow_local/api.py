"""A small client of Airflow 3's REST API v2 (standard library only): health, a token, JSON calls.

The local instance uses standalone's SimpleAuthManager: the ``admin`` user's generated password is in
``$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated``; ``POST /auth/token`` turns it into a JWT.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASSWORDS = "simple_auth_manager_passwords.json.generated"
USER = "admin"
COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


class ApiError(Exception):
    """Airflow answered with an error (``status``: its HTTP status), or did not answer (``status`` None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def login(home: Path) -> tuple[str, str] | None:
    """The user name and generated password of the instance in ``home``; None before standalone wrote it."""
    try:
        passwords = json.loads((home / PASSWORDS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(passwords, dict) or not passwords:
        return None
    user = USER if USER in passwords else next(iter(passwords))
    return str(user), str(passwords[user])


@dataclass(slots=True)
class Client:
    """Calls to one Airflow API server (``base``: ``http://127.0.0.1:PORT``)."""

    base: str
    user: str = ""
    password: str = ""
    timeout: float = 5.0
    token: str | None = field(default=None, repr=False)

    def _call(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self._token()}"
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise ApiError(f"{method} {path}: HTTP {exc.code} {detail}", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(f"{method} {path}: no answer from {self.base} ({reason})") from None
        return json.loads(text) if text else None

    def _token(self) -> str:
        if self.token is None:
            answer = self._call("POST", "/auth/token", {"username": self.user, "password": self.password}, auth=False)
            self.token = str(answer["access_token"])
        return self.token

    def health(self) -> dict[str, Any]:
        """``/api/v2/monitor/health`` (no login needed)."""
        answer = self._call("GET", "/api/v2/monitor/health", auth=False)
        return answer if isinstance(answer, dict) else {}

    def healthy(self) -> bool:
        """Whether the API answers and every component reports healthy."""
        try:
            health = self.health()
        except ApiError:
            return False
        return all((health.get(name) or {}).get("status") == "healthy" for name in COMPONENTS)

    def get(self, path: str) -> Any:
        """A GET with the token."""
        return self._call("GET", path)

    def post(self, path: str, body: Any) -> Any:
        """A POST with the token."""
        return self._call("POST", path, body)

    def patch(self, path: str, body: Any) -> Any:
        """A PATCH with the token."""
        return self._call("PATCH", path, body)

    def dag_ids(self) -> list[str]:
        """Every DAG the instance has parsed."""
        answer = self.get("/api/v2/dags?limit=1000")
        return sorted(str(dag["dag_id"]) for dag in answer.get("dags", []))

    def import_errors(self) -> dict[str, str]:
        """Airflow's own import error of each DAG file that failed to parse, by file name."""
        answer = self.get("/api/v2/importErrors?limit=1000")
        return {
            Path(str(item.get("filename"))).name: str(item.get("stack_trace") or "")
            for item in answer.get("import_errors", [])
        }
