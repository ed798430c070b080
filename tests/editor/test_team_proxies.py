"""``proxies``: what a request's forwarding headers count for, decided by its TCP peer alone (unit level).

The same rules over real HTTP against ``dagsmith serve`` are in test_team_forwarded.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from dagsmith.editor.team.proxies import (
    client_address,
    public_host,
    public_scheme,
    strip_untrusted,
    via_trusted_proxy,
)
from dagsmith.editor.team.settings import SettingsError, TeamSettings, load_settings

SETTINGS = TeamSettings(
    database_url="sqlite://",
    secret_key="k" * 48,
    trial=True,
    trusted_proxies="10.0.0.5, 2001:DB8::5",
    proxy_user_header="X-Auth-Request-User",
    proxy_groups_header="X-Auth-Request-Groups",
)


def scope(peer: str | None, **headers: str) -> dict[str, Any]:
    raw = [(name.replace("_", "-").lower().encode(), value.encode()) for name, value in headers.items()]
    return {
        "type": "http",
        "scheme": "http",
        "headers": [(b"host", b"internal:8080"), *raw],
        "client": (peer, 40000) if peer else None,
        "server": ("10.0.0.9", 8080),
    }


def test_only_a_configured_peer_is_a_trusted_proxy() -> None:
    assert via_trusted_proxy(SETTINGS, scope("10.0.0.5"))
    assert via_trusted_proxy(SETTINGS, scope("2001:db8:0::5"))  # the same address, written otherwise
    assert not via_trusted_proxy(SETTINGS, scope("10.0.0.6"))
    assert not via_trusted_proxy(SETTINGS, scope(None))
    assert not via_trusted_proxy(TeamSettings(database_url="sqlite://", secret_key="k" * 48), scope("10.0.0.5"))


def test_an_untrusted_peers_forwarding_and_sso_headers_are_removed_and_a_proxys_kept() -> None:
    sent = {
        "X_Forwarded_For": "1.2.3.4",
        "X_Forwarded_Host": "evil.example",
        "X_Forwarded_Prefix": "/evil",
        "Forwarded": "for=1.2.3.4",
        "X_Real_IP": "1.2.3.4",
        "X_Auth_Request_User": "admin",
        "X_Auth_Request_Groups": "admins",
        "Cookie": "a=b",
    }
    untrusted = scope("10.0.0.6", **sent)
    strip_untrusted(SETTINGS, untrusted)
    assert untrusted["headers"] == [(b"host", b"internal:8080"), (b"cookie", b"a=b")]
    trusted = scope("10.0.0.5", **sent)
    strip_untrusted(SETTINGS, trusted)
    assert len(trusted["headers"]) == len(sent) + 1


def test_the_client_address_is_the_last_hop_before_the_trusted_proxies() -> None:
    assert client_address(SETTINGS, scope("10.0.0.6", X_Forwarded_For="1.2.3.4")) == "10.0.0.6"
    assert client_address(SETTINGS, scope("10.0.0.5")) == "10.0.0.5"  # the proxy sent none: its own
    assert client_address(SETTINGS, scope("10.0.0.5", X_Forwarded_For="1.2.3.4")) == "1.2.3.4"
    # a client's own first hop is passed over; trusted proxies in the chain are skipped
    assert client_address(SETTINGS, scope("10.0.0.5", X_Forwarded_For="6.6.6.6, 1.2.3.4, 10.0.0.5")) == "1.2.3.4"
    two_lines = scope("10.0.0.5", X_Forwarded_For="6.6.6.6")
    two_lines["headers"].append((b"x-forwarded-for", b"1.2.3.4:5678"))
    assert client_address(SETTINGS, two_lines) == "1.2.3.4"
    assert client_address(SETTINGS, scope("10.0.0.5", X_Forwarded_For="[2001:DB8::7]:443")) == "2001:db8::7"
    assert client_address(SETTINGS, scope(None)) == "unknown"


def test_the_public_host_and_scheme_come_from_the_trusted_proxy_only() -> None:
    forwarded = {"X_Forwarded_Host": "evil.example, dagsmith.example", "X_Forwarded_Proto": "https"}
    assert public_host(SETTINGS, scope("10.0.0.5", **forwarded)) == "dagsmith.example"
    assert public_scheme(SETTINGS, scope("10.0.0.5", **forwarded)) == "https"
    assert public_host(SETTINGS, scope("10.0.0.6", **forwarded)) == "internal:8080"
    assert public_scheme(SETTINGS, scope("10.0.0.6", **forwarded)) == "http"
    assert public_scheme(SETTINGS, scope("10.0.0.5", X_Forwarded_Proto="gopher")) == "http"
    assert public_host(SETTINGS, scope("10.0.0.5")) == "internal:8080"  # no header: the Host


@pytest.mark.parametrize("value", ["proxy.internal", "10.0.0.5, lb", "10.0.0.0/8"])
def test_trusted_proxies_must_be_ip_addresses(value: str) -> None:
    env = {"DAGSMITH_DATABASE_URL": "sqlite:///x.db", "DAGSMITH_SECRET_KEY": "k" * 48, "DAGSMITH_TRIAL": "1"}
    with pytest.raises(SettingsError, match=r"DAGSMITH_TRUSTED_PROXIES: .* is not an IP address"):
        load_settings(environ={**env, "DAGSMITH_TRUSTED_PROXIES": value})
    assert load_settings(environ={**env, "DAGSMITH_TRUSTED_PROXIES": "10.0.0.5, ::1"}).proxies == {"10.0.0.5", "::1"}


@pytest.mark.parametrize(("variable", "value"), [("USER", "X User"), ("USER", "X-Usér"), ("GROUPS", "X:Groups")])
def test_the_sso_header_settings_must_be_header_names(variable: str, value: str) -> None:
    env = {"DAGSMITH_DATABASE_URL": "sqlite:///x.db", "DAGSMITH_SECRET_KEY": "k" * 48, "DAGSMITH_TRIAL": "1"}
    with pytest.raises(SettingsError, match=f"DAGSMITH_PROXY_{variable}_HEADER = .* is not a header name"):
        load_settings(environ={**env, f"DAGSMITH_PROXY_{variable}_HEADER": value})
