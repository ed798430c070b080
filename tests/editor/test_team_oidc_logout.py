"""RP-initiated logout when the provider advertises no ``end_session_endpoint``: dagsmith signs out locally
and says on the login page that the SSO session at the provider is still open (a real ``dagsmith serve`` and a
real minimal provider on loopback, as in ``test_team_oidc``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, oidc_provider
from team_servers import COOKIE, Replica, replica
from test_team_oidc import ID_COOKIE, live, sign_in


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with oidc_provider() as provider:
        provider.end_session = False
        yield provider


@pytest.fixture(scope="module")
def running(idp: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    root = tmp_path_factory.mktemp("oidc-no-end-session")
    env = {
        "DAGSMITH_TRIAL": "1",
        "DAGSMITH_OIDC_ISSUER": idp.issuer,
        "DAGSMITH_OIDC_CLIENT_ID": CLIENT_ID,
        "DAGSMITH_OIDC_CLIENT_SECRET": "env:TEST_OIDC_SECRET",
        "TEST_OIDC_SECRET": CLIENT_SECRET,
        "DAGSMITH_OIDC_PROVIDER_NAME": "Test IdP",
    }
    with replica(f"sqlite:///{root / 'team.db'}", root / "home", extra_env=env) as server:
        yield server


def test_without_end_session_logout_is_local_and_says_so(running: Replica, idp: Provider) -> None:
    answer = sign_in(running)
    assert answer.status == 303, answer.body
    cookie = answer.cookies[COOKIE]
    status, headers, _ = running.request(
        "POST", "/logout", {"Cookie": f"{COOKIE}={cookie}; {ID_COOKIE}={answer.cookies[ID_COOKIE]}"}
    )
    assert status == 303 and headers["location"] == "/login?sso=open"
    assert live(running, cookie) is None
    assert idp.end_session_requests == []
    status, _, page = running.request("GET", headers["location"])
    assert status == 200
    assert "Signed out of dagsmith; your SSO session at Test IdP is still open." in page
