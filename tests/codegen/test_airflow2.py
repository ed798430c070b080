"""The airflow2 target in a real Airflow 2 (its own virtual environment, .venv-airflow2)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from codegen_support import ROOT, sample_pipelines

from dagsmith.codegen import render

AIRFLOW2_PYTHON = ROOT / ".venv-airflow2" / "bin" / "python"

LOADER = """
import json, sys
from airflow.models.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
dags = {dag_id: sorted(dag.task_ids) for dag_id, dag in bag.dags.items()}
edges = {
    dag_id: sorted([up, task.task_id] for task in dag.tasks for up in task.upstream_task_ids)
    for dag_id, dag in bag.dags.items()
}
train = bag.dags["keyword_loop"].get_task("train").build_pod_request_obj(dry_run=True)
limits = train.spec.containers[0].resources.limits

# Render templated fields in the context Airflow 2 builds for a run (logical date 2026-01-02); building it
# asks the metadata database about earlier runs, so create its tables (empty) first.
import datetime
from airflow import settings
from airflow.models.base import Base
import airflow.providers.fab.auth_manager.models  # the users table some tables refer to
Base.metadata.create_all(settings.engine)
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.utils import timezone
from airflow.utils.types import DagRunType

class FakeTI:
    def xcom_pull(self, task_ids, **_):
        return {"run": {"run_id": "run-of-" + task_ids}}

class Variables:
    def get(self, key, default=""):
        return "<variable " + key + ">"

    def __getitem__(self, key):
        return "<variable " + key + ">"

class Connection:
    def __init__(self, conn_id):
        self.host = "<host of " + conn_id + ">"
        self.login = self.password = self.schema = self.extra = ""
        self.port = None

    def get_uri(self):
        return "<uri of " + self.host + ">"

class Connections:
    def __getitem__(self, conn_id):
        return Connection(conn_id)

rendered = {}
macros = {}
for task_id in ("train", "materialize", "build", "watch__retrain"):
    dag = bag.dags["keyword_loop"]
    task = dag.get_task(task_id)
    when = timezone.datetime(2026, 1, 2)
    run = DagRun(dag_id=dag.dag_id, run_id="manual__2026-01-02", execution_date=when, run_type=DagRunType.MANUAL,
                 data_interval=(when, when + datetime.timedelta(days=1)))
    ti = TaskInstance(task, run_id=run.run_id)
    ti.dag_run = run
    context = ti.get_template_context()
    context.update({"ti": FakeTI(), "task_instance": FakeTI(), "var": {"value": Variables()}, "conn": Connections()})
    env = dag.get_template_env()
    macros = {name: env.from_string("{{ " + name + " }}").render(**context)
              for name in ("ds", "ds_nodash", "ts", "ts_nodash", "logical_date", "data_interval_start",
                           "data_interval_end", "run_id")}
    task.render_template_fields(context, env)
    if task_id == "watch__retrain":
        rendered[task_id] = {"conf": task.conf}
    else:
        pod = task.build_pod_request_obj(dry_run=True)
        rendered[task_id] = {"args": pod.spec.containers[0].args,
                             "env": {var.name: var.value for var in pod.spec.containers[0].env}}
print("RESULT " + json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags,
      "edges": edges, "limits": limits, "selector": train.spec.node_selector, "rendered": rendered,
      "macros": macros}))
"""


def test_airflow2_output_loads_in_airflow2(tmp_path: Path) -> None:
    assert AIRFLOW2_PYTHON.exists(), (
        f"{AIRFLOW2_PYTHON} is missing: run `make test` (it builds .venv-airflow2 from requirements-airflow2.lock)"
    )
    samples = sample_pipelines()
    folder = tmp_path / "dags"
    folder.mkdir()
    for stem, pipeline in samples.items():
        (folder / f"{stem}.py").write_text(render(pipeline, target="airflow2"), encoding="utf-8")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"), "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [str(AIRFLOW2_PYTHON), "-c", LOADER, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-4000:]
    loaded = json.loads(lines[0].removeprefix("RESULT "))
    assert loaded["errors"] == {}
    assert set(loaded["dags"]) == {pipeline.dag_id for pipeline in samples.values()}
    assert "tune__trial" in loaded["dags"]["keyword_loop"]
    assert ["gate__passed", "build"] in loaded["edges"]["keyword_loop"]
    assert loaded["limits"] == {"memory": "32Gi", "nvidia.com/gpu": "2"}
    assert loaded["selector"] == {"pool": "gpu", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}

    # The date macros render to Airflow 2's own values (a run there always has a logical date).
    macros = loaded["macros"]
    assert macros == {
        "ds": "2026-01-02",
        "ds_nodash": "20260102",
        "ts": "2026-01-02T00:00:00+00:00",
        "ts_nodash": "20260102T000000",
        "logical_date": "2026-01-02 00:00:00+00:00",
        "data_interval_start": "2026-01-02 00:00:00+00:00",
        "data_interval_end": "2026-01-03 00:00:00+00:00",
        "run_id": "manual__2026-01-02",
    }
    rendered = loaded["rendered"]
    train = rendered["train"]
    assert train["args"] == ["--epochs", "10", "--date=2026-01-02", "--config=conf.json"]
    assert train["env"]["RUN_DATE"] == macros["ds"]
    assert train["env"]["DAGSMITH_LOGICAL_DATE"] == macros["ts"]
    assert train["env"]["DAGSMITH_RUN_ID"] == macros["run_id"]
    assert train["env"]["DAGSMITH_INPUT_TRAIN_DATA_URI"] == (
        "s3://ml-artifacts/keyword_loop/2026-01-02/manual__2026-01-02/features/features"
    )
    assert (
        train["env"]["DAGSMITH_INPUT_TRAIN_DATA"] == "/tmp/dagsmith-staging/manual__2026-01-02/train/inputs/train_data"
    )
    materialize = rendered["materialize"]["env"]
    assert (materialize["DAGSMITH_CONFIG_0"], materialize["DAGSMITH_CONFIG_1"]) == (
        macros["data_interval_end"],
        macros["data_interval_start"],
    )
    assert rendered["build"]["env"]["DAGSMITH_CONFIG_0"] == macros["ts_nodash"]
    assert rendered["watch__retrain"]["conf"] == {"reason": "ctr below 2026-01-02", "full": True}
