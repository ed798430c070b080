"""Artifact store rules (issue 10): store URI, credentials, safe templates, clashes, identities, previews."""

from __future__ import annotations

from typing import Any

import pytest
from factories import edge, node, pipeline

from dagsmith.nodes import Code, Issue, Severity, parse, validate
from dagsmith.nodes.locations import EXAMPLE_RUN, location, symbolic_location
from dagsmith.nodes.store import store_kind

S3 = {"artifact_root": "s3://ml-artifacts/team", "artifact_store": {"credentials_secret": "ml-s3"}}


def _found(issues: list[Issue]) -> list[tuple[Severity, Code, str | None, str | None]]:
    return [(i.severity, i.code, i.node, i.field) for i in issues]


@pytest.mark.parametrize(
    ("root", "kind"),
    [("/mnt/artifacts", "posix"), ("s3://b-1/x", "s3"), ("gs://b_1/x", "gcs"), ("hdfs://nn/x", "other")],
)
def test_store_kind_from_the_root(root: str, kind: str) -> None:
    assert store_kind(root) == kind


@pytest.mark.parametrize(
    ("root", "words"),
    [
        ("hdfs://namenode/ml", "not an artifact store dagsmith supports"),
        ("s3://ML_Bucket/x", "not an S3 bucket name"),
        ("s3://ab/x", "not an S3 bucket name"),
        ("s3://192.168.1.1/x", "not an S3 bucket name"),
        ("gs://goog-data/x", "goog"),
        ("s3://ml-artifacts/a//b", "not safe in object keys"),
        ("s3://ml-artifacts/a/../b", "not safe in object keys"),
        ("s3://ml-artifacts/run:1", "not safe in object keys"),
        ("/mnt/../etc", "not a clean absolute path"),
        ("/mnt//artifacts", "not a clean absolute path"),
    ],
)
def test_a_bad_store_uri_names_the_field(root: str, words: str) -> None:
    issues = [i for i in validate(pipeline(node("a"), **{**S3, "artifact_root": root})) if i.is_error]
    assert _found(issues) == [(Severity.ERROR, Code.ARTIFACT_STORE, None, "settings.artifact_root")]
    assert words in issues[0].message


@pytest.mark.parametrize("root", ["/mnt/artifacts", "s3://ml-artifacts/team", "gs://ml_artifacts/team/x=1"])
def test_good_store_uris_pass(root: str) -> None:
    assert validate(pipeline(node("a"), artifact_root=root, artifact_store={"credentials_secret": "creds"})) == []


@pytest.mark.parametrize("root", ["s3://ml-artifacts/x", "gs://ml-artifacts/x"])
def test_an_object_store_without_a_secret_reference_is_an_error(root: str) -> None:
    issues = validate(pipeline(node("a"), artifact_root=root))
    assert _found(issues) == [
        (Severity.ERROR, Code.MISSING_PARAMETER, None, "settings.artifact_store.credentials_secret")
    ]
    assert "workload_identity" in issues[0].message
    assert validate(pipeline(node("a"), artifact_root=root, artifact_store={"workload_identity": True})) == []


def test_an_endpoint_with_credentials_in_it_is_refused() -> None:
    store = {"credentials_secret": "ml-s3", "endpoint_url": "http://key:secret@minio:9000"}
    issues = validate(pipeline(node("a"), artifact_root="s3://ml-artifacts", artifact_store=store))
    assert _found(issues) == [(Severity.ERROR, Code.ARTIFACT_STORE, None, "settings.artifact_store.endpoint_url")]


def test_old_documents_with_a_plain_string_root_still_load() -> None:
    text = '{"format": "dagsmith.pipeline", "version": 2, "settings": {"artifact_root": "s3://old-bucket/ml"}}'
    loaded = parse(text)
    assert loaded.settings.artifact_root == "s3://old-bucket/ml"
    assert store_kind(loaded.settings.artifact_root) == "s3"
    assert loaded.settings.artifact_store.credentials_secret is None


@pytest.mark.parametrize(
    ("outputs", "field"),
    [
        ({"path": "{pipeline}/{rnu_id}"}, "outputs.output.path"),
        ({"naming": "{outptu}"}, "outputs.output.naming"),
    ],
)
def test_an_unknown_placeholder_names_node_and_field(outputs: dict[str, str], field: str) -> None:
    issues = validate(pipeline(node("a", outputs={"output": outputs})))
    assert [(i.code, i.node, i.field) for i in issues] == [(Code.INVALID_VALUE, "a", field)]
    assert "unknown placeholder" in issues[0].message and "Did you mean" in issues[0].message


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("models:{run_id}", "':'"),
        ("a+b/{output}", "'+'"),
        ("my model", "a space"),
        ("/abs/{output}", "absolute path"),
        ("a//{output}", "empty segment"),
        ("{output}/", "empty segment"),
    ],
)
def test_unsafe_template_text_is_refused(template: str, words: str) -> None:
    issues = validate(pipeline(node("a", outputs={"output": {"naming": template}})))
    assert [(i.code, i.node, i.field) for i in issues] == [(Code.INVALID_VALUE, "a", "outputs.output.naming")]
    assert words in issues[0].message
    settings_issues = validate(pipeline(node("a"), path_template=template))
    assert [(i.code, i.field) for i in settings_issues] == [(Code.INVALID_VALUE, "settings.path_template")]


def test_two_outputs_at_the_same_location_in_one_run_name_each_other() -> None:
    same = {"output": {"path": "{pipeline}/{run_id}", "naming": "model"}}
    issues = validate(pipeline(node("a", outputs=same), node("b", outputs=same), edges=[edge("a", "b")]))
    assert _found(issues) == [
        (Severity.ERROR, Code.ARTIFACT_CLASH, "a", "outputs.output.path"),
        (Severity.ERROR, Code.ARTIFACT_CLASH, "b", "outputs.output.path"),
    ]
    assert "'a'.output and 'b'.output" in issues[0].message
    assert "'b'.output and 'a'.output" in issues[1].message


def test_run_time_placeholders_are_compared_symbolically() -> None:
    """{ds} and {ds_nodash} are different run values: these differ in every run, so they do not clash."""
    first = {"output": {"path": "{pipeline}/{ds}", "naming": "model"}}
    second = {"output": {"path": "{pipeline}/{ds_nodash}", "naming": "model"}}
    p = pipeline(node("a", outputs=first), node("b", outputs=second), edges=[edge("a", "b")])
    assert validate(p) == []
    # ...while the same run placeholder in both clashes, whatever the run.
    third = {"output": {"path": "{pipeline}/{ds}", "naming": "model"}}
    p = pipeline(node("a", outputs=first), node("b", outputs=third), edges=[edge("a", "b")])
    assert {i.code for i in validate(p)} == {Code.ARTIFACT_CLASH}


def test_the_default_templates_never_clash() -> None:
    p = pipeline(node("a"), node("b"), node("c"), edges=[edge("a", "b"), edge("b", "c")])
    assert validate(p) == []


POSIX: dict[str, Any] = {
    "artifact_root": "/mnt/artifacts",
    "artifact_store": {"pvc": "ml-artifacts", "project_gid": 5000, "group_gids": {"analysts": 5001}},
}


def test_a_posix_group_without_a_gid_is_an_error_naming_node_and_field() -> None:
    access = {"level": "groups", "groups": ["analysts", "finance"]}
    issues = validate(pipeline(node("a", outputs={"output": {"access": access}}), **POSIX))
    assert _found(issues) == [(Severity.ERROR, Code.NO_GROUP_ID, "a", "outputs.output.access.groups")]
    assert "'finance'" in issues[0].message and "group_gids" in issues[0].message
    mapped = {"level": "groups", "groups": ["analysts"]}
    assert validate(pipeline(node("a", outputs={"output": {"access": mapped}}), **POSIX)) == []


def test_a_shared_posix_store_needs_the_project_gid() -> None:
    issues = validate(pipeline(node("a"), artifact_root="/mnt/artifacts", artifact_store={"pvc": "ml-artifacts"}))
    assert _found(issues) == [(Severity.ERROR, Code.NO_GROUP_ID, None, "settings.artifact_store.project_gid")]


def test_an_object_store_group_without_a_service_account_is_an_error() -> None:
    access = {"level": "groups", "groups": ["finance"]}
    issues = validate(pipeline(node("a", outputs={"output": {"access": access}}), **S3))
    assert _found(issues) == [(Severity.ERROR, Code.NO_SERVICE_ACCOUNT, "a", "outputs.output.access.groups")]


def test_a_reader_that_may_not_read_the_artifact_names_both_nodes() -> None:
    private = {"output": {"access": {"level": "private"}}}
    p = pipeline(node("a", outputs=private), node("b", access={"level": "public"}), edges=[edge("a", "b")])
    issues = [i for i in validate(p) if i.code is Code.ACCESS_DENIED]
    assert [(i.node, i.field) for i in issues] == [("b", "access")]
    assert "'b'" in issues[0].message and "'a'.output" in issues[0].message


def test_preview_location_fills_the_templates_with_example_run_values() -> None:
    subject = node("Train Step", outputs={"output": {"path": "{pipeline}/{logical_date}", "naming": "{output}-{ds}"}})
    p = pipeline(subject, name="My Pipe", **S3)
    assert (
        location(p, subject, "output") == "s3://ml-artifacts/team/my_pipe/2026-01-02T03_04_05_00_00/output-2026-01-02"
    )
    assert location(p, subject, "output", run={**EXAMPLE_RUN, "ds": "2026-02-03"}).endswith("output-2026-02-03")
    assert "\x00logical_date\x00" in symbolic_location(p, subject, "output")
