"""``dagsmith artifacts policy``: the S3 bucket policy, the GCS bindings and the POSIX setup (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dagsmith.editor.cli import run
from dagsmith.nodes import Pipeline, load_example, save


def _file(tmp_path: Path, **settings: Any) -> Path:
    data = load_example("user_targeting").model_dump(mode="json")
    data["settings"].update(settings)
    path = tmp_path / "p.dagsmith.json"
    save(Pipeline.model_validate(data), path)
    return path


def test_s3_policy_grants_writes_on_own_outputs_and_reads_by_tag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path)
    assert run(["artifacts", "policy", str(path), "--principal", "arn:aws:iam::123:role/{service_account}"]) == 0
    policy = json.loads(capsys.readouterr().out)
    statements = {s["Sid"]: s for s in policy["Statement"]}
    writes = [s for s in policy["Statement"] if "s3:PutObject" in s["Action"]]
    # user_targeting's steps run with groups marketing and ml: their writers are the groups' accounts.
    assert writes and all(r.startswith("arn:aws:s3:::ml-artifacts/dagsmith/") for s in writes for r in s["Resource"])
    targeting = [s for s in writes if any("targeting/*/target-users-*" in r for r in s["Resource"])]
    assert targeting, "the predictions output's own key pattern is granted to its writer"
    group = statements["ReadGroupMarketing"]
    assert group["Principal"] == {"AWS": "arn:aws:iam::123:role/marketing-runner"}
    assert group["Condition"]["StringEquals"] == {"s3:ExistingObjectTag/dagsmith-access": "groups"}
    assert "marketing" in group["Condition"]["StringLike"]["s3:ExistingObjectTag/dagsmith-groups"]
    private = statements["ReadPrivate"]
    assert private["Condition"]["StringEquals"] == {"s3:ExistingObjectTag/dagsmith-project": "user_targeting"}
    assert "ml-public" not in json.dumps(private)


def test_gcs_bindings_have_prefix_conditions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, artifact_root="gs://ml-artifacts/dagsmith")
    assert run(["artifacts", "policy", str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bucket"] == "ml-artifacts"
    viewers = [b for b in result["bindings"] if b["role"] == "roles/storage.objectViewer"]
    assert viewers and all(
        b["condition"]["expression"].startswith(
            'resource.name.startsWith("projects/_/buckets/ml-artifacts/objects/dagsmith/'
        )
        for b in viewers
    )
    assert any("serviceAccount:marketing-runner" in b["members"] for b in viewers)


def test_posix_setup_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = {"pvc": "ml-artifacts", "project_gid": 5000, "group_gids": {"marketing": 5001, "ml": 5002}}
    path = _file(tmp_path, artifact_root="/mnt/artifacts", artifact_store=store)
    assert run(["artifacts", "policy", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "chown root:5000 /mnt/artifacts" in lines
    assert "chmod 2771 /mnt/artifacts" in lines
    assert any(line.startswith("getent group 5001 >/dev/null || groupadd -g 5001 marketing") for line in lines)
    assert any(line.startswith("setfacl -m g:5000:rwx -d -m g:5000:rwx /mnt/artifacts") for line in lines)


def test_an_unmapped_group_stops_the_policy_with_node_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = {"pvc": "ml-artifacts", "project_gid": 5000, "group_gids": {"marketing": 5001}}
    path = _file(tmp_path, artifact_root="/mnt/artifacts", artifact_store=store)
    assert run(["artifacts", "policy", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "field 'settings.default_access.groups'" in captured.err and "'ml'" in captured.err
