"""Who an OIDC sign-in is: the dagsmith user named by the ID token's configured claim, created or matched.

A user an administrator disabled stays refused whatever the provider says. A user made here on first sign-in
has no password and no project role yet (like one an SSO proxy names); with ``oidc_admin_claim`` set, the
provider decides on every sign-in whether they are an organisation admin; with ``oidc_groups_claim`` set,
the groups it lists replace the user's stored IdP groups (``downloads.groups_of``) on every sign-in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import col, select

from ..store import StoreError
from ..store.base import StoreBase
from ..store.models import LoginRow, UserRow, utcnow
from .accounts import Accounts, Identity
from .settings import TeamSettings


class OidcRefused(Exception):  # noqa: N818 (reads as "oidc.OidcRefused")
    """A sign-in the server will not complete; the message says why and what to do, ``status`` its HTTP code."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


def user_name(settings: TeamSettings, claims: Mapping[str, Any], provider: str) -> str:
    """The dagsmith user name in the ID token's claims, after the allowed-domain check."""
    domains = {part.strip().lower().lstrip("@") for part in settings.oidc_email_domains.split(",") if part.strip()}
    if domains:
        email = str(claims.get("email") or "")
        verified = claims.get("email_verified", True) not in (False, "false")
        if not email or not verified or email.rpartition("@")[2].lower() not in domains:
            shown = email or "no e-mail address"
            raise OidcRefused(
                f"{provider} signed you in as {shown}{'' if verified else ' (not verified)'}, but this server "
                f"accepts only verified addresses in {', '.join(sorted(domains))}; sign in with such an account"
            )
    claim = settings.oidc_username_claim
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        sent = ", ".join(sorted(claims)) or "none"
        raise OidcRefused(
            f"{provider} did not send the claim {claim!r} that names your user here (it sent: {sent}); "
            "an administrator should set DAGSMITH_OIDC_USERNAME_CLAIM to one of those",
            502,
        )
    return value.strip()


def _listed(claims: Mapping[str, Any], claim: str) -> list[str]:
    """The values of a claim that lists groups: a list (or tuple) of them, or one string; [] when absent."""
    value = claims.get(claim)
    values = [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else []
    return [str(item) for item in values]


def is_org_admin(settings: TeamSettings, claims: Mapping[str, Any]) -> bool | None:
    """Whether the claims make the user an organisation admin; None when no admin claim is configured."""
    if not settings.oidc_admin_claim:
        return None
    return settings.oidc_admin_group in _listed(claims, settings.oidc_admin_claim)


def claim_groups(settings: TeamSettings, claims: Mapping[str, Any]) -> list[str] | None:
    """The user's groups in the claims (a list of strings or one string); None when no groups claim is configured.

    A configured claim the provider did not send is no groups (the user left them all).
    """
    if not settings.oidc_groups_claim:
        return None
    return sorted({group.strip() for group in _listed(claims, settings.oidc_groups_claim) if group.strip()})


class OidcUsers(StoreBase):
    """Matches (or creates) the user of an OIDC sign-in in the team server's database."""

    def __init__(self, accounts: Accounts, *, auto_provision: bool) -> None:
        super().__init__(accounts.engine)
        self.accounts = accounts
        self.auto_provision = auto_provision

    def identity(
        self, name: str, *, display_name: str = "", org_admin: bool | None = None, groups: list[str] | None = None
    ) -> Identity:
        """The user ``name`` signing in; ``org_admin``, ``groups``: what the provider says (None: keep the stored)."""
        if not self._exists(name):
            if not self.auto_provision:
                raise OidcRefused(
                    f"there is no user {name!r} on this server; ask an administrator to add you "
                    f"(dagsmith users add {name}), then sign in again"
                )
            try:
                self.accounts.store.create_user(name, display_name=display_name[:200])
            except StoreError as exc:
                if not self._exists(name):  # not another replica making them at the same moment
                    raise OidcRefused(f"cannot make a user for you here: {exc}", 400) from None
        with self._write() as session:
            user = session.exec(select(UserRow).where(UserRow.name == name)).one()
            login = session.exec(select(LoginRow).where(col(LoginRow.user_id) == user.id)).first()
            if login is None:  # sessions need a login row; no password: only OIDC (or the proxy) signs them in
                assert user.id is not None
                login = LoginRow(user_id=user.id)
            if login.disabled:
                raise OidcRefused(
                    f"the user {name!r} is disabled on this server; ask an administrator to enable it "
                    "(dagsmith users enable {name}, or the Administration page)"
                )
            if org_admin is not None and login.org_admin != org_admin:
                login.org_admin, login.changed_at = org_admin, utcnow()
            session.add(login)
            identity = Identity(user.name, login.org_admin)
        if groups is not None:
            self.accounts.store.set_idp_groups(name, groups)
        return identity

    def _exists(self, name: str) -> bool:
        with self._read() as session:
            return session.exec(select(UserRow.id).where(UserRow.name == name)).first() is not None
