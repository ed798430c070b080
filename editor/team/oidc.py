"""OIDC sign-in on the team server, through Authlib: "Sign in with <provider>" on the login page.

The flow is the authorization code flow with PKCE (S256), ``state`` and ``nonce``:

1. ``GET /login/oidc?next=PATH`` reads the provider's discovery document (``<issuer>/.well-known/openid-
   configuration``, once), and redirects the browser to its authorization endpoint. Authlib makes the state,
   the nonce and the code verifier; they travel in a short-lived cookie signed with the server's secret key
   (HttpOnly, SameSite=Lax, ``__Host-`` over HTTPS), so any replica can finish the sign-in.
2. ``GET /login/oidc/callback?code=...&state=...``: Authlib checks the state against that cookie, exchanges
   the code (with the verifier) at the token endpoint, and checks the ID token: its signature against the
   provider's JWKS, the issuer, the audience (this client id), the expiry and the nonce.
3. The user named by the configured claim is matched or created (``oidc_users``); a disabled one is refused.
   The guard then starts the session exactly as a password sign-in does (the browser's old session ended,
   a new cookie issued).

Every failure (provider unreachable, consent denied, a state that does not match, an ID token that fails a
check) comes back to the login page as one sentence; the details go to the log, never a traceback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .accounts import Accounts, Identity
from .identity import cookie_value
from .oidc_users import OidcRefused, OidcUsers, claim_groups, is_org_admin, user_name
from .proxies import public_host, public_scheme
from .settings import SettingsError, TeamSettings

log = logging.getLogger("dagsmith.team")
OIDC_START, OIDC_CALLBACK = "/login/oidc", "/login/oidc/callback"
FLOW_SECONDS = 600
"""How long a browser has between leaving for the provider and coming back."""
DISCOVERY = "/.well-known/openid-configuration"

__all__ = ["OIDC_CALLBACK", "OIDC_START", "OidcLogin", "OidcRefused", "resolve_client_secret"]


def resolve_client_secret(reference: str, *, environ: dict[str, str] | None = None) -> str:
    """The client secret an ``env:NAME`` or ``file:PATH`` reference points at ("" for a public client)."""
    if not reference:
        return ""
    env = os.environ if environ is None else environ
    kind, _, rest = reference.partition(":")
    if kind == "env":
        value = env.get(rest, "")
        if not value:
            raise SettingsError(
                f"oidc_client_secret = {reference!r}: the environment variable {rest} is not set; set it to the "
                "client secret the provider gave this server"
            )
        return value
    try:
        return Path(rest).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(
            f"oidc_client_secret = {reference!r}: cannot read {rest}: {exc.strerror or exc}; "
            "put the client secret in that file"
        ) from None


class OidcLogin:
    """The OIDC client of one team server (every replica has its own, configured the same)."""

    start_path, callback_path = OIDC_START, OIDC_CALLBACK

    def __init__(self, accounts: Accounts, settings: TeamSettings) -> None:
        try:
            with warnings.catch_warnings():  # Authlib warns that it prefers httpx2 over httpx; httpx is what we have
                import authlib.deprecate  # noqa: F401 (installs an "always" filter for its warnings; ours goes first)

                warnings.simplefilter("ignore", DeprecationWarning)
                from authlib.integrations.starlette_client import OAuth
        except ImportError:
            raise SettingsError(
                "OIDC sign-in (DAGSMITH_OIDC_ISSUER) needs Authlib: pip install 'dagsmith[team]'"
            ) from None
        self.settings = settings
        self.users = OidcUsers(accounts, auto_provision=settings.oidc_auto_provision)
        self.issuer = settings.oidc_issuer.rstrip("/")
        secret = resolve_client_secret(settings.oidc_client_secret)
        client_kwargs: dict[str, Any] = {
            "scope": settings.oidc_scopes,
            "code_challenge_method": "S256",
            "timeout": 15.0,
        }
        if not secret:  # a public client: PKCE alone proves the code is ours
            client_kwargs["token_endpoint_auth_method"] = "none"
        oauth = OAuth()
        self.client = oauth.register(
            name="oidc",
            client_id=settings.oidc_client_id,
            client_secret=secret or None,
            server_metadata_url=self.issuer + DISCOVERY,
            client_kwargs=client_kwargs,
        )
        self.label = settings.oidc_provider_name or urlsplit(self.issuer).hostname or "your provider"
        self.cookie_name = "__Host-dagsmith-oidc" if settings.cookie_secure else "dagsmith-oidc"
        # the raw ID token of an SSO session, kept (signed, HttpOnly) for RP-initiated logout's id_token_hint
        self.id_cookie_name = "__Host-dagsmith-oidc-id" if settings.cookie_secure else "dagsmith-oidc-id"
        # the state of an RP-initiated logout, checked when the provider sends the browser back to /login
        self.logout_cookie_name = "__Host-dagsmith-oidc-logout" if settings.cookie_secure else "dagsmith-oidc-logout"

    # -- the two routes ----------------------------------------------------------------------------------
    async def start(self, request: Request, target: str) -> Response:
        """Send the browser to the provider, with the flow's state in a signed cookie."""
        try:
            await self._metadata()
            flow: dict[str, Any] = {}
            scope = dict(request.scope, session=flow)
            answer = await self.client.authorize_redirect(Request(scope, request.receive), self._redirect_uri(request))
        except OidcRefused:
            raise
        except Exception as exc:
            raise self._explain(exc) from None
        response = RedirectResponse(answer.headers["location"], 303)
        payload = {
            "session": flow,
            "next": target,
            "redirect_uri": self._redirect_uri(request),
            "expires": time.time() + FLOW_SECONDS,
        }
        self._set(response, self.cookie_name, self._seal(payload), FLOW_SECONDS)
        return response

    async def finish(self, request: Request) -> tuple[Identity, str, str]:
        """The provider's answer checked by Authlib; the user it names, where they were going, the raw ID token."""
        flow = self._flow(request)
        if flow is None or not isinstance(flow.get("session"), dict):
            raise OidcRefused(
                f"this sign-in with {self.label} was not started from this browser, or took longer than "
                f"{FLOW_SECONDS // 60} minutes; start again",
                400,
            )
        scope = dict(request.scope, session=flow["session"])
        options = {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "value": self.client_id},
        }
        try:
            token = await self.client.authorize_access_token(
                Request(scope, request.receive), claims_options=options, leeway=60
            )
        except Exception as exc:
            raise self._explain(exc) from None
        claims = token.get("userinfo")
        if not claims:
            raise OidcRefused(
                f"{self.label} sent no ID token; the client must be an OpenID Connect client and the scopes "
                "(DAGSMITH_OIDC_SCOPES) must include openid",
                502,
            )
        name = user_name(self.settings, claims, self.label)
        display = str(claims.get("name") or "")
        admin = is_org_admin(self.settings, claims)
        groups = claim_groups(self.settings, claims)
        identity = await run_in_threadpool(
            self.users.identity, name, display_name=display, org_admin=admin, groups=groups
        )
        return identity, str(flow["next"]), str(token.get("id_token") or "")

    def target(self, request: Request) -> str:
        """Where the browser was going when it left for the provider ("/" when unknown)."""
        flow = self._flow(request)
        return str(flow["next"]) if flow else "/"

    def forget(self, response: Response) -> None:
        """Delete the flow's cookie (a state is used once)."""
        self._delete(response, self.cookie_name)

    # -- RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) ------------------------------------
    def remember(self, request: Request, response: Response, id_token: str, *, session: str) -> None:
        """Keep the session's raw ID token with the browser (signed, HttpOnly, bound to this dagsmith session)
        for the id_token_hint at logout, with the origin of the redirect URI the provider accepted at this
        sign-in (the logout's post_logout_redirect_uri is built on it, never on a later request's Host)."""
        hours = self.settings.session_hours
        flow = self._flow(request) or {}
        parts = urlsplit(str(flow.get("redirect_uri") or ""))
        payload = {
            "id_token": id_token,
            "session": _digest(session),
            "origin": f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "",
            "expires": time.time() + hours * 3600,
        }
        self._set(response, self.id_cookie_name, self._seal(payload), int(hours * 3600))

    async def logout_location(self, request: Request, login_page: str, *, session: str) -> tuple[str, str] | None:
        """Where the browser goes after dagsmith's session ended, and the logout's ``state`` ("" for none).

        None for a session not made by OIDC; the provider's end_session_endpoint (with id_token_hint,
        client_id, post_logout_redirect_uri and a new state, which ``expect_return`` binds to this browser);
        or, when the provider has none or this server's public address is unknown, the login page saying
        the SSO session is still open.
        """
        sealed = self._open(request.cookies.get(self.id_cookie_name, ""))
        id_token = str(sealed.get("id_token") or "") if sealed else ""
        if not id_token or not sealed or not hmac.compare_digest(str(sealed.get("session", "")), _digest(session)):
            return None
        try:
            endpoint = str((await self._metadata()).get("end_session_endpoint") or "")
        except Exception as exc:  # the provider unreachable: dagsmith's own session is over all the same
            log.warning("OIDC logout: cannot read %s%s (%s: %s)", self.issuer, DISCOVERY, type(exc).__name__, exc)
            endpoint = ""
        origin = self._configured_origin() or str(sealed.get("origin") or "")
        if endpoint and not origin:  # an ID-token cookie from before origins were kept: no Host header decides
            log.warning(
                "OIDC logout: this server's public address is unknown; the session at %s stays open", self.issuer
            )
        if not endpoint or not origin:
            return f"{login_page}?sso=open", ""
        state = secrets.token_urlsafe(16)
        query = {
            "id_token_hint": id_token,
            "client_id": self.client_id,
            "post_logout_redirect_uri": origin + login_page,
            "state": state,
        }
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}", state

    def expect_return(self, response: Response, state: str) -> None:
        """Bind a logout's state to this browser (signed, HttpOnly, SameSite=Lax, for ``FLOW_SECONDS``)."""
        payload = {"state": state, "expires": time.time() + FLOW_SECONDS}
        self._set(response, self.logout_cookie_name, self._seal(payload), FLOW_SECONDS)

    def returned(self, cookie_header: str, state: str | None) -> bool:
        """Whether the provider sent this browser back from the logout it started, with that logout's state.

        A state that is missing, unknown to this browser, expired or different is logged and is no proof that
        the provider's session ended.
        """
        sealed = self._open(cookie_value(cookie_header, self.logout_cookie_name) or "")
        expected = str(sealed.get("state") or "") if sealed else ""
        if expected and state and hmac.compare_digest(expected, state):
            return True
        if not expected and state is not None:
            why = "with a state, but this browser started no logout (or took longer than the time allowed)"
        elif expected and not state:
            why = "without the state of the logout this browser started"
        elif expected:
            why = "with a state that is not the one of the logout this browser started"
        else:
            return False  # an ordinary visit of the login page
        log.warning(
            "OIDC logout: a browser came back to the login page %s; not shown as signed out at %s", why, self.issuer
        )
        return False

    def forget_return(self, response: Response) -> None:
        """Delete the logout's state cookie (it is used once)."""
        self._delete(response, self.logout_cookie_name)

    def forget_id_token(self, response: Response) -> None:
        self._delete(response, self.id_cookie_name)

    @property
    def client_id(self) -> str:
        return self.settings.oidc_client_id

    # -- helpers -----------------------------------------------------------------------------------------
    async def _metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = await self.client.load_server_metadata()
        named = str(metadata.get("issuer", "")).rstrip("/")
        if named != self.issuer:
            self.client.server_metadata.clear()  # read again next time (the provider may be fixed meanwhile)
            raise OidcRefused(
                f"the discovery document at {self.issuer}{DISCOVERY} names the issuer {named!r}, not the configured "
                f"{self.issuer!r}; an administrator should set DAGSMITH_OIDC_ISSUER to the provider's issuer",
                502,
            )
        return metadata

    def _redirect_uri(self, request: Request) -> str:
        return self.settings.oidc_redirect_uri or self._public_base(request) + OIDC_CALLBACK

    def _configured_origin(self) -> str:
        """The configured redirect URI's origin ("" when none is configured)."""
        if not self.settings.oidc_redirect_uri:
            return ""
        parts = urlsplit(self.settings.oidc_redirect_uri)
        return f"{parts.scheme}://{parts.netloc}"

    def _public_base(self, request: Request) -> str:
        """The server's public origin at sign-in: the configured redirect URI's, else the one the browser
        addressed (the provider accepts a redirect URI only when it is registered). X-Forwarded-Host and
        -Proto count only from a trusted proxy (``proxies``)."""
        if self.settings.oidc_redirect_uri:
            return self._configured_origin()
        host = public_host(self.settings, request.scope) or request.url.netloc
        scheme = "https" if self.settings.cookie_secure else public_scheme(self.settings, request.scope)
        return f"{scheme}://{host}"

    def _set(self, response: Response, name: str, value: str, max_age: int) -> None:
        secure = self.settings.cookie_secure
        response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax")

    def _delete(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", secure=self.settings.cookie_secure, httponly=True, samesite="lax")

    def _seal(self, payload: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{body}.{self._mac(body)}"

    def _flow(self, request: Request) -> dict[str, Any] | None:
        return self._open(request.cookies.get(self.cookie_name, ""))

    def _open(self, value: str) -> dict[str, Any] | None:
        body, _, mac = value.rpartition(".")
        if not body or not hmac.compare_digest(self._mac(body), mac):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
        if not isinstance(payload, dict) or float(payload.get("expires", 0)) < time.time():
            return None
        return payload

    def _mac(self, body: str) -> str:
        key = hashlib.sha256(b"dagsmith-oidc-flow:" + self.settings.secret_key.encode()).digest()
        return base64.urlsafe_b64encode(hmac.new(key, body.encode(), hashlib.sha256).digest()).decode().rstrip("=")

    def _explain(self, exc: Exception) -> OidcRefused:
        """One sentence for the login page about what went wrong; the details go to the log."""
        from .oidc_errors import explain

        refused = explain(exc, provider=self.label, issuer=self.issuer, client_id=self.client_id)
        if refused is None:
            log.exception("OIDC sign-in with %s failed", self.issuer)
            return OidcRefused(
                f"signing in with {self.label} failed on this server; try again, or tell an administrator "
                "(the server's log has the details)",
                500,
            )
        log.warning("OIDC sign-in with %s refused: %s (%s: %s)", self.issuer, refused, type(exc).__name__, exc)
        return refused


def _digest(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()
