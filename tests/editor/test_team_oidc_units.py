"""OIDC sign-in's parts without a running ``dagsmith serve``: settings, the client secret reference, the user
a token names (allowed domains, admin group, provisioning), an unreachable provider, and no Authlib."""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from browser import free_port
from oidc_provider import CLIENT_ID, CLIENT_SECRET, oidc_provider
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dagsmith.editor.team.accounts import Accounts, Identity
from dagsmith.editor.team.guard import TeamGuard, sign, unsign
from dagsmith.editor.team.oidc import OidcLogin, resolve_client_secret
from dagsmith.editor.team.oidc_users import OidcRefused, OidcUsers, is_org_admin, user_name
from dagsmith.editor.team.server import open_accounts
from dagsmith.editor.team.settings import SettingsError, TeamSettings, load_settings

BASE = {"DAGSMITH_DATABASE_URL": "sqlite:////tmp/unused.db", "DAGSMITH_TRIAL": "1", "DAGSMITH_SECRET_KEY": "k" * 48}
OIDC = {"DAGSMITH_OIDC_ISSUER": "https://id.example.com/realms/acme", "DAGSMITH_OIDC_CLIENT_ID": "dagsmith"}


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    made = open_accounts(TeamSettings(database_url=f"sqlite:///{tmp_path / 'team.db'}", secret_key="", trial=True))
    yield made
    made.store.close()


def settings(**values: str) -> TeamSettings:
    return load_settings(environ={**BASE, **OIDC, **values})


def test_settings_from_the_environment_and_the_file(tmp_path: Path) -> None:
    loaded = settings(DAGSMITH_OIDC_CLIENT_SECRET="env:IDP_SECRET", DAGSMITH_OIDC_AUTO_PROVISION="false")
    assert loaded.oidc_enabled and not loaded.oidc_auto_provision
    assert loaded.oidc_username_claim == "preferred_username" and loaded.oidc_scopes == "openid email profile"
    config = tmp_path / "dagsmith.toml"
    config.write_text(
        '[server]\noidc_issuer = "https://accounts.google.com"\noidc_client_id = "x.apps"\n'
        'oidc_client_secret = "file:/etc/dagsmith/oidc"\noidc_username_claim = "email"\n'
        'oidc_email_domains = "example.com"\n'
    )
    from_file = load_settings(config, environ=BASE)
    assert (from_file.oidc_issuer, from_file.oidc_username_claim) == ("https://accounts.google.com", "email")
    assert not load_settings(environ=BASE).oidc_enabled


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"DAGSMITH_OIDC_CLIENT_SECRET": "hunter2-the-secret"}, "not the secret itself: env:NAME"),
        ({"DAGSMITH_OIDC_ISSUER": "http://id.example.com"}, "must be an https:// URL"),
        ({"DAGSMITH_OIDC_CLIENT_ID": ""}, "no client id: set DAGSMITH_OIDC_CLIENT_ID"),
        ({"DAGSMITH_OIDC_SCOPES": "email profile"}, "must include openid"),
        ({"DAGSMITH_OIDC_ADMIN_CLAIM": "groups"}, "oidc_admin_claim and oidc_admin_group go together"),
    ],
)
def test_unusable_settings_are_refused_with_the_reason(values: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        settings(**values)
    assert message in str(refused.value)


def test_client_secret_reference(tmp_path: Path) -> None:
    assert resolve_client_secret("env:IDP", environ={"IDP": "abc"}) == "abc"
    (tmp_path / "secret").write_text("from-a-file\n")
    assert resolve_client_secret(f"file:{tmp_path / 'secret'}") == "from-a-file"
    assert resolve_client_secret("") == ""
    with pytest.raises(SettingsError, match="the environment variable IDP is not set"):
        resolve_client_secret("env:IDP", environ={})
    with pytest.raises(SettingsError, match="cannot read"):
        resolve_client_secret(f"file:{tmp_path / 'missing'}")


def test_user_name_and_allowed_domains() -> None:
    plain = settings()
    assert user_name(plain, {"preferred_username": " carol "}, "IdP") == "carol"
    with pytest.raises(OidcRefused, match=r"did not send the claim 'preferred_username'.*it sent: email, sub"):
        user_name(plain, {"sub": "1", "email": "c@example.com"}, "IdP")
    domains = settings(DAGSMITH_OIDC_EMAIL_DOMAINS="example.com, @Corp.example", DAGSMITH_OIDC_USERNAME_CLAIM="email")
    assert user_name(domains, {"email": "dan@corp.example", "email_verified": True}, "IdP") == "dan@corp.example"
    with pytest.raises(OidcRefused, match=re.escape("accepts only verified addresses in corp.example, example.com")):
        user_name(domains, {"email": "eve@evil.example"}, "IdP")
    with pytest.raises(OidcRefused, match=r"\(not verified\)"):
        user_name(domains, {"email": "eve@example.com", "email_verified": False}, "IdP")


def test_org_admin_from_the_group_claim(accounts: Accounts) -> None:
    grouped = settings(DAGSMITH_OIDC_ADMIN_CLAIM="groups", DAGSMITH_OIDC_ADMIN_GROUP="dagsmith-admins")
    assert is_org_admin(grouped, {"groups": ["staff", "dagsmith-admins"]}) is True
    assert is_org_admin(grouped, {"groups": "staff"}) is False
    assert is_org_admin(settings(), {"groups": ["dagsmith-admins"]}) is None
    users = OidcUsers(accounts, auto_provision=True)
    assert users.identity("frank", org_admin=True).org_admin
    assert users.identity("frank").org_admin, "no admin claim configured: what is stored stays"
    assert not users.identity("frank", org_admin=False).org_admin, "the provider took the group away"


def test_without_auto_provision_only_known_users_sign_in(accounts: Accounts) -> None:
    users = OidcUsers(accounts, auto_provision=False)
    with pytest.raises(OidcRefused, match="there is no user 'gina' on this server; ask an administrator"):
        users.identity("gina")
    accounts.add_user("gina", "a long password here")
    assert users.identity("gina").name == "gina"
    accounts.set_disabled("gina")
    with pytest.raises(OidcRefused, match="'gina' is disabled"):
        users.identity("gina")


def test_an_unreachable_provider_is_told_on_the_login_page(accounts: Accounts) -> None:
    down = settings(DAGSMITH_OIDC_ISSUER=f"http://127.0.0.1:{free_port()}", DAGSMITH_OIDC_PROVIDER_NAME="Corp ID")
    app = TeamGuard(Starlette(), accounts=accounts, settings=down, oidc=OidcLogin(accounts, down))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/login")
        assert "Sign in with Corp ID" in page.text
        answer = client.get("/login/oidc?next=/projects", follow_redirects=False)
    assert answer.status_code == 502
    assert "cannot reach the sign-in provider Corp ID" in answer.text and "Traceback" not in answer.text
    assert 'name="next" value="/projects"' in answer.text


def test_without_authlib_oidc_names_the_extra(accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "authlib.integrations.starlette_client", None)
    with pytest.raises(SettingsError, match=r"needs Authlib: pip install 'dagsmith\[team\]'"):
        OidcLogin(accounts, settings())


def test_a_sign_in_started_on_one_replica_finishes_on_another(accounts: Accounts) -> None:
    """The flow's state travels in the signed cookie, so the load balancer may send the callback anywhere."""
    with oidc_provider() as idp:
        shared = settings(
            DAGSMITH_OIDC_ISSUER=idp.issuer,
            DAGSMITH_OIDC_CLIENT_ID=CLIENT_ID,
            DAGSMITH_OIDC_CLIENT_SECRET="env:TEST_OIDC_SECRET",
        )
        replicas = []
        with pytest.MonkeyPatch.context() as env:
            env.setenv("TEST_OIDC_SECRET", CLIENT_SECRET)
            for _ in range(2):
                replicas.append(
                    TeamGuard(Starlette(), accounts=accounts, settings=shared, oidc=OidcLogin(accounts, shared))
                )
        base = "http://127.0.0.1:8000"
        with TestClient(replicas[0], base_url=base) as a, TestClient(replicas[1], base_url=base) as b:
            start = a.get("/login/oidc?next=/projects", follow_redirects=False)
            assert start.status_code == 303
            flow = start.cookies["dagsmith-oidc"]
            at_provider = httpx.get(start.headers["location"], follow_redirects=False)
            callback = at_provider.headers["location"].removeprefix(base)
            b.cookies.set("dagsmith-oidc", flow)
            done = b.get(callback, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/projects", done.text
        assert accounts.session_identity(unsign(done.cookies["dagsmith-session"], shared.secret_key) or "") == Identity(
            "carol", False
        )


def test_the_way_back_from_logout_never_follows_the_logout_requests_host(accounts: Accounts) -> None:
    """post_logout_redirect_uri: the configured redirect URI's origin wins over a forged Host; an ID-token
    cookie that names no origin (made before origins were kept) gets a local logout, not the Host's."""
    with oidc_provider() as idp, pytest.MonkeyPatch.context() as env:
        env.setenv("TEST_OIDC_SECRET", CLIENT_SECRET)
        configured = settings(
            DAGSMITH_OIDC_ISSUER=idp.issuer,
            DAGSMITH_OIDC_CLIENT_ID=CLIENT_ID,
            DAGSMITH_OIDC_CLIENT_SECRET="env:TEST_OIDC_SECRET",
            DAGSMITH_OIDC_REDIRECT_URI="https://dagsmith.example.com/login/oidc/callback",
        )
        oidc = OidcLogin(accounts, configured)
        guard = TeamGuard(Starlette(), accounts=accounts, settings=configured, oidc=oidc)
        with TestClient(guard, base_url="http://127.0.0.1:8000") as client:
            start = client.get("/login/oidc", follow_redirects=False)
            at_provider = httpx.get(start.headers["location"], follow_redirects=False)
            callback = at_provider.headers["location"].removeprefix("https://dagsmith.example.com")
            assert client.get(callback, follow_redirects=False).status_code == 303
            out = client.post("/logout", headers={"Host": "evil.example"}, follow_redirects=False)
            assert "post_logout_redirect_uri=https%3A%2F%2Fdagsmith.example.com%2Flogin" in out.headers["location"]
            assert out.cookies["dagsmith-oidc-logout"]

            accounts.add_user("pat", "correct horse battery")
            secret = accounts.start_session("pat", hours=1)
            old = {"id_token": "a.b.c", "session": hashlib.sha256(secret.encode()).hexdigest(), "expires": 4e9}
            plain = OidcLogin(accounts, replace(configured, oidc_redirect_uri=""))
            client.cookies.set("dagsmith-session", sign(secret, configured.secret_key))
            client.cookies.set("dagsmith-oidc-id", plain._seal(old))
            guard.oidc = plain
            out = client.post("/logout", headers={"Host": "evil.example"}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/login?sso=open"
        assert "dagsmith-oidc-logout" not in out.cookies
