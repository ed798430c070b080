"""What the Feast and MLflow readers share: the settings that name them, the error, and bounded calls."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

ENV_FEAST_REPO = "DAGSMITH_FEAST_REPO"
ENV_MLFLOW = "DAGSMITH_MLFLOW_TRACKING_URI"
ENV_MLFLOW_STANDARD = "MLFLOW_TRACKING_URI"

MLFLOW_HOW = f"set {ENV_MLFLOW_STANDARD} (or {ENV_MLFLOW}) to your tracking server, e.g. http://mlflow.internal:5000"
"""How to configure MLflow, the end of every MLflow message."""
FEAST_HOW = f"point feast_repo at a local Feast feature repository, or set {ENV_FEAST_REPO} to one"
"""How to configure Feast, the end of every Feast message."""

T = TypeVar("T")


class ComponentUnavailable(Exception):  # noqa: N818  (the name says what happened)
    """Feast or MLflow cannot be read; the message names it, where it was looked for, and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Configured:
    """Where a component was found, and which setting named it (for the message shown with it)."""

    location: str
    source: str


def within(seconds: float, what: str, call: Callable[[], T]) -> T:
    """``call()`` in a daemon thread; ``ComponentUnavailable`` if it has not returned after ``seconds``.

    A call that overruns keeps running in the background (Python threads cannot be stopped), but nothing
    waits for it: not the editor, and not the interpreter at exit.
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="dagsmith-integration", daemon=True).start()
    if not done.wait(seconds):
        raise ComponentUnavailable(f"{what} did not answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 300 characters), for a one-line error."""
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0]
    return line if len(line) <= 300 else line[:297] + "..."
