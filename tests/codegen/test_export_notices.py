"""Warnings at export to Kubernetes: a pod-local artifact root and no service account mapped at all."""

from __future__ import annotations

from typing import Any

from dagsmith.codegen.export_notices import export_warnings
from dagsmith.nodes import Code, Pipeline, validate


def pipeline(**settings: Any) -> Pipeline:
    nodes = [
        {"id": "train", "type": "script", "params": {"script": "train.py"}},
        {"id": "report", "type": "script", "params": {"script": "report.py"}, "access": {"level": "public"}},
    ]
    return Pipeline.model_validate(
        {"settings": {"name": "Notices", "default_image": "img:1", **settings}, "nodes": nodes}
    )


def codes(document: Pipeline) -> list[Code]:
    return [issue.code for issue in export_warnings(document)]


def test_the_default_pod_local_root_warns_and_names_what_to_set() -> None:
    accounts = {"service_accounts": {"private": "runner", "public": "reader"}}
    (issue,) = export_warnings(pipeline(**accounts))
    assert issue.code is Code.ARTIFACT_STORE and issue.field == "settings.artifact_store.pvc"
    assert "'/tmp/dagsmith-artifacts' is a folder inside each pod" in issue.message
    assert "settings.artifact_store.pvc" in issue.message and "s3://bucket/prefix" in issue.message
    # validate() stays as it was: the warning belongs to the Kubernetes export only.
    assert all(item.code is not Code.ARTIFACT_STORE for item in validate(pipeline(**accounts)))


def test_a_shared_volume_or_an_object_store_is_no_pod_local_root() -> None:
    accounts = {"service_accounts": {"private": "runner", "public": "reader"}}
    assert codes(pipeline(artifact_store={"pvc": "ml-artifacts", "project_gid": 5000}, **accounts)) == []
    assert codes(pipeline(artifact_root="s3://ml-artifacts/dagsmith", **accounts)) == []


def test_no_service_account_at_all_warns_naming_the_settings_the_steps_use() -> None:
    shared = {"artifact_store": {"pvc": "ml-artifacts", "project_gid": 5000}}
    (issue,) = export_warnings(pipeline(**shared))
    assert issue.code is Code.NO_SERVICE_ACCOUNT and issue.field == "settings.service_accounts.private"
    assert "every pod runs as the 'default' service account of namespace 'default'" in issue.message
    assert "settings.service_accounts.private, settings.service_accounts.public" in issue.message
    grouped = pipeline(default_access={"level": "groups", "groups": ["analysts"]}, **shared)
    assert "settings.service_accounts.groups (analysts)" in export_warnings(grouped)[0].message
    assert all(item.code is not Code.NO_SERVICE_ACCOUNT for item in validate(pipeline(**shared)))
    assert codes(pipeline(service_accounts={"private": "runner", "public": "reader"}, **shared)) == []
