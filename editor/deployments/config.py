"""A project's deployments: the Airflow instances that run its exported DAGs, kept in the store.

A deployment has a name, the API's URL, the REST API version (``auto``, ``v2`` for Airflow 3, ``v1`` for
Airflow 2) and how to sign in: ``token`` (a bearer token), ``password`` (a user and a password) or
``none``. The secret itself is never stored: only a reference to where it is, ``env:NAME`` (an environment
variable) or ``file:PATH`` (a file holding it, e.g. a mounted Kubernetes secret). It is read when needed.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ..store import Role, Store
from ..store.engine import IMMEDIATE
from ..store.models import DeploymentRow
from .client import API_VERSIONS, AirflowApi, Credentials, DeploymentError

AUTH_KINDS = ("token", "password", "none")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Deployment:
    """A deployment's settings (the secret is only referred to)."""

    id: int
    project_id: int
    name: str
    api_url: str
    api_version: str
    auth: str
    user: str
    secret_ref: str

    @classmethod
    def from_row(cls, row: DeploymentRow) -> Deployment:
        """The record of a row."""
        assert row.id is not None
        return cls(row.id, row.project_id, row.name, row.api_url, row.api_version, row.auth, row.user, row.secret_ref)

    def describe(self) -> str:
        """One line: name, URL, API version, and where the credential comes from."""
        how = {"token": "token", "password": f"user {self.user!r}", "none": "no login"}[self.auth]
        where = f" from {self.secret_ref}" if self.auth != "none" else ""
        return f"{self.name}  {self.api_url}  api {self.api_version}  {how}{where}"


def check_settings(name: str, url: str, *, api_version: str, auth: str, user: str, secret_ref: str) -> None:
    """Raise ``DeploymentError`` naming the first field that is wrong and what to enter."""
    if not _NAME.match(name):
        raise DeploymentError(
            f"name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeploymentError(f"url {url!r}: enter the Airflow API server's address, e.g. https://airflow.example.com")
    if parts.username or parts.password:
        raise DeploymentError("url: do not put a user or password in the URL; use --user and --secret env:NAME")
    if api_version not in API_VERSIONS:
        raise DeploymentError(f"api_version {api_version!r}: choose one of {', '.join(API_VERSIONS)}")
    if auth not in AUTH_KINDS:
        raise DeploymentError(f"auth {auth!r}: choose one of {', '.join(AUTH_KINDS)}")
    if auth == "password" and not user:
        raise DeploymentError("user: password sign-in needs a user name; pass --user NAME")
    if auth != "password" and user:  # never drop a user silently: it would sign in without it
        raise DeploymentError(
            f"user {user!r}: only password sign-in uses a user, and sign-in is {auth!r}; "
            "choose password (--auth password) or leave the user empty"
        )
    if auth != "none":
        check_reference(secret_ref)


def check_reference(ref: str) -> None:
    """A secret reference must be ``env:NAME`` or ``file:PATH``, never the secret itself."""
    kind, _, rest = ref.partition(":")
    if kind == "env" and _ENV.match(rest):
        return
    if kind == "file" and rest:
        return
    raise DeploymentError(
        "secret: give where the token or password is, not the secret itself: env:NAME (an environment variable) "
        "or file:PATH (a file holding it)"
    )


def resolve_secret(deployment: Deployment) -> str:
    """The secret the deployment refers to, read now; the error says which variable or file to provide."""
    kind, _, rest = deployment.secret_ref.partition(":")
    if kind == "env":
        value = os.environ.get(rest, "")
        if not value:
            raise DeploymentError(
                f"deployment {deployment.name!r}: the environment variable {rest} (its {deployment.auth}) is not "
                f"set; set it (export {rest}=...) before connecting"
            )
        return value
    if kind == "file":
        try:
            value = Path(rest).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise DeploymentError(
                f"deployment {deployment.name!r}: cannot read its {deployment.auth} from {rest} "
                f"({exc.strerror or exc}); create the file or change the reference with --replace"
            ) from None
        if not value:
            raise DeploymentError(f"deployment {deployment.name!r}: the file {rest} (its {deployment.auth}) is empty")
        return value
    check_reference(deployment.secret_ref)
    raise AssertionError("unreachable")  # check_reference raised


def connect(deployment: Deployment, *, timeout: float | None = None) -> AirflowApi:
    """A client of the deployment's API, with its secret read now."""
    secret = "" if deployment.auth == "none" else resolve_secret(deployment)
    credentials = Credentials(deployment.auth, deployment.user, secret)
    extra = {"timeout": timeout} if timeout else {}
    return AirflowApi(
        deployment.api_url, credentials, api_version=deployment.api_version, name=deployment.name, **extra
    )


class Deployments:
    """The deployments of a store's projects; changing them needs the maintainer role, reading them viewer."""

    def __init__(self, store: Store, user: str = "local") -> None:
        self.store = store
        self.user = user

    def add(
        self,
        project_id: int,
        name: str,
        url: str,
        *,
        api_version: str = "auto",
        auth: str = "token",
        user: str = "",
        secret_ref: str = "",
        replace: bool = False,
    ) -> Deployment:
        """Add (or with ``replace``, change) a deployment of the project."""
        check_settings(name, url, api_version=api_version, auth=auth, user=user, secret_ref=secret_ref)
        self.store.require_role(self.user, project_id, Role.MAINTAINER, doing="change the project's deployments")
        with self._write() as session, session.begin():
            row = self._row(session, project_id, name)
            if row is not None and not replace:
                raise DeploymentError(
                    f"name {name!r}: the project has a deployment of that name; pass --replace to change it "
                    "or choose another name"
                )
            row = row or DeploymentRow(project_id=project_id, name=name, api_url=url)
            row.api_url, row.api_version, row.auth = url.rstrip("/"), api_version, auth
            row.user = user if auth == "password" else ""
            row.secret_ref = secret_ref if auth != "none" else ""
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise DeploymentError(f"name {name!r}: added meanwhile by someone else; try again") from None
            return Deployment.from_row(row)

    def list(self, project_id: int) -> list[Deployment]:
        """The project's deployments by name."""
        self.store.require_role(self.user, project_id, Role.VIEWER, doing="see the project's deployments")
        with Session(self.store.engine) as session:
            rows = session.exec(
                select(DeploymentRow).where(DeploymentRow.project_id == project_id).order_by(col(DeploymentRow.name))
            )
            return [Deployment.from_row(row) for row in rows]

    def get(self, project_id: int, name: str) -> Deployment:
        """One deployment by name; the error lists the names there are."""
        for deployment in self.list(project_id):
            if deployment.name == name:
                return deployment
        names = ", ".join(d.name for d in self.list(project_id)) or "none yet"
        raise DeploymentError(
            f"deployment {name!r}: the project has no deployment of that name (it has: {names}); "
            "add it with dagsmith deployments add NAME --url URL"
        )

    def remove(self, project_id: int, name: str) -> None:
        """Remove a deployment (the Airflow itself is not touched)."""
        self.get(project_id, name)
        self.store.require_role(self.user, project_id, Role.MAINTAINER, doing="change the project's deployments")
        with self._write() as session, session.begin():
            row = self._row(session, project_id, name)
            if row is not None:
                session.delete(row)

    def _write(self) -> Session:
        """A session that takes the write lock at once (as the store's own writes do); begun by the caller."""
        return Session(self.store.engine, expire_on_commit=False, execution_options={IMMEDIATE: True})

    @staticmethod
    def _row(session: Session, project_id: int, name: str) -> DeploymentRow | None:
        return session.exec(
            select(DeploymentRow).where(DeploymentRow.project_id == project_id, DeploymentRow.name == name)
        ).first()
