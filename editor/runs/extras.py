"""Which optional packages a local run needs, checked before anything runs.

The designer (canvas, forms, validation, export, git) installs without Airflow, MLflow, BentoML and Feast:
they are the ``airflow`` and ``mlops`` extras. A local run needs Airflow always, and MLflow, Feast or
BentoML when its steps or its workspace setup use them; without them the run is refused with a message
that names the extra to install, instead of failing later inside the run.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable

from dagsmith.nodes import Pipeline

EXTRA_OF = {"airflow": "airflow", "mlflow": "mlops", "feast": "mlops", "bentoml": "mlops", "papermill": "mlops"}
"""Module -> the dagsmith extra that installs it."""

MODULES_OF_TYPE = {
    "feature_retrieval": ("feast",),
    "feature_materialize": ("feast",),
    "notebook": ("papermill",),
    "hyperparameter_search": ("mlflow",),
    "register_model": ("mlflow",),
    "model_gate": ("mlflow",),
    "bentoml_build": ("bentoml", "mlflow"),
    "bentoml_deploy": ("bentoml",),
    "batch_predict": ("mlflow",),
    "monitor": ("mlflow",),
}
"""Node type -> the modules its local step imports (beyond Airflow, which every run needs)."""


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def needed_modules(pipelines: Iterable[Pipeline], *, mlflow: bool = False) -> list[str]:
    """The modules a local run of ``pipelines`` imports; ``mlflow``: the run starts its own MLflow server."""
    modules = {"airflow"} | ({"mlflow"} if mlflow else set())
    for pipeline in pipelines:
        for node in pipeline.nodes:
            modules.update(MODULES_OF_TYPE.get(node.type, ()))
    return sorted(modules, key=lambda name: (name != "airflow", name))


def missing_extras_message(modules: Iterable[str]) -> str | None:
    """What to install when some of ``modules`` are missing; None when all are there."""
    missing = [name for name in modules if not installed(name)]
    if not missing:
        return None
    extras = sorted({EXTRA_OF.get(name, "mlops") for name in missing})
    spec = ",".join(extras)
    if getattr(sys, "frozen", False):  # the packaged desktop app leaves them out to stay small
        return (
            f"local runs need {', '.join(missing)}, which the desktop app does not include (it designs, "
            "validates and exports without them). To run pipelines on this machine, choose File → Set up "
            "local runs (it installs them once, then restart dagsmith), or install dagsmith with "
            f"pip install 'dagsmith[{spec}]' and start it with 'dagsmith desktop' from that environment."
        )
    return (
        f"local runs need {', '.join(missing)}, which this installation of dagsmith leaves out "
        f"(designing and exporting do not need them). Install the {' and '.join(repr(e) for e in extras)} "
        f"extra{'s' if len(extras) > 1 else ''}: pip install 'dagsmith[{spec}]', then try again "
        "(restart the editor if it is open)."
    )
