"""A local run's workspace: where its Airflow, MLflow, Feast, BentoML and run history live.

One folder holds everything a local run needs (``Workspace`` names the paths). By default the services
are embedded: Airflow on SQLite, MLflow tracking and registry on SQLite with artifacts beside it, a Feast
repository per feature repo with a file offline store and a SQLite online store, and a BentoML home.
Environment variables point the same run at real services instead (``Services.from_env``).
Pipelines that watch or trigger each other (a monitor and the pipeline it retrains) share a workspace.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ENV_WORKSPACE = "DAGSMITH_WORKSPACE"
"""A workspace folder for every pipeline (else ``<DAGSMITH_HOME>/workspace/<dag_id>``)."""
ENV_FEAST_REPO = "DAGSMITH_FEAST_REPO"
"""A Feast repository (its feature_store.yaml names real stores) used instead of the embedded one."""
MLFLOW_VARIABLE_ENV = "AIRFLOW_VAR_DAGSMITH_MLFLOW_TRACKING_URI"
MLFLOW_ARTIFACT_ROOT_ENV = "_MLFLOW_SERVER_ARTIFACT_ROOT"
"""MLflow's default artifact root for experiments created through a database URI (see ``worker_environment``)."""
"""How the generated DAG's ``dagsmith_mlflow_tracking_uri`` Airflow Variable gets its value here."""


def default_workspace(dag_id: str) -> Path:
    """``$DAGSMITH_WORKSPACE`` if set, else ``<DAGSMITH_HOME>/workspace/<dag_id>``."""
    configured = os.environ.get(ENV_WORKSPACE)
    if configured:
        return Path(configured).expanduser().resolve()
    from ..store.engine import dagsmith_home

    return (dagsmith_home() / "workspace" / dag_id).resolve()


@dataclass(frozen=True, slots=True)
class Workspace:
    """The folders and files of one workspace (nothing is created until ``create``)."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> Workspace:
        """The workspace in ``root`` (made absolute)."""
        return cls(Path(root).expanduser().resolve())

    @property
    def airflow_home(self) -> Path:
        """``AIRFLOW_HOME``: airflow.cfg, the SQLite metadata database and the dags folder."""
        return self.root / "airflow"

    @property
    def dags(self) -> Path:
        """The DAG files of every pipeline run here (a trigger finds its target DAG here)."""
        return self.airflow_home / "dags"

    @property
    def airflow_db(self) -> Path:
        """Airflow's metadata database."""
        return self.airflow_home / "airflow.db"

    @property
    def mlflow(self) -> Path:
        """The embedded MLflow: ``mlflow.db`` (tracking and registry) and ``artifacts/``."""
        return self.root / "mlflow"

    @property
    def mlflow_uri(self) -> str:
        """The embedded MLflow tracking URI."""
        return f"sqlite:///{self.mlflow / 'mlflow.db'}"

    @property
    def artifacts(self) -> Path:
        """The pipelines' artifact root for local runs."""
        return self.root / "artifacts"

    @property
    def feast(self) -> Path:
        """Embedded Feast repositories, one folder per feature repo."""
        return self.root / "feast"

    @property
    def bentoml_home(self) -> Path:
        """The embedded ``BENTOML_HOME`` (models and Bentos)."""
        return self.root / "bentoml"

    @property
    def serving(self) -> Path:
        """Records and logs of the BentoML servers local deploy steps started."""
        return self.root / "serving"

    @property
    def runs(self) -> Path:
        """Run history: ``runs/<dag_id>/<run id>/`` with run.json, events.jsonl and the task logs."""
        return self.root / "runs"

    @property
    def pipelines(self) -> Path:
        """The pipeline documents run here, by dag_id (what each DAG file was made from)."""
        return self.root / "pipelines"

    def create(self) -> None:
        """Create the folders."""
        for folder in (self.dags, self.mlflow, self.artifacts, self.feast, self.serving, self.runs, self.pipelines):
            folder.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True, slots=True)
class Services:
    """Which MLflow, Feast and BentoML a run uses: embedded in the workspace, or real ones from the env."""

    tracking_uri: str
    embedded_mlflow: bool
    feast_repo: str | None  # None: embedded repositories made from the pipeline's feature repos
    bentoml_home: str

    @classmethod
    def from_env(cls, workspace: Workspace, environ: Mapping[str, str] | None = None) -> Services:
        """``MLFLOW_TRACKING_URI``, ``DAGSMITH_FEAST_REPO`` and ``BENTOML_HOME`` win over the embedded ones.

        ``MLFLOW_TRACKING_URI`` set to the workspace's own database still counts as embedded.
        """
        env = os.environ if environ is None else environ
        uri = env.get("MLFLOW_TRACKING_URI") or ""
        return cls(
            tracking_uri=uri or workspace.mlflow_uri,
            embedded_mlflow=uri in ("", workspace.mlflow_uri),
            feast_repo=env.get(ENV_FEAST_REPO) or None,
            bentoml_home=env.get("BENTOML_HOME") or str(workspace.bentoml_home),
        )

    def describe(self) -> dict[str, str]:
        """A short description of each service for the run record and the CLI (no password in it)."""
        return {
            "mlflow": redact(self.tracking_uri) + ("" if not self.embedded_mlflow else " (embedded)"),
            "feast": self.feast_repo or "embedded (per feature repo, in the workspace)",
            "bentoml": self.bentoml_home,
        }


def redact(uri: str) -> str:
    """``uri`` without the password it may carry (``https://user:***@host``)."""
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def worker_environment(
    workspace: Workspace, services: Services, *, project_dir: Path, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of the process that runs Airflow; every step inherits it."""
    env = dict(os.environ if base is None else base)
    python_bin = str(Path(sys.executable).parent)
    env.update(
        {
            "AIRFLOW_HOME": str(workspace.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(workspace.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAG_RUN_CONF_OVERRIDES_PARAMS": "True",
            # Several steps may write at once (mapped trials): wait for SQLite's lock instead of failing.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{workspace.airflow_db}?timeout=60",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": env.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO"),
            MLFLOW_VARIABLE_ENV: services.tracking_uri,
            # A registry URI in the pipeline settings names the cluster's registry: register here instead.
            "AIRFLOW_VAR_DAGSMITH_MLFLOW_REGISTRY_URI": services.tracking_uri,
            "MLFLOW_TRACKING_URI": services.tracking_uri,
            "BENTOML_HOME": services.bentoml_home,
            "BENTOML_DO_NOT_TRACK": env.get("BENTOML_DO_NOT_TRACK", "true"),
            "FEAST_USAGE": env.get("FEAST_USAGE", "False"),
            "DAGSMITH_WORKSPACE": str(workspace.root),
            "DAGSMITH_PROJECT_DIR": str(project_dir),
            "DAGSMITH_PYTHON": sys.executable,
            "DAGSMITH_SERVING_DIR": str(workspace.serving),
            "PATH": python_bin + os.pathsep + env.get("PATH", ""),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if services.feast_repo:
        env[ENV_FEAST_REPO] = services.feast_repo
    if services.embedded_mlflow:
        # The artifact root an MLflow server hands its clients; here it makes every experiment a step
        # creates (set_experiment, the search's experiment) keep its artifacts in the workspace, not ./mlruns.
        env[MLFLOW_ARTIFACT_ROOT_ENV] = str(workspace.mlflow / "artifacts")
    return env
