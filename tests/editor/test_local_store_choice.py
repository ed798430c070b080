"""Which artifact store a local run uses: the pipeline's own (as on Kubernetes) when this machine can reach
it, else the workspace folder with a notice in the run's log; ``DAGSMITH_LOCAL_STORE`` overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dagsmith.editor.runs import Workspace
from dagsmith.editor.runs.localize import LocalRunError, choose_artifact_root, localize
from dagsmith.editor.runs.workspace import Services
from dagsmith.nodes import PipelineSettings
from dagsmith.nodes.fileformat import load

ROOT = Path(__file__).resolve().parents[2]
KEYWORD = ROOT / "nodes" / "examples" / "workloads" / "keyword" / "pipeline.dagsmith.json"
KEYS = {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"}


def _settings(root: str, **store: object) -> PipelineSettings:
    settings = PipelineSettings(name="Keywords", default_image="registry.example.com/x:1", artifact_root=root)
    settings.artifact_store = settings.artifact_store.model_copy(update=store)
    return settings


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace.at(tmp_path / "workspace")


def test_a_reachable_store_is_the_default(workspace: Workspace, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    home = {"HOME": str(tmp_path)}
    assert choose_artifact_root(_settings(str(shared), pvc="ml-artifacts"), workspace, home) == (str(shared), None)
    local_s3 = _settings("s3://b/p", endpoint_url="http://127.0.0.1:9000", credentials_secret="s3")
    assert choose_artifact_root(local_s3, workspace, {**home, **KEYS}) == ("s3://b/p", None)
    aws = _settings("s3://b/p", workload_identity=True)
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\n")
    assert choose_artifact_root(aws, workspace, home) == ("s3://b/p", None)  # your own AWS identity
    gcs = _settings("gs://b/p", credentials_secret="gcs")
    assert choose_artifact_root(gcs, workspace, {**home, "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9023"})[1] is None


@pytest.mark.parametrize(
    ("case", "why"),
    [
        (("/mnt/nowhere-here", {"pvc": "ml-artifacts"}, {}), "claim 'ml-artifacts' mounted in every pod"),
        (("s3://b/p", {"endpoint_url": "http://minio.storage.svc:9000", "credentials_secret": "s"}, KEYS), "inside"),
        (("s3://b/p", {"endpoint_url": "http://127.0.0.1:9000", "credentials_secret": "s"}, {}), "AWS_ACCESS_KEY_ID"),
        (("s3://b/p", {"workload_identity": True}, {}), "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"),
        (("gs://b/p", {"credentials_secret": "g"}, {}), "GOOGLE_APPLICATION_CREDENTIALS"),
    ],
    ids=["cluster-claim", "cluster-endpoint", "no-keys", "no-identity", "gcs-no-key"],
)
def test_an_unreachable_store_falls_back_to_the_workspace_with_a_notice(
    workspace: Workspace, tmp_path: Path, case: tuple[str, dict[str, object], dict[str, str]], why: str
) -> None:
    root, store, environ = case
    settings = _settings(root, **store)
    chosen, notice = choose_artifact_root(settings, workspace, {"HOME": str(tmp_path), **environ})
    assert chosen == str(workspace.artifacts)
    assert notice is not None and root in notice and why in notice and str(workspace.artifacts) in notice
    with pytest.raises(LocalRunError, match="cannot reach the artifact store") as raised:
        choose_artifact_root(settings, workspace, {"HOME": str(tmp_path), "DAGSMITH_LOCAL_STORE": "pipeline"})
    assert "artifact_root" in str(raised.value)


def test_the_variable_overrides_and_a_bad_value_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    settings = _settings(str(shared))
    forced = {"DAGSMITH_LOCAL_STORE": "workspace"}
    assert choose_artifact_root(settings, workspace, forced) == (str(workspace.artifacts), None)
    with pytest.raises(LocalRunError, match="DAGSMITH_LOCAL_STORE='cluster' is not a choice"):
        choose_artifact_root(settings, workspace, {"DAGSMITH_LOCAL_STORE": "cluster"})


def test_localize_keeps_the_pipelines_store_and_reports_a_fallback(workspace: Workspace, tmp_path: Path) -> None:
    pipeline = load(KEYWORD)  # s3 at minio.storage.svc: only the cluster reaches it
    services = Services.from_env(workspace, {})
    local, setup = localize(pipeline, workspace, services, project_dir=KEYWORD.parent, environ={**KEYS})
    assert local.settings.artifact_root == str(workspace.artifacts)
    assert len(setup.notices) == 1 and "minio.storage.svc" in setup.notices[0]
    pipeline.settings.artifact_store.endpoint_url = "http://127.0.0.1:9000"
    local, setup = localize(pipeline, workspace, services, project_dir=KEYWORD.parent, environ={**KEYS})
    assert (local.settings.artifact_root, setup.notices) == ("s3://ml-artifacts/dagsmith", [])
    assert "notices" not in json.dumps(setup.to_dict())  # the worker's spec is unchanged
