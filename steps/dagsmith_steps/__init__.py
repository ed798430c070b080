"""dagsmith step runtime: the programs the built-in node types run in their pods.

Installed alone (the ``dagsmith-steps`` distribution, built from ``steps/`` of the dagsmith repository)
into the step image that ``dagsmith step-image`` writes: standard library at import, and only the libraries
the steps use (MLflow, BentoML, Feast, kubernetes, fsspec) as extras. A Kubernetes DAG starts a step with
``python -m dagsmith_steps <step>`` and pins the version it was exported for in ``DAGSMITH_RUNTIME_VERSION``;
the runtime refuses to run under another version (``__main__``). The local target embeds the same modules'
source in the DAG file (``dagsmith.codegen.steps``), so local runs and pods run the same code.
"""

from __future__ import annotations

RUNTIME_VERSION = "1.1.0"
"""The step runtime's version: the distribution's version, the default step image's tag, and what the DAG pins."""

VERSION_ENV = "DAGSMITH_RUNTIME_VERSION"
"""The variable through which a DAG tells the step which runtime version it was exported for."""

STEPS = (
    "exec",
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
"""Step names (module names in this package, but see ``STEP_MODULES``): ``python -m dagsmith_steps <step>``."""

STEP_MODULES = {"exec": "exec_step"}
"""Steps whose module has another name (``exec`` would shadow the builtin of that name)."""


def step_module(step: str) -> str:
    """The module (in this package) that holds step ``step``."""
    return STEP_MODULES.get(step, step)
