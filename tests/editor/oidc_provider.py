"""A real, minimal OpenID Connect provider on loopback, for tests of the team server's OIDC sign-in.

It serves discovery, a JWKS with a freshly generated RSA key, an authorization endpoint that "signs the user
in" at once (redirects back with a code, or with ``error=access_denied``), and a token endpoint that checks
the client's secret and the PKCE verifier and returns an ID token signed with joserfc (Authlib's JOSE
library). ``flaw`` makes the next ID tokens wrong in one way: a test then checks that the server refuses them.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from browser import free_port
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID, CLIENT_SECRET = "dagsmith-test", "s3cret-of-the-test-client"
FLAWS = ("", "nonce", "audience", "expired", "signature", "deny", "no_claim")


@dataclass
class Provider:
    """The provider's state: who signs in next, how the next tokens are flawed, what it was asked."""

    port: int
    claims: dict[str, Any] = field(default_factory=lambda: {"preferred_username": "carol", "name": "Carol"})
    flaw: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "test-key"}))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    end_session: bool = True  # whether discovery advertises an end_session_endpoint (RP-initiated logout)
    end_session_requests: list[dict[str, str]] = field(default_factory=list)
    logout_flaw: str = ""
    """How the end-session endpoint sends the browser back: "" with the RP's state, "state" with another one,
    "no_state" without one."""
    issued_id_tokens: list[str] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- endpoints ---------------------------------------------------------------------------------------
    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                **({"end_session_endpoint": f"{self.issuer}/end-session"} if self.end_session else {}),
            }
        )

    async def end_session_endpoint(self, request: Request) -> Response:
        """RP-initiated logout: record what the relying party sent, and answer as a provider would (back to
        its post_logout_redirect_uri with its state, when it names one)."""
        query = dict(request.query_params)
        self.end_session_requests.append(query)
        back = query.get("post_logout_redirect_uri")
        if not back:
            return Response("signed out at the provider", media_type="text/plain")
        state = {"": query.get("state"), "state": "not-the-state-of-this-logout", "no_state": None}[self.logout_flaw]
        return RedirectResponse(f"{back}?{urlencode({'state': state})}" if state else back, 302)

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def authorize(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.authorize_requests.append(query)
        back = query["redirect_uri"]
        if self.flaw == "deny":
            answer = {"error": "access_denied", "error_description": "The user said no", "state": query["state"]}
            return RedirectResponse(f"{back}?{urlencode(answer)}", 302)
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, 400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**query, "claims": dict(self.claims)}
        return RedirectResponse(f"{back}?{urlencode({'code': code, 'state': query['state']})}", 302)

    async def token(self, request: Request) -> Response:
        form = dict(await request.form())
        client_id, secret = _client(request, form)
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = self.codes.pop(str(form.get("code", "")), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "unknown code"}, 400)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if grant.get("code_challenge_method") != "S256" or challenge != grant.get("code_challenge"):
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE verifier does not match"}, 400)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant),
            }
        )

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "sub-" + str(grant["claims"].get("preferred_username", "x")),
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.get("nonce"),
            **grant["claims"],
        }
        if self.flaw == "nonce":
            claims["nonce"] = "not-the-nonce-of-this-sign-in"
        elif self.flaw == "audience":
            claims["aud"] = "another-client"
        elif self.flaw == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif self.flaw == "no_claim":
            claims.pop("preferred_username", None)
        token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
        if self.flaw == "signature":  # another payload under the same signature
            header, _payload, signature = token.split(".")
            forged = dict(claims, preferred_username="mallory")
            other = jwt.encode({"alg": "RS256", "kid": "test-key"}, forged, self.key).split(".")[1]
            token = ".".join((header, other, signature))
        self.issued_id_tokens.append(token)
        return token

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/end-session", self.end_session_endpoint),
            ]
        )


def _client(request: Request, form: dict[str, Any]) -> tuple[str, str]:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        from urllib.parse import unquote

        user, _, password = base64.b64decode(credentials).decode().partition(":")
        return unquote(user), unquote(password)
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


@contextmanager
def oidc_provider() -> Iterator[Provider]:
    """The provider, listening on 127.0.0.1, for as long as the block runs."""
    provider = Provider(free_port())
    server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=provider.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test OIDC provider did not start"
        time.sleep(0.05)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(30)
