"""``dagsmith desktop [FILE]`` before anything heavy loads: become the running app, or hand FILE to it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

from ..errors import UserError
from .instance import claim, hand_over, read_published
from .runenv import IN_RUNENV, reexec_argv

_held: list[IO[str]] = []
"""The instance lock of this process (held until it exits)."""


def claim_or_hand_over(file: Path | None) -> bool:
    """True when this process is now the one desktop app (it goes on to open its window); False when an app
    was running already and took ``file`` (or just came to the front). UserError when a running app does
    not answer."""
    if _held:  # this process is the app already (a second `desktop` command in the same process)
        return True
    lock = claim()
    if lock is not None:
        _held.append(lock)
        return True
    message = {"command": "open", "path": str(file)} if file is not None else {"command": "focus"}
    reply = hand_over(message)
    if reply is None:
        published = read_published()
        where = f" (its control port is {published[0]})" if published else ""
        raise UserError(
            f"dagsmith is already running{where} but does not answer; close its window (or end that process) "
            "and start dagsmith again"
        )
    if not reply.get("ok"):
        raise UserError(f"the running dagsmith app could not do it: {reply.get('message')}")
    return False


def restart_in_run_env(argv: list[str]) -> None:
    """Start ``dagsmith ARGV`` from the run environment instead, once "Set up local runs" made it and this
    environment lacks Airflow (the packaged app): replaces this process; returns when there is nothing to do."""
    command = reexec_argv(argv)
    if command is None:
        return
    env = {**os.environ, IN_RUNENV: "1"}
    # PyInstaller's bootloader points LD_LIBRARY_PATH at the bundle; the run environment needs the original.
    if "LD_LIBRARY_PATH_ORIG" in env:
        env["LD_LIBRARY_PATH"] = env.pop("LD_LIBRARY_PATH_ORIG")
    elif getattr(sys, "frozen", False):
        env.pop("LD_LIBRARY_PATH", None)
    os.execve(command[0], command, env)
