"""The local Airflow's SQLite metadata database and login, ready before any component starts.

Migrating a new SQLite database (``airflow db migrate``) costs seconds of CPU on every new workspace.
The database it makes depends only on the Airflow version, so it is made once per version as a template
(``<DAGSMITH_HOME>/airflow-db/<version>/airflow.db``) and copied into each new instance's home. A home
whose database an older Airflow made is migrated in place. The SimpleAuthManager's ``admin`` password is
written here too (random, to the file the API server reads), so that no component has to generate it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

from .api import PASSWORDS, USER
from .project import AirflowUpError

DATABASE = "airflow.db"
VERSION_MARK = "airflow.db.version"


def airflow_version() -> str:
    """The installed Airflow's version (read from its package metadata; Airflow is not imported)."""
    for name in ("apache-airflow-core", "apache-airflow"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(name)
    raise AirflowUpError("Airflow is not installed; install dagsmith with the airflow extra")


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file, with a lock timeout for the components' concurrent writes."""
    return f"sqlite:///{path}?timeout=60"


def _migrate(airflow: str, env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        command = [airflow, "db", "migrate"]
        result = subprocess.run(command, check=False, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    if result.returncode != 0:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
        raise AirflowUpError(f"`airflow db migrate` failed (log {log}):\n" + "\n".join(lines))


def template(airflow: str, root: Path, env: dict[str, str]) -> Path:
    """The migrated empty database of this Airflow version under ``root``; made on first use (locked)."""
    folder = root / airflow_version()
    made = folder / DATABASE
    if made.exists():
        return made
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another `up` may be making it right now
        if made.exists():
            return made
        with tempfile.TemporaryDirectory(prefix="migrate-", dir=folder) as scratch:
            database = Path(scratch) / DATABASE
            own = {key: value for key, value in env.items() if not key.startswith(("AIRFLOW__", "AIRFLOW_HOME"))}
            own.update(
                AIRFLOW_HOME=scratch,
                AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite_url(database),
                AIRFLOW__CORE__LOAD_EXAMPLES="False",
            )
            _migrate(airflow, own, folder / "migrate.log")
            database.replace(made)
    return made


def prepare(airflow: str, home: Path, templates: Path, env: dict[str, str]) -> str:
    """Make ``home``'s database current (a copy of the template, or migrated in place); 'copied' or 'migrated'.

    Returns '' when it was current already.
    """
    version = airflow_version()
    database = home / DATABASE
    mark = home / VERSION_MARK
    if not database.exists():
        copy = home / f".{DATABASE}.copy"
        shutil.copyfile(template(airflow, templates, env), copy)
        copy.replace(database)
        how = "copied"
    elif not mark.exists() or mark.read_text(encoding="utf-8").strip() != version:
        _migrate(airflow, env, home / "migrate.log")
        how = "migrated"
    else:
        return ""
    mark.write_text(version, encoding="utf-8")
    return how


def ensure_login(home: Path) -> tuple[str, str]:
    """The ``admin`` user's password in the file the SimpleAuthManager reads (a random one written first)."""
    path = home / PASSWORDS
    try:
        passwords = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        passwords = None
    if isinstance(passwords, dict) and isinstance(passwords.get(USER), str):
        return USER, passwords[USER]
    password = secrets.token_urlsafe(12)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({USER: password}) + "\n")
    return USER, password
