"""Who may sign in to a team server: passwords (argon2), sessions, API tokens and the failed-login limit.

Everything lives in the database, so every replica behind a load balancer sees the same sessions, tokens
and failed attempts. Secrets (session cookies' and API tokens') are stored only as SHA-256 digests: a
copy of the database signs nobody in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, delete, func, select

from ..store import Store, StoreError, User
from ..store.base import StoreBase
from ..store.manage import groups_text
from ..store.models import ApiTokenRow, LoginFailureRow, LoginRow, SessionRow, UserRow, utcnow
from .grants import Grants, grants, join_members, member_columns

MIN_PASSWORD = 10
TOKEN_PREFIX = "dsm_"
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password anyone has")  # checked for unknown names: the same time either way


class LoginRefused(StoreError):  # noqa: N818 (reads as "accounts.LoginRefused")
    """Too many failed sign-ins: ``retry_after`` seconds until the next try is considered."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Identity:
    """A signed-in user; ``grants``: their project roles as of the session lookup that made it (``grants``)."""

    name: str
    org_admin: bool
    grants: Grants | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Account:
    """A user as ``dagsmith users list`` shows them."""

    name: str
    display_name: str
    has_password: bool
    disabled: bool
    org_admin: bool
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token without its secret (only a digest of which is stored)."""

    id: int
    user: str
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


def digest(secret: str) -> str:
    """The SHA-256 (hex) stored for a session's or token's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be used, or None."""
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters (it has {len(password)}); use a longer one"
    return None


class Accounts(StoreBase):
    """Sign-in state over the store's database."""

    def __init__(self, store: Store, *, login_attempts: int = 5, login_window: dt.timedelta | None = None) -> None:
        super().__init__(store.engine)
        self.store = store
        self.login_attempts = login_attempts
        self.login_window = login_window or dt.timedelta(minutes=15)

    # -- users -------------------------------------------------------------------------------------------
    def add_user(self, name: str, password: str, *, display_name: str = "", org_admin: bool = False) -> User:
        """Create a user who signs in with ``password`` (hashed with argon2id)."""
        problem = password_problem(password)
        if problem:
            raise StoreError(problem)
        user = self.store.create_user(name, display_name=display_name)
        with self._write() as session:
            session.add(LoginRow(user_id=user.id, password_hash=_HASHER.hash(password), org_admin=org_admin))
        return user

    def set_password(self, name: str, password: str) -> None:
        """Replace the user's password and end their sessions (a reset locks out whoever knew the old one)."""
        problem = password_problem(password)
        if problem:
            raise StoreError(problem)
        with self._write() as session:
            row = self._login(session, name)
            row.password_hash, row.changed_at = _HASHER.hash(password), utcnow()
            session.add(row)
            session.exec(delete(SessionRow).where(col(SessionRow.user_id) == row.user_id))

    def set_disabled(self, name: str, disabled: bool = True) -> None:
        """Disable (or enable) a user; disabling ends their sessions, and their API tokens stop working."""
        with self._write() as session:
            row = self._login(session, name)
            row.disabled, row.changed_at = disabled, utcnow()
            session.add(row)
            if disabled:
                session.exec(delete(SessionRow).where(col(SessionRow.user_id) == row.user_id))

    def accounts(self) -> list[Account]:
        """Every user, by name."""
        with self._read() as session:
            rows = session.exec(
                select(UserRow, LoginRow).join(LoginRow, col(LoginRow.user_id) == col(UserRow.id), isouter=True)
            )
            return sorted(
                (
                    Account(
                        user.name,
                        user.display_name,
                        login is not None and login.password_hash is not None,
                        login is not None and login.disabled,
                        login is not None and login.org_admin,
                        user.created_at,
                    )
                    for user, login in rows
                ),
                key=lambda account: account.name,
            )

    def _login(self, session: Session, name: str) -> LoginRow:
        user = self._user(session, name)
        assert user.id is not None
        row = session.get(LoginRow, user.id)
        return row if row is not None else LoginRow(user_id=user.id)

    # -- signing in --------------------------------------------------------------------------------------
    def authenticate(self, name: str, password: str, *, address: str) -> Identity | None:
        """The user if ``password`` is theirs and they may sign in; None otherwise (the failure is counted).

        Raises ``LoginRefused`` before checking anything when this name, or this address, failed too often
        lately, so that guessing stays slow whatever the password.
        """
        name, address = name.strip()[:64], address[:64]
        since = utcnow() - self.login_window
        with self._read() as session:
            by_name = self._failures(session, since, LoginFailureRow.user_name == name)
            by_address = self._failures(session, since, LoginFailureRow.address == address)
            if by_name[0] >= self.login_attempts or by_address[0] >= 4 * self.login_attempts:
                oldest = by_name[1] if by_name[0] >= self.login_attempts else by_address[1]
                wait = max(1, int((oldest + self.login_window - utcnow()).total_seconds()) + 1)
                raise LoginRefused(
                    f"too many failed sign-ins; wait {_minutes(wait)} and try again, or ask an administrator to "
                    "reset the password (dagsmith users reset-password)",
                    wait,
                )
            found = session.exec(
                select(UserRow, LoginRow)
                .join(LoginRow, col(LoginRow.user_id) == col(UserRow.id))
                .where(UserRow.name == name)
            ).first()
        user, login = found if found is not None else (None, None)
        stored = login.password_hash if login is not None and login.password_hash else _DUMMY_HASH
        try:
            valid = _HASHER.verify(stored, password) and login is not None and not login.disabled
        except (VerificationError, InvalidHashError):
            valid = False
        with self._write() as session:
            if not valid:
                session.add(LoginFailureRow(user_name=name, address=address))
                session.exec(delete(LoginFailureRow).where(col(LoginFailureRow.at) < since - self.login_window))
                return None
            assert user is not None and login is not None and login.password_hash is not None
            session.exec(delete(LoginFailureRow).where(col(LoginFailureRow.user_name) == name))
            if _HASHER.check_needs_rehash(login.password_hash):
                login.password_hash = _HASHER.hash(password)
                session.add(login)
        return Identity(user.name, login.org_admin)

    @staticmethod
    def _failures(session: Session, since: dt.datetime, which: object) -> tuple[int, dt.datetime]:
        count, oldest = session.exec(
            select(func.count(), func.min(LoginFailureRow.at)).where(which, col(LoginFailureRow.at) >= since)  # type: ignore[arg-type]
        ).one()
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        return int(count), oldest or utcnow()

    # -- sessions ----------------------------------------------------------------------------------------
    def start_session(self, name: str, *, hours: float, replacing: str | None = None) -> str:
        """A new session's secret (for the cookie); ``replacing``: the session secret the browser had (ended)."""
        secret = secrets.token_urlsafe(32)
        with self._write() as session:
            if replacing:
                session.exec(delete(SessionRow).where(col(SessionRow.id) == digest(replacing)))
            user = self._user(session, name)
            assert user.id is not None
            expires = utcnow() + dt.timedelta(hours=hours)
            session.add(SessionRow(id=digest(secret), user_id=user.id, expires_at=expires))
        return secret

    def session_identity(self, secret: str) -> Identity | None:
        """The user of a live session, or None (unknown, expired, ended, or the user is disabled).

        One query, which also reads the user's project roles (``Identity.grants``, see ``grants``).
        """
        query = select(UserRow.name, LoginRow.org_admin, LoginRow.disabled, SessionRow.expires_at, *member_columns())
        query = query.join(SessionRow, col(SessionRow.user_id) == col(UserRow.id))
        query = join_members(query.join(LoginRow, col(LoginRow.user_id) == col(UserRow.id)))
        with self._read() as session:
            rows = list(session.exec(query.where(SessionRow.id == digest(secret))))
        if not rows:
            return None
        name, org_admin, disabled, expires, *_ = rows[0]
        expires = expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)
        return None if disabled or expires <= utcnow() else Identity(name, org_admin, grants(rows))

    def end_session(self, secret: str) -> None:
        """Sign the session out (on every replica: the row is gone)."""
        with self._write() as session:
            session.exec(delete(SessionRow).where(col(SessionRow.id) == digest(secret)))

    def proxy_identity(self, name: str, groups: Iterable[str] | None = None) -> Identity | None:
        """The user an authenticating proxy (SSO) vouches for; made on first sight, with no project role yet.

        None when the name is not one a user can have or the user is disabled here. ``groups``: the groups the
        proxy names (None: it names none), stored when they differ from the stored ones. An unchanged set, what
        almost every request carries, costs no query beyond the lookup, which also reads the user's roles.
        """
        name = name.strip()
        if not name or len(name) > 200:
            return None
        query = select(UserRow.name, LoginRow.org_admin, LoginRow.disabled, UserRow.idp_groups, *member_columns())
        query = join_members(query.join(LoginRow, col(LoginRow.user_id) == col(UserRow.id), isouter=True))
        with self._read() as session:
            rows = list(session.exec(query.where(UserRow.name == name)))
        if not rows:
            try:
                self.store.create_user(name)
            except StoreError:  # another replica made them at the same moment, or the name is not allowed
                return self.proxy_identity(name, groups) if self._exists(name) else None
            if groups is not None:
                self.store.set_idp_groups(name, groups)
            return Identity(name, False, grants([]))
        _, org_admin, disabled, stored, *_ = rows[0]
        if disabled:
            return None
        if groups is not None and stored != groups_text(groups):
            self.store.set_idp_groups(name, groups)
        return Identity(name, bool(org_admin), grants(rows))

    def _exists(self, name: str) -> bool:
        with self._read() as session:
            return session.exec(select(UserRow.id).where(UserRow.name == name)).first() is not None

    # -- API tokens --------------------------------------------------------------------------------------
    def create_token(self, user: str, name: str) -> tuple[ApiToken, str]:
        """A new API token for ``user``: its record and its secret, which is shown once and never stored."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write() as session:
            owner = self._user(session, user)
            assert owner.id is not None
            row = ApiTokenRow(user_id=owner.id, name=name.strip()[:100] or "token", token_hash=digest(secret))
            session.add(row)
            session.flush()
            return _token(row, owner.name), secret

    def tokens(self, user: str) -> list[ApiToken]:
        """The user's tokens, revoked ones included, oldest first."""
        with self._read() as session:
            owner = self._user(session, user)
            query = select(ApiTokenRow).where(ApiTokenRow.user_id == owner.id).order_by(col(ApiTokenRow.id))
            rows = session.exec(query)
            return [_token(row, owner.name) for row in rows]

    def revoke_token(self, user: str, token_id: int) -> None:
        """Revoke one of ``user``'s tokens; it stops working at once, on every replica."""
        with self._write() as session:
            owner = self._user(session, user)
            row = session.get(ApiTokenRow, token_id)
            if row is None or row.user_id != owner.id:
                raise StoreError(f"{user!r} has no API token {token_id}; `dagsmith users tokens {user}` lists them")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                session.add(row)

    def token_identity(self, secret: str) -> Identity | None:
        """The user of a live API token, or None (unknown, revoked, or the user is disabled)."""
        with self._write() as session:
            found = session.exec(
                select(ApiTokenRow, UserRow.name, LoginRow.org_admin, LoginRow.disabled)
                .join(UserRow, col(UserRow.id) == col(ApiTokenRow.user_id))
                .join(LoginRow, col(LoginRow.user_id) == col(UserRow.id))
                .where(ApiTokenRow.token_hash == digest(secret))
            ).first()
            if found is None:
                return None
            row, name, org_admin, disabled = found
            if row.revoked_at is not None or disabled:
                return None
            row.last_used_at = utcnow()
            session.add(row)
            return Identity(name, org_admin)


def _token(row: ApiTokenRow, user: str) -> ApiToken:
    assert row.id is not None
    return ApiToken(row.id, user, row.name, row.created_at, row.last_used_at, row.revoked_at)


def _minutes(seconds: int) -> str:
    return f"{seconds} seconds" if seconds < 120 else f"{round(seconds / 60)} minutes"
