"""What went wrong in an OIDC sign-in, in one sentence for the login page (Authlib's, joserfc's, httpx's errors).

Imported only when a sign-in fails, so that the rest of the team server loads without Authlib.
"""

from __future__ import annotations

import httpx

from .oidc_users import OidcRefused

_CLAIMS = {
    "nonce": "the ID token was not issued for this sign-in (its nonce does not match); start again",
    "aud": "the ID token was issued for another client (its audience is not this server's client id {client_id!r}); "
    "an administrator should check DAGSMITH_OIDC_CLIENT_ID",
    "azp": "the ID token was issued for another client (its authorized party is not this server's client id "
    "{client_id!r}); an administrator should check DAGSMITH_OIDC_CLIENT_ID",
    "iss": "the ID token was issued by another issuer than {issuer}; an administrator should check "
    "DAGSMITH_OIDC_ISSUER",
    "iat": "the ID token's issue time is not valid (is this server's clock right?); start again",
    "nbf": "the ID token is not valid yet (is this server's clock right?); start again",
}


def explain(exc: Exception, *, provider: str, issuer: str, client_id: str) -> OidcRefused | None:
    """The refusal to show for ``exc``; None for an error nobody expected (a bug: logged with its traceback)."""
    from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
    from joserfc import errors as jose

    if isinstance(exc, OidcRefused):
        return exc
    if isinstance(exc, httpx.HTTPStatusError):
        return OidcRefused(
            f"{provider} answered {exc.response.status_code} at {exc.request.url}; try again later, or sign in "
            "with a password",
            502,
        )
    if isinstance(exc, httpx.HTTPError):
        why = str(exc) or type(exc).__name__
        return OidcRefused(
            f"cannot reach the sign-in provider {provider} ({issuer}): {why}; try again later, or sign in with a "
            "password",
            502,
        )
    if isinstance(exc, MismatchingStateError):
        return OidcRefused(
            f"the answer from {provider} does not belong to the sign-in this browser started (its state does not "
            "match); start again",
            400,
        )
    if isinstance(exc, OAuthError):
        error, description = exc.error or "error", exc.description or ""
        detail = f" ({description})" if description else ""
        if error == "access_denied":
            return OidcRefused(
                f"the sign-in with {provider} was declined{detail}; to use dagsmith, sign in again and allow it",
                403,
            )
        return OidcRefused(f"{provider} refused the sign-in: {error}{detail}; start again", 400)
    if isinstance(exc, jose.ExpiredTokenError):
        return OidcRefused(
            f"the ID token from {provider} has expired (is this server's clock right?); sign in again", 400
        )
    if isinstance(exc, jose.ClaimError):
        text = _CLAIMS.get(exc.claim, "the ID token's claim {claim!r} is not acceptable ({description}); start again")
        return OidcRefused(
            f"{provider}: " + text.format(client_id=client_id, issuer=issuer, claim=exc.claim, description=exc), 400
        )
    if isinstance(exc, jose.BadSignatureError):
        return OidcRefused(
            f"the ID token's signature does not verify against {provider}'s published keys (JWKS); sign in again, "
            "and tell an administrator if it happens again",
            400,
        )
    if isinstance(exc, jose.JoseError):
        return OidcRefused(f"the ID token from {provider} could not be verified ({exc.error}: {exc}); start again", 400)
    if isinstance(exc, RuntimeError) and str(exc).startswith("Missing"):  # Authlib: the discovery lacks an entry
        return OidcRefused(f"the discovery document of {issuer} is incomplete ({exc}); tell an administrator", 502)
    if isinstance(exc, ValueError):  # a discovery document, key set or token answer that is not JSON
        return OidcRefused(
            f"{provider} sent an answer that is not JSON ({exc}); is DAGSMITH_OIDC_ISSUER ({issuer}) right?", 502
        )
    return None
