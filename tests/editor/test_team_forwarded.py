"""X-Forwarded-* headers count only from a trusted proxy, against a real ``dagsmith serve`` over real HTTP.

The server trusts one proxy address, ``PROXY`` (a second loopback address: the test binds its side of the
connection to it). Requests from 127.0.0.1 are an untrusted client's: uvicorn itself would believe their
X-Forwarded-For and -Proto (it trusts 127.0.0.1 by default), so these tests also check that ``serve`` turned
that off. Checked: the OIDC sign-in's redirect URI, the same-origin (CSRF) check, the failed-login rate limit
and the address in the log, and NiceGUI's X-Forwarded-Prefix.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, oidc_provider
from team_servers import COOKIE, PASSWORD, Replica, replica

from dagsmith.editor.team.server import open_accounts
from dagsmith.editor.team.settings import TeamSettings

PROXY = "127.0.0.2"
CLIENT = "127.0.0.1"
ATTEMPTS = 2  # failed sign-ins per name; per address four times that
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with oidc_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def server(idp: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    root = tmp_path_factory.mktemp("forwarded")
    database = f"sqlite:///{root / 'team.db'}"
    accounts = open_accounts(TeamSettings(database_url=database, secret_key="", trial=True))
    try:
        accounts.add_user("pat", PASSWORD)
    finally:
        accounts.store.close()
    env = {
        "DAGSMITH_TRIAL": "1",
        "DAGSMITH_TRUSTED_PROXIES": PROXY,
        "DAGSMITH_LOGIN_ATTEMPTS": str(ATTEMPTS),
        "DAGSMITH_OIDC_ISSUER": idp.issuer,
        "DAGSMITH_OIDC_CLIENT_ID": CLIENT_ID,
        "DAGSMITH_OIDC_CLIENT_SECRET": "env:TEST_OIDC_SECRET",
        "TEST_OIDC_SECRET": CLIENT_SECRET,
    }
    with replica(database, root / "home", extra_env=env) as running:
        yield running


def send(
    server: Replica, method: str, path: str, *, source: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, dict[str, str], str]:
    """One HTTP request from the address ``source`` (the peer the server sees): status, headers, body."""
    return server.request(method, path, headers, body, source=source)


def sign_in_form(server: Replica, name: str, password: str, *, source: str, headers: dict[str, str]) -> int:
    """POST the sign-in form; the status (303 signed in, 401 wrong, 429 too many failures)."""
    body = urlencode({"name": name, "password": password, "next": "/"}).encode()
    return send(server, "POST", "/login", source=source, headers={**FORM, **headers}, body=body)[0]


def redirect_uri(server: Replica, *, source: str, headers: dict[str, str]) -> str:
    """The redirect URI the server asks the provider to send the browser back to, at the start of a sign-in."""
    status, answer, body = send(server, "GET", "/login/oidc?next=%2F", source=source, headers=headers)
    assert status == 303, body
    return parse_qs(urlsplit(answer["location"]).query)["redirect_uri"][0]


def test_a_forged_forwarded_host_or_proto_does_not_steer_the_sign_in_redirect(server: Replica) -> None:
    own = f"http://127.0.0.1:{server.port}/login/oidc/callback"
    assert redirect_uri(server, source=CLIENT, headers={}) == own
    forged = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    assert redirect_uri(server, source=CLIENT, headers=forged) == own
    assert redirect_uri(server, source=CLIENT, headers={"X-Forwarded-Proto": "https"}) == own


def test_the_trusted_proxy_names_the_public_origin_of_the_sign_in_redirect(server: Replica) -> None:
    public = {"X-Forwarded-Host": "dagsmith.example", "X-Forwarded-Proto": "https"}
    assert redirect_uri(server, source=PROXY, headers=public) == "https://dagsmith.example/login/oidc/callback"
    # a proxy that appends: what the client sent comes first, the proxy's own value last
    appended = {"X-Forwarded-Host": "evil.example, dagsmith.example", "X-Forwarded-Proto": "http, https"}
    assert redirect_uri(server, source=PROXY, headers=appended) == "https://dagsmith.example/login/oidc/callback"


def test_a_forged_forwarded_host_does_not_pass_the_same_origin_check(server: Replica) -> None:
    name = f"nobody-{uuid.uuid4().hex[:8]}"
    evil = {"Origin": "http://evil.example", "X-Forwarded-Host": "evil.example"}
    assert sign_in_form(server, name, "wrong", source=CLIENT, headers=evil) == 403
    own = {"Origin": f"http://127.0.0.1:{server.port}"}
    assert sign_in_form(server, name, "wrong", source=CLIENT, headers=own) in (401, 429)  # let through (control)
    public = {"Origin": "https://dagsmith.example", "X-Forwarded-Host": "dagsmith.example"}
    assert sign_in_form(server, name, "wrong", source=PROXY, headers=public) in (401, 429)  # from the proxy: its host
    assert sign_in_form(server, name, "wrong", source=PROXY, headers=evil | {"X-Forwarded-Host": "x.example"}) == 403


def _forged() -> str:
    return f"198.51.{random.randint(0, 255)}.{random.randint(1, 254)}"


def test_a_forged_forwarded_for_neither_dodges_the_login_rate_limit_nor_locks_out_its_address(server: Replica) -> None:
    run = uuid.uuid4().hex[:8]
    forged = [_forged() for _ in range(4 * ATTEMPTS + 4)]
    statuses = []
    for number, address in enumerate(forged):  # a new name and a new "address" each time: only 127.0.0.1 repeats
        headers = {"X-Forwarded-For": address}
        statuses.append(sign_in_form(server, f"guess-{run}-{number}", "wrong", source=CLIENT, headers=headers))
    assert 429 in statuses[: 4 * ATTEMPTS + 1], statuses  # the address's limit holds (fewer if a retry)
    assert set(statuses[statuses.index(429) :]) == {429}, statuses
    log = server.log.read_text(errors="replace")
    assert f"'guess-{run}-0' from {CLIENT}" in log  # a failed (or, in a retry, refused) sign-in: the real peer
    assert not any(address in log for address in forged), "a forged X-Forwarded-For reached the log"
    # the addresses named in those headers were not blamed: a user there, behind the proxy, signs in
    assert sign_in_form(server, "pat", PASSWORD, source=PROXY, headers={"X-Forwarded-For": forged[-1]}) == 303


def test_the_trusted_proxys_forwarded_for_is_the_address_the_rate_limit_counts(server: Replica) -> None:
    run = uuid.uuid4().hex[:8]
    blamed, other = f"192.0.2.{random.randint(1, 254)}", f"203.0.113.{random.randint(1, 254)}"
    statuses = []
    for number in range(4 * ATTEMPTS + 1):  # the client wrote a forged first hop; the proxy appended the real one
        headers = {"X-Forwarded-For": f"{_forged()}, {blamed}"}
        statuses.append(sign_in_form(server, f"try-{run}-{number}", "wrong", source=PROXY, headers=headers))
    assert statuses == [401] * (4 * ATTEMPTS) + [429], statuses
    # another client behind the same proxy is not locked out, and the proxy's own address is not blamed
    assert sign_in_form(server, f"try-{run}-x", "wrong", source=PROXY, headers={"X-Forwarded-For": other}) == 401
    assert sign_in_form(server, "pat", PASSWORD, source=PROXY, headers={"X-Forwarded-For": other}) == 303
    log = server.log.read_text(errors="replace")
    assert f"failed sign-in for 'try-{run}-0' from {blamed}" in log
    assert f"failed sign-in for 'try-{run}-x' from {other}" in log


def _page(server: Replica, *, source: str, prefix: str) -> str:
    """The start page as ``source`` gets it with ``prefix`` in X-Forwarded-Prefix (signed in through the proxy:
    the rate-limit test may have locked 127.0.0.1 out of signing in)."""
    body = urlencode({"name": "pat", "password": PASSWORD}).encode()
    status, headers, _ = send(server, "POST", "/login", source=PROXY, headers=FORM, body=body)
    assert status == 303, status
    cookie = headers["set-cookie"].split(";", 1)[0]
    assert cookie.startswith(f"{COOKIE}=")
    status, _, page = send(
        server,
        "GET",
        "/",
        source=source,
        headers={"Cookie": cookie, "Accept": "text/html", "X-Forwarded-Prefix": prefix},
    )
    assert status == 200, status
    return page


def test_a_forged_forwarded_prefix_does_not_reach_the_page(server: Replica) -> None:
    assert "/forged-prefix/_nicegui/" not in _page(server, source=CLIENT, prefix="/forged-prefix")
    assert "/proxy-prefix/_nicegui/" in _page(server, source=PROXY, prefix="/proxy-prefix")  # honoured (control)
