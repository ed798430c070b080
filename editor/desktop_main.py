"""Entry point of the packaged desktop app (``make package``): the CLI, defaulting to ``desktop``."""

from __future__ import annotations

import multiprocessing
import sys

from dagsmith.editor.cli import run

if __name__ == "__main__":
    multiprocessing.freeze_support()  # the native window runs in a child process
    sys.exit(run(sys.argv[1:] or ["desktop"]))
