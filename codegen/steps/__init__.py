"""The step programs as the ``local`` target embeds them (``python -c``), and its local-only programs.

The built-in steps live in the step runtime, ``dagsmith_steps`` (``steps/dagsmith_steps/`` of this repository,
its own distribution ``dagsmith-steps``): a Kubernetes DAG runs ``python -m dagsmith_steps <step>`` in the
step image. A local run has no image, so the local DAG file embeds the same modules' source as string
literals, after the shared ``runtime`` module. Lines marked ``# dagsmith: not embedded`` are dropped when
embedding (the imports that only make the modules importable as a package). The local-only programs (the
launcher, its helpers, the local BentoML forms) live here, next to the code that embeds them.

The artifact layer (``artifact_store`` and its parts, in the order of ``_LAYER``) is embedded in the two
programs that start a step's work: after the ``runtime`` (a pod's built-in step) and in the
``local_launcher`` (every local step). Each step program's closing ``main()`` call is embedded as
``run_step(main)``, so that the layer runs around it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from dagsmith_steps import RUNTIME_VERSION, STEPS, VERSION_ENV, step_module

__all__ = ["LOCAL_STEPS", "RUNTIME_VERSION", "STEPS", "VERSION_ENV", "source"]

RUNTIME_PACKAGE = "dagsmith_steps"
"""The step runtime's import package: ``STEPS``, ``runtime`` and ``artifact_store`` are its modules."""

LOCAL_STEPS = ("local_launcher", "local_runtime", "bentoml_build_local", "bentoml_serve_local")
"""Programs of the ``local`` target: the launcher BashOperator starts, the local-only runtime helpers
(embedded after ``runtime`` there, never in a cluster DAG), and the local forms of the BentoML steps
(a Bento in the local store instead of an image; ``bentoml serve`` instead of Kubernetes)."""

_STANDALONE = ("runtime", "local_launcher")  # programs that come first and keep their __future__ import

_MARK = "# dagsmith: not embedded"

_LAYER = ("artifact_manifest", "artifact_access", "artifact_transfer", "artifact_store")
"""The artifact layer's modules, embedded in this order in the programs of _STANDALONE, never on their own."""

_MAIN = ('if __name__ == "__main__":', "    main()")

_HELPERS = {"bentoml_deploy": ("serving_queries", "serving_dashboard", "serving_monitoring")}
"""Runtime modules a step program imports (a marked import), embedded in that program before its own lines."""


@cache
def source(name: str) -> str:
    """The embedded text of step ``name`` (or ``runtime``): marked lines dropped, no trailing newline."""
    if name not in STEPS and name not in LOCAL_STEPS and name != "runtime":
        raise ValueError(f"unknown step program {name!r}")
    lines = _lines(name)
    if name in _STANDALONE:
        layer = [line for part in _LAYER for line in _lines(part) if line != "from __future__ import annotations"]
        cut = lines.index(_MAIN[0]) if _MAIN[0] in lines else len(lines)
        lines = [*lines[:cut], "", "", *layer, "", "", *lines[cut:]]
    else:
        # the runtime comes first in the program and holds the __future__ import
        helpers = [line for part in _HELPERS.get(name, ()) for line in [*_lines(part), "", ""]]
        lines = [line for line in [*helpers, *lines] if line != "from __future__ import annotations"]
        if tuple(lines[-2:]) == _MAIN:
            lines[-1] = "    run_step(main)"
    return "\n".join(lines).rstrip("\n")


def _lines(name: str) -> list[str]:
    """The lines of module ``name`` without the marked ones."""
    package = __package__ if name in LOCAL_STEPS else RUNTIME_PACKAGE
    text = resources.files(package).joinpath(f"{step_module(name)}.py").read_text(encoding="utf-8")
    lines: list[str] = []
    skipping = False  # inside a marked import that ruff wrapped in parentheses
    for line in text.splitlines():
        if skipping:
            skipping = line.strip() != ")"
        elif line.rstrip().endswith(_MARK):
            skipping = line.split("#")[0].rstrip().endswith("(")
        else:
            lines.append(line)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines
