"""``dagsmith step-image [--print | --build --tag T]``: the step image the built-in steps of a DAG run in.

``--print`` (the default) writes the Dockerfile to standard output; ``--build`` builds it from this checkout's
``steps/`` folder with docker or podman (``codegen.step_image``), and says clearly when neither is installed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from dagsmith.nodes.checks import check_image

from .terminal import printable

Commands = dict[str, Callable[[argparse.Namespace], int]]


def _error(message: str) -> int:
    sys.stderr.write(printable(f"dagsmith step-image: {message}") + "\n")
    return 1


def cmd_step_image(args: argparse.Namespace) -> int:
    """Print the step image's Dockerfile, or build it; 1 (with the reason) when it cannot be built here."""
    from dagsmith.codegen.step_image import (
        StepImageError,
        build_command,
        build_context,
        container_tool,
        dockerfile,
    )

    if not args.build:
        sys.stdout.write(dockerfile())
        return 0
    if not args.tag:
        return _error("--build needs --tag, the image to build (for example registry.example.com/dagsmith/steps:1.0.0)")
    try:
        check_image(args.tag)
    except ValueError as exc:
        return _error(f"--tag: {exc}")
    try:
        context = build_context()
        tool = container_tool()
    except StepImageError as exc:
        return _error(str(exc))
    command = build_command(tool, args.tag, context)
    sys.stderr.write(printable("dagsmith step-image: " + " ".join(command)) + "\n")
    done = subprocess.run(command, input=dockerfile(), text=True, check=False)
    if done.returncode != 0:
        return _error(
            f"{tool} build failed (exit status {done.returncode}); its output is above "
            "(when it cannot reach its daemon, start it or build the printed Dockerfile elsewhere)"
        )
    sys.stdout.write(f"built {args.tag}; set it as the pipeline's step_image and push it to your registry\n")
    return 0


def register(sub: Any, commands: Commands) -> None:
    """Add ``step-image`` to the CLI."""
    p = sub.add_parser(
        "step-image",
        help="print or build the image the built-in steps run in (dagsmith-steps; user images that run script, "
        "notebook or trial steps need it installed too: see the Dockerfile's comment)",
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument("--print", dest="build", action="store_false", help="print the Dockerfile (the default)")
    how.add_argument("--build", dest="build", action="store_true", help="build the image with docker or podman")
    p.set_defaults(build=False)
    p.add_argument("--tag", metavar="IMAGE", help="with --build: the image to build, registry/name:tag")
    commands["step-image"] = cmd_step_image
