"""``dagsmith serve`` (the team server), ``dagsmith users ...`` and ``dagsmith projects ...`` (its accounts).

The account commands work on the server's database directly (``DAGSMITH_DATABASE_URL`` or the config
file's ``database_url``), so an operator can create the first admin before any server runs. Passwords are
read from the terminal, or from standard input with ``--password-stdin`` (scripts), never from arguments
(they would show in ``ps`` and the shell history).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..terminal import printable
from .settings import SettingsError, TeamSettings, configured_database, load_settings

if TYPE_CHECKING:
    from .accounts import Accounts

Commands = dict[str, Callable[[argparse.Namespace], int]]
EXIT_OK, EXIT_USAGE = 0, 2


def _say(text: str) -> None:
    sys.stdout.write(printable(text) + "\n")


def _fail(command: str, message: str) -> int:
    sys.stderr.write(printable(f"dagsmith {command}: {message}") + "\n")
    return EXIT_USAGE


def register(sub: Any, commands: Commands) -> None:
    """Add ``serve``, ``users`` and ``projects`` to the CLI."""
    p = sub.add_parser("serve", help="run the team server: sign-in, project roles, PostgreSQL")
    p.add_argument("--config", type=Path, metavar="FILE", help="TOML settings ([server]); or DAGSMITH_CONFIG")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, help="port (default 8080)")
    p.add_argument("--trial", action="store_true", default=None, help="allow SQLite (one machine, a trial only)")

    users = sub.add_parser("users", help="manage the team server's users").add_subparsers(
        dest="users_command", required=True, metavar="ACTION"
    )
    p = users.add_parser("add", help="create a user who signs in with a password")
    p.add_argument("name")
    p.add_argument("--display-name", default="")
    p.add_argument("--admin", action="store_true", help="an organisation admin (manages projects and members)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.add_parser("list", help="list users, disabled ones marked")
    for action, text in (("disable", "stop a user from signing in (ends their sessions)"), ("enable", "undo disable")):
        users.add_parser(action, help=text).add_argument("name")
    p = users.add_parser("reset-password", help="set a new password (ends the user's sessions)")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p = users.add_parser("token", help="create an API token for a user (shown once)")
    p.add_argument("name")
    p.add_argument("--label", default="cli", help="what the token is for (shown in listings)")
    p = users.add_parser("tokens", help="list a user's API tokens")
    p.add_argument("name")
    p = users.add_parser("revoke-token", help="revoke one of a user's API tokens")
    p.add_argument("name")
    p.add_argument("token_id", type=int, metavar="ID")
    for parser in users.choices.values():
        parser.add_argument("--config", type=Path, metavar="FILE", help="TOML settings ([server]); or DAGSMITH_CONFIG")

    projects = sub.add_parser("projects", help="create team projects and give users roles in them").add_subparsers(
        dest="projects_command", required=True, metavar="ACTION"
    )
    p = projects.add_parser("create", help="create a project with its first owner")
    p.add_argument("name")
    p.add_argument("--owner", required=True, metavar="USER")
    p = projects.add_parser("grant", help="give a user a role in a project (or change it)")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("user", metavar="USER")
    # No choices from the store's Role here: the CLI starts without importing the store (sqlmodel).
    p.add_argument("role", metavar="ROLE", help="viewer, editor, maintainer or owner")
    for parser in projects.choices.values():
        parser.add_argument("--config", type=Path, metavar="FILE", help="TOML settings ([server]); or DAGSMITH_CONFIG")
    commands.update(serve=cmd_serve, users=cmd_users, projects=cmd_projects)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the team server with the settings from the file, the environment and the command line."""
    try:
        settings = load_settings(args.config, overrides={"host": args.host, "port": args.port, "trial": args.trial})
    except SettingsError as exc:
        return _fail("serve", str(exc))
    from .server import run_team_server

    _say(f"dagsmith team server on http://{settings.host}:{settings.port}/ (Ctrl+C stops it)")
    sys.stdout.flush()
    try:
        run_team_server(settings)
    except SettingsError as exc:  # found on start: an OIDC client secret that cannot be read, no Authlib
        return _fail("serve", str(exc))
    return EXIT_OK


def _accounts(args: argparse.Namespace) -> Accounts:
    """The accounts in the server's database; they need no secret key, and SQLite is fine for them."""
    from ..store import database_url
    from .server import open_accounts

    url = configured_database(args.config) or database_url()
    return open_accounts(TeamSettings(database_url=url, secret_key="", trial=True))


def _password(args: argparse.Namespace) -> str:
    from ..store import StoreError

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise StoreError("the two passwords differ; run the command again")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    """``dagsmith users ACTION``: add, list, disable, enable, reset-password, token, tokens, revoke-token."""
    from ..store import StoreError

    command = f"users {args.users_command}"
    try:
        accounts = _accounts(args)
    except SettingsError as exc:
        return _fail(command, str(exc))
    try:
        action = args.users_command
        if action == "add":
            accounts.add_user(args.name, _password(args), display_name=args.display_name, org_admin=args.admin)
            _say(f"added {args.name}" + (" (organisation admin)" if args.admin else ""))
        elif action == "list":
            for account in accounts.accounts():
                flags = [f for f, on in (("admin", account.org_admin), ("disabled", account.disabled)) if on]
                if not account.has_password:
                    flags.append("no password")
                _say(f"{account.name:<24} {account.display_name:<24} {', '.join(flags)}".rstrip())
        elif action in ("disable", "enable"):
            accounts.set_disabled(args.name, action == "disable")
            _say(f"{action}d {args.name}")
        elif action == "reset-password":
            accounts.set_password(args.name, _password(args))
            _say(f"new password set for {args.name}; their sessions were ended")
        elif action == "token":
            token, secret = accounts.create_token(args.name, args.label)
            sys.stderr.write(f"API token {token.id} for {args.name} (shown once; only its hash is stored):\n")
            _say(secret)
        elif action == "tokens":
            for token in accounts.tokens(args.name):
                state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
                _say(f"{token.id:<6} {token.name:<20} {token.created_at:%Y-%m-%d %H:%M}  {state}")
        elif action == "revoke-token":
            accounts.revoke_token(args.name, args.token_id)
            _say(f"revoked token {args.token_id} of {args.name}")
        return EXIT_OK
    except StoreError as exc:
        return _fail(command, str(exc))
    finally:
        accounts.store.close()


def cmd_projects(args: argparse.Namespace) -> int:
    """``dagsmith projects create|grant``: team projects and their members, as the database's operator."""
    from ..store import Role, StoreError

    command = f"projects {args.projects_command}"
    try:
        accounts = _accounts(args)
    except SettingsError as exc:
        return _fail(command, str(exc))
    store = accounts.store
    try:
        if args.projects_command == "create":
            created = store.create_project(args.name, by=args.owner)
            _say(f"created project {created.name!r} (id {created.id}), owned by {args.owner}")
            return EXIT_OK
        project = next((p for p in store.list_projects() if args.project in (p.name, str(p.id))), None)
        if project is None:
            return _fail(command, f"there is no project {args.project!r}; `dagsmith projects create` makes one")
        if args.role not in {role.value for role in Role}:
            return _fail(command, f"there is no role {args.role!r}; use viewer, editor, maintainer or owner")
        owner = next(m.user for m in store.list_members(project.id) if m.role is Role.OWNER)
        store.add_member(project.id, args.user, Role(args.role), by=owner)
        _say(f"{args.user} is now {args.role} of {project.name!r}")
        return EXIT_OK
    except StoreError as exc:
        return _fail(command, str(exc))
    finally:
        store.close()
