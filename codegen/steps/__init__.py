"""Programs that the built-in node types run in their pods with ``python -c``.

Each step is a real module here (importable and testable); the DAG file embeds its source as a
string literal, after the shared ``runtime`` module, so that images need only the libraries
(see CONTRACT.md) and never download code at run time. Lines marked ``# dagsmith: not embedded``
are dropped when embedding (the imports that only make the modules importable here).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

STEPS = (
    "notebook",
    "feature_retrieval",
    "feature_materialize",
    "hpo_trials",
    "hpo_trial",
    "hpo_best",
    "register_model",
    "model_gate",
    "promote_model",
    "bentoml_build",
    "bentoml_deploy",
    "batch_predict",
    "monitor",
)
"""Step program names (module names in this package)."""

LOCAL_STEPS = ("local_launcher", "local_runtime", "bentoml_build_local", "bentoml_serve_local")
"""Programs of the ``local`` target: the launcher BashOperator starts, the local-only runtime helpers
(embedded after ``runtime`` there, never in a cluster DAG), and the local forms of the BentoML steps
(a Bento in the local store instead of an image; ``bentoml serve`` instead of Kubernetes)."""

_STANDALONE = ("runtime", "local_launcher")  # programs that come first and keep their __future__ import

_MARK = "# dagsmith: not embedded"


@cache
def source(name: str) -> str:
    """The embedded text of step ``name`` (or ``runtime``): marked lines dropped, no trailing newline."""
    if name not in STEPS and name not in LOCAL_STEPS and name != "runtime":
        raise ValueError(f"unknown step program {name!r}")
    text = resources.files(__package__).joinpath(f"{name}.py").read_text(encoding="utf-8")
    lines: list[str] = []
    skipping = False  # inside a marked import that ruff wrapped in parentheses
    for line in text.splitlines():
        if skipping:
            skipping = line.strip() != ")"
        elif line.rstrip().endswith(_MARK):
            skipping = line.split("#")[0].rstrip().endswith("(")
        else:
            lines.append(line)
    if name not in _STANDALONE:  # the runtime comes first in the program and holds the __future__ import
        lines = [line for line in lines if line != "from __future__ import annotations"]
    return "\n".join(lines).rstrip("\n")
