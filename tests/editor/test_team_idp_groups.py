"""Groups from the identity provider (issue 13): the OIDC groups claim and the SSO proxy's groups header.

Each sign-in (or proxied request carrying the header) replaces the user's stored IdP groups; the download
rule (``downloads.groups_of``) counts them beside the project-name groups (test_team_admin.py). The column
comes with migration 0006, which upgrades an existing database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from oidc_provider import CLIENT_ID, CLIENT_SECRET, oidc_provider
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from dagsmith.editor.store import alembic_config, open_store
from dagsmith.editor.store.engine import make_engine, upgrade
from dagsmith.editor.team.accounts import Accounts
from dagsmith.editor.team.guard import TeamGuard
from dagsmith.editor.team.oidc import OidcLogin
from dagsmith.editor.team.oidc_users import OidcUsers, claim_groups
from dagsmith.editor.team.server import open_accounts
from dagsmith.editor.team.settings import SettingsError, TeamSettings, load_settings

BASE = {"DAGSMITH_DATABASE_URL": "sqlite:////tmp/unused.db", "DAGSMITH_TRIAL": "1", "DAGSMITH_SECRET_KEY": "k" * 48}
OIDC = {"DAGSMITH_OIDC_ISSUER": "https://id.example.com/realms/acme", "DAGSMITH_OIDC_CLIENT_ID": "dagsmith"}
GROUPS = "X-Forwarded-Groups"


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    made = open_accounts(TeamSettings(database_url=f"sqlite:///{tmp_path / 'team.db'}", secret_key="", trial=True))
    yield made
    made.store.close()


def test_the_settings_and_their_checks() -> None:
    loaded = load_settings(
        environ={**BASE, **OIDC, "DAGSMITH_OIDC_GROUPS_CLAIM": "groups", "DAGSMITH_PROXY_GROUPS_HEADER": GROUPS}
    )
    assert loaded.oidc_groups_claim == "groups" and loaded.proxy_groups_header == GROUPS
    defaults = load_settings(environ=BASE)
    assert defaults.oidc_groups_claim == "" and defaults.proxy_groups_header == ""
    with pytest.raises(SettingsError, match=r"DAGSMITH_OIDC_GROUPS_CLAIM = 'groups, roles': name one claim"):
        load_settings(environ={**BASE, **OIDC, "DAGSMITH_OIDC_GROUPS_CLAIM": "groups, roles"})
    with pytest.raises(SettingsError, match=r"DAGSMITH_PROXY_GROUPS_HEADER = 'X Groups:' is not a header name"):
        load_settings(environ={**BASE, "DAGSMITH_PROXY_GROUPS_HEADER": "X Groups:"})


def test_the_claim_gives_the_groups_and_each_sign_in_replaces_them(accounts: Accounts) -> None:
    grouped = load_settings(environ={**BASE, **OIDC, "DAGSMITH_OIDC_GROUPS_CLAIM": "groups"})
    assert claim_groups(grouped, {"groups": ["marketing", " staff ", ""]}) == ["marketing", "staff"]
    assert claim_groups(grouped, {"groups": "marketing"}) == ["marketing"]
    assert claim_groups(grouped, {}) == [], "the claim is configured: none sent is no groups"
    assert claim_groups(load_settings(environ={**BASE, **OIDC}), {"groups": ["marketing"]}) is None
    users = OidcUsers(accounts, auto_provision=True)
    users.identity("frank", groups=["marketing", "staff"])
    assert accounts.store.idp_groups("frank") == {"marketing", "staff"}
    users.identity("frank")
    assert accounts.store.idp_groups("frank") == {"marketing", "staff"}, "no groups claim configured: kept"
    users.identity("frank", groups=["finance"])
    assert accounts.store.idp_groups("frank") == {"finance"}


def test_an_oidc_sign_in_stores_the_providers_groups(accounts: Accounts) -> None:
    with oidc_provider() as idp, pytest.MonkeyPatch.context() as env:
        env.setenv("TEST_OIDC_SECRET", CLIENT_SECRET)
        configured = load_settings(
            environ={
                **BASE,
                "DAGSMITH_OIDC_ISSUER": idp.issuer,
                "DAGSMITH_OIDC_CLIENT_ID": CLIENT_ID,
                "DAGSMITH_OIDC_CLIENT_SECRET": "env:TEST_OIDC_SECRET",
                "DAGSMITH_OIDC_GROUPS_CLAIM": "groups",
            }
        )
        app = TeamGuard(Starlette(), accounts=accounts, settings=configured, oidc=OidcLogin(accounts, configured))
        base = "http://127.0.0.1:8000"

        def sign_in() -> None:
            with TestClient(app, base_url=base) as client:
                start = client.get("/login/oidc?next=/projects", follow_redirects=False)
                at_provider = httpx.get(start.headers["location"], follow_redirects=False)
                done = client.get(at_provider.headers["location"].removeprefix(base), follow_redirects=False)
                assert done.status_code == 303 and done.headers["location"] == "/projects", done.text

        idp.claims["groups"] = ["marketing", "staff"]
        sign_in()
        assert accounts.store.idp_groups("carol") == {"marketing", "staff"}
        idp.claims["groups"] = "finance"  # one string; the provider took the others away
        sign_in()
        assert accounts.store.idp_groups("carol") == {"finance"}


async def whoami(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def proxied(accounts: Accounts, proxies: str) -> TestClient:
    configured = TeamSettings(
        database_url="sqlite://", secret_key="k" * 48, trial=True, trusted_proxies=proxies, proxy_groups_header=GROUPS
    )
    return TestClient(TeamGuard(whoami, accounts=accounts, settings=configured))  # type: ignore[arg-type]


def test_the_trusted_proxys_groups_header_is_stored_and_anyone_elses_is_not(accounts: Accounts) -> None:
    trusted = proxied(accounts, "10.0.0.9, testclient")
    answer = trusted.get("/", headers={"X-Forwarded-User": "carol", GROUPS: "marketing, staff"})
    assert answer.status_code == 200
    assert accounts.store.idp_groups("carol") == {"marketing", "staff"}
    assert not accounts.store.set_idp_groups("carol", ["staff", "marketing"]), "unchanged: not written again"
    trusted.get("/", headers={"X-Forwarded-User": "carol"})
    assert accounts.store.idp_groups("carol") == {"marketing", "staff"}, "no header: the groups stay"
    trusted.get("/", headers={"X-Forwarded-User": "carol", GROUPS: "finance"})
    assert accounts.store.idp_groups("carol") == {"finance"}

    accounts.add_user("dave", "correct horse battery")
    untrusted = proxied(accounts, "10.0.0.9")
    answer = untrusted.get("/api/v1/me", headers={"X-Forwarded-User": "dave", GROUPS: "marketing"})
    assert answer.status_code == 401
    assert accounts.store.idp_groups("dave") == set()
    untrusted.get("/api/v1/me", headers={"X-Forwarded-User": "carol", GROUPS: "marketing"})
    assert accounts.store.idp_groups("carol") == {"finance"}


def test_migration_0006_upgrades_an_existing_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        connection.execute(
            sa.text("INSERT INTO \"user\" (name, display_name, created_at) VALUES ('old', '', '2026-01-01')")
        )
    assert "idp_groups" not in {column["name"] for column in sa.inspect(engine).get_columns("user")}
    upgrade(engine)
    assert "idp_groups" in {column["name"] for column in sa.inspect(engine).get_columns("user")}
    engine.dispose()
    with open_store(url, local_user=False) as store:
        assert store.idp_groups("old") == set()
        assert store.set_idp_groups("old", ["marketing"])
        assert store.idp_groups("old") == {"marketing"}
