"""OIDC sign-in against a real ``dagsmith serve`` and a real (minimal) OpenID Connect provider on loopback.

The test is the browser: it follows the redirects by hand (server -> provider -> server), carrying the
cookies a browser would, so every check Authlib makes (state, PKCE, the ID token's signature, issuer,
audience, expiry, nonce) runs for real over HTTP.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, oidc_provider
from team_servers import COOKIE, PASSWORD, Replica, replica

from dagsmith.editor.team.server import open_accounts
from dagsmith.editor.team.settings import TeamSettings

FLOW_COOKIE = "dagsmith-oidc"
ID_COOKIE = "dagsmith-oidc-id"
LOGOUT_COOKIE = "dagsmith-oidc-logout"
SIGNED_OUT_THERE = "Signed out of dagsmith and of your SSO session at Test IdP."


@dataclass
class Answer:
    """The server's last answer in a sign-in: status, where it sends the browser, cookies it set, its page."""

    status: int
    location: str
    cookies: dict[str, str]
    body: str


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with oidc_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def server(idp: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replica, str]]:
    root = tmp_path_factory.mktemp("oidc")
    database = f"sqlite:///{root / 'team.db'}"
    env = {
        "DAGSMITH_TRIAL": "1",
        "DAGSMITH_OIDC_ISSUER": idp.issuer,
        "DAGSMITH_OIDC_CLIENT_ID": CLIENT_ID,
        "DAGSMITH_OIDC_CLIENT_SECRET": "env:TEST_OIDC_SECRET",
        "TEST_OIDC_SECRET": CLIENT_SECRET,
        "DAGSMITH_OIDC_PROVIDER_NAME": "Test IdP",
    }
    with replica(database, root / "home", extra_env=env) as running:
        yield running, database


@pytest.fixture(autouse=True)
def honest_provider(idp: Provider) -> Iterator[None]:
    idp.flaw, idp.logout_flaw, idp.claims = "", "", {"preferred_username": "carol", "name": "Carol"}
    yield
    idp.flaw = idp.logout_flaw = ""


def _get(url: str, cookies: dict[str, str]) -> Answer:
    return _send("GET", url, cookies)


def _send(method: str, url: str, cookies: dict[str, str], headers: dict[str, str] | None = None) -> Answer:
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    sent = {**({"Cookie": header} if header else {}), **(headers or {})}
    response = httpx.request(method, url, headers=sent, follow_redirects=False, timeout=60)
    jar: SimpleCookie = SimpleCookie()
    for line in response.headers.get_list("set-cookie"):
        jar.load(line)
    return Answer(
        response.status_code,
        response.headers.get("location", ""),
        {name: morsel.value for name, morsel in jar.items()},
        html.unescape(response.text),
    )


def to_provider(server: Replica, cookies: dict[str, str], *, next_path: str = "/") -> tuple[str, dict[str, str]]:
    """The browser asks to sign in with the provider; the provider answers it: (callback URL, cookies now)."""
    base = f"http://127.0.0.1:{server.port}"
    start = _get(f"{base}/login/oidc?{urlencode({'next': next_path})}", cookies)
    assert start.status == 303, start.body
    assert start.location.startswith(f"http://127.0.0.1:{urlsplit(start.location).port}/authorize?")
    cookies = {**cookies, **start.cookies}
    assert cookies.get(FLOW_COOKIE)
    at_provider = _get(start.location, {})
    assert at_provider.status == 302, at_provider.body
    assert at_provider.location.startswith(f"{base}/login/oidc/callback?")
    return at_provider.location, cookies


def sign_in(server: Replica, cookies: dict[str, str] | None = None, *, next_path: str = "/") -> Answer:
    """The whole flow as a browser runs it; the server's answer to the callback."""
    callback, jar = to_provider(server, dict(cookies or {}), next_path=next_path)
    return _get(callback, jar)


def live(server: Replica, cookie: str) -> str | None:
    """The user a session cookie signs in (``/api/v1/me``), or None when the server refuses it."""
    status, body = server.api("/api/v1/me", cookie)
    return body if status == 200 else None


def test_login_page_offers_the_provider(server: tuple[Replica, str]) -> None:
    status, _, page = server[0].request("GET", "/login?next=%2Fprojects")
    assert status == 200
    assert 'href="/login/oidc?next=%2Fprojects"' in page
    assert "Sign in with Test IdP" in page


def test_sign_in_makes_the_user_and_rotates_the_session(server: tuple[Replica, str], idp: Provider) -> None:
    running, _ = server
    first = sign_in(running, next_path="/projects")
    assert first.status == 303 and first.location == "/projects", first.body
    old = first.cookies[COOKIE]
    assert first.cookies[FLOW_COOKIE] == ""  # the flow's state is used once
    assert "carol" in (live(running, old) or "")
    asked = idp.authorize_requests[-1]
    assert asked["code_challenge_method"] == "S256" and asked["code_challenge"]
    assert asked["state"] and asked["nonce"] and "openid" in asked["scope"].split()
    assert "code_verifier" not in asked  # the verifier goes only to the token endpoint

    again = sign_in(running, {COOKIE: old})
    assert again.status == 303
    new = again.cookies[COOKIE]
    assert new != old
    assert live(running, old) is None, "the browser's previous session must end at sign-in (fixation)"
    assert "carol" in (live(running, new) or "")

    status, _, _ = running.request("POST", "/logout", {"Cookie": f"{COOKIE}={new}"})
    assert status == 303
    assert live(running, new) is None


def log_out(server: Replica, signed_in: Answer, headers: dict[str, str] | None = None) -> Answer:
    """``POST /logout`` from the browser of an SSO sign-in (its session and ID-token cookies)."""
    cookies = {COOKIE: signed_in.cookies[COOKIE], ID_COOKIE: signed_in.cookies[ID_COOKIE]}
    return _send("POST", f"http://127.0.0.1:{server.port}/logout", cookies, headers)


def test_logout_also_ends_the_session_at_the_provider(server: tuple[Replica, str], idp: Provider) -> None:
    running, _ = server
    answer = sign_in(running)
    cookie, hint = answer.cookies[COOKIE], answer.cookies[ID_COOKIE]
    assert hint and live(running, cookie)
    out = log_out(running, answer)
    assert out.status == 303
    assert live(running, cookie) is None, "dagsmith's own session must end first"
    assert out.cookies[ID_COOKIE] == "" and out.cookies[COOKIE] == ""  # both cleared in the browser
    location = urlsplit(out.location)
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{idp.issuer}/end-session"
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query["id_token_hint"] == idp.issued_id_tokens[-1]
    assert query["client_id"] == CLIENT_ID
    assert query["post_logout_redirect_uri"] == f"http://127.0.0.1:{running.port}/login"
    assert query["state"] and out.cookies[LOGOUT_COOKIE]  # the state, bound to this browser

    at_provider = _get(out.location, {})  # the browser follows it: the provider ends its session, sends it back
    assert idp.end_session_requests[-1]["id_token_hint"] == idp.issued_id_tokens[-1]
    assert at_provider.status == 302
    assert at_provider.location == f"http://127.0.0.1:{running.port}/login?state={query['state']}"
    back = _get(at_provider.location, {LOGOUT_COOKIE: out.cookies[LOGOUT_COOKIE]})
    assert back.status == 200 and SIGNED_OUT_THERE in back.body
    assert back.cookies[LOGOUT_COOKIE] == ""  # used once

    again = _get(at_provider.location, {})  # the same link, reloaded or opened elsewhere: no claim any more
    assert again.status == 200 and SIGNED_OUT_THERE not in again.body


@pytest.mark.parametrize("flaw", ["state", "no_state"])
def test_a_logout_return_without_this_browsers_state_claims_nothing(
    server: tuple[Replica, str], idp: Provider, flaw: str
) -> None:
    running, _ = server
    out = log_out(running, sign_in(running))
    idp.logout_flaw = flaw  # the provider (or someone forging its redirect) sends another state, or none
    at_provider = _get(out.location, {})
    assert at_provider.status == 302 and at_provider.location.startswith(f"http://127.0.0.1:{running.port}/login")
    back = _get(at_provider.location, {LOGOUT_COOKIE: out.cookies[LOGOUT_COOKIE]})
    assert back.status == 200 and "Sign in" in back.body
    assert SIGNED_OUT_THERE not in back.body and "Traceback" not in back.body
    assert back.cookies[LOGOUT_COOKIE] == ""
    expected = "without the state" if flaw == "no_state" else "with a state that is not the one"
    assert f"OIDC logout: a browser came back to the login page {expected}" in running.log.read_text(errors="replace")


@pytest.mark.parametrize("forged", ["Host", "X-Forwarded-Host"])
def test_a_forged_host_does_not_steer_the_way_back_from_the_provider(server: tuple[Replica, str], forged: str) -> None:
    running, _ = server
    out = log_out(running, sign_in(running), {forged: "evil.example"})
    assert out.status == 303
    query = {name: values[0] for name, values in parse_qs(urlsplit(out.location).query).items()}
    assert query["post_logout_redirect_uri"] == f"http://127.0.0.1:{running.port}/login"  # where sign-in went


def test_a_password_users_logout_stays_local(server: tuple[Replica, str], idp: Provider) -> None:
    running, database = server
    earlier = sign_in(running)  # an SSO session in this browser before: its hint must not be used
    accounts = open_accounts(TeamSettings(database_url=database, secret_key="", trial=True))
    try:
        accounts.add_user("pat", PASSWORD)
    finally:
        accounts.store.close()
    cookie = running.session("pat")
    asked = len(idp.end_session_requests)
    cookies = f"{COOKIE}={cookie}; {ID_COOKIE}={earlier.cookies[ID_COOKIE]}"
    status, headers, _ = running.request("POST", "/logout", {"Cookie": cookies})
    assert status == 303 and headers["location"] == "/login"
    assert live(running, cookie) is None
    assert len(idp.end_session_requests) == asked


@pytest.mark.parametrize(
    ("flaw", "status", "message"),
    [
        ("nonce", 400, "nonce does not match"),
        ("audience", 400, "issued for another client"),
        ("expired", 400, "has expired"),
        ("signature", 400, "signature does not verify"),
        ("deny", 403, "was declined (The user said no)"),
        ("no_claim", 502, "did not send the claim 'preferred_username'"),
    ],
)
def test_a_flawed_answer_is_refused_with_a_message(
    server: tuple[Replica, str], idp: Provider, flaw: str, status: int, message: str
) -> None:
    idp.flaw = flaw
    answer = sign_in(server[0])
    assert answer.status == status, answer.body
    assert message in answer.body
    assert "Test IdP" in answer.body and 'role="alert"' in answer.body  # the login page, with the reason
    assert COOKIE not in answer.cookies and "Traceback" not in answer.body
    assert "Traceback" not in server[0].log.read_text(errors="replace")  # a refusal, not a crash


def test_a_state_that_is_not_this_browsers_is_refused(server: tuple[Replica, str]) -> None:
    running, _ = server
    callback, cookies = to_provider(running, {})
    parts = urlsplit(callback)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    forged = urlunsplit(parts._replace(query=urlencode({**query, "state": "someone-elses-state"})))
    answer = _get(forged, cookies)
    assert answer.status == 400 and "state does not match" in answer.body
    assert COOKIE not in answer.cookies

    callback, _ = to_provider(running, {})
    stranger = _get(callback, {})  # the answer reaches a browser that never started this sign-in
    assert stranger.status == 400 and "was not started from this browser" in stranger.body
    assert COOKIE not in stranger.cookies


def test_a_disabled_user_is_refused(server: tuple[Replica, str], idp: Provider) -> None:
    running, database = server
    idp.claims = {"preferred_username": "dave", "name": "Dave"}
    first = sign_in(running)
    assert first.status == 303
    accounts = open_accounts(TeamSettings(database_url=database, secret_key="", trial=True))
    try:
        accounts.set_disabled("dave")
    finally:
        accounts.store.close()
    assert live(running, first.cookies[COOKIE]) is None
    answer = sign_in(running)
    assert answer.status == 403 and "the user 'dave' is disabled" in answer.body
    assert COOKIE not in answer.cookies


def test_missing_secret_stops_the_server_with_a_message(tmp_path: Path, idp: Provider) -> None:
    env = {
        "DAGSMITH_TRIAL": "1",
        "DAGSMITH_OIDC_ISSUER": idp.issuer,
        "DAGSMITH_OIDC_CLIENT_ID": CLIENT_ID,
        "DAGSMITH_OIDC_CLIENT_SECRET": "env:TEST_OIDC_SECRET_UNSET",
    }
    with pytest.raises(AssertionError) as failed, replica(f"sqlite:///{tmp_path / 'db'}", tmp_path, extra_env=env):
        pass
    assert "the environment variable TEST_OIDC_SECRET_UNSET is not set" in str(failed.value)
    assert "Traceback" not in str(failed.value)
