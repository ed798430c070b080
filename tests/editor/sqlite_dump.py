"""Everything a SQLite database holds, as SQL, read through SQLite: for checks that a secret is not stored.

Never read the database file's bytes in a test (``Path.read_bytes()``, ``open()``) for such a check:

- rows still in the write-ahead log (``-wal``) are not in the main file yet, so the check can miss them;
- closing any handle on the file drops every POSIX lock this process's SQLite holds on it. When a store in
  this process keeps a connection open, the next process to close the database (the CLI, the editor server)
  believes it is the last, checkpoints and deletes the WAL and its index, and this process's later writes go
  to the deleted files, which no other process sees (commit 26110f9: the Airflow-tab test opened one of the
  server's seeded examples instead of its new pipeline).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


def sqlite_dump(database: Path | str) -> str:
    """The database (a file path or a ``sqlite:///`` URL) as SQL statements, WAL rows included."""
    path = str(database).removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as connection:
        return "\n".join(connection.iterdump())
