"""Value checks (checks.py), pydantic errors as issues (errors.py) and the Issue type (issues.py)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from dagsmith.nodes import (
    PLACEHOLDERS,
    SCHEDULE_PRESETS,
    Code,
    Edge,
    Issue,
    PipelineSettings,
    Resources,
    Severity,
    has_errors,
)
from dagsmith.nodes.checks import (
    CHECKED,
    Bounds,
    check_dns_label,
    check_dns_subdomain,
    check_env_name,
    check_identifier,
    check_image,
    check_label_key,
    check_label_value,
    check_quantity,
    check_schedule,
    check_template,
    check_uri,
    closest,
    dag_id_problem,
    did_you_mean,
    parse_quantity,
    template_fields,
)
from dagsmith.nodes.errors import model_issues
from dagsmith.nodes.types import BentoDeploy, Script

DIGEST = "sha256:" + "0123456789abcdef" * 4


def _rejects(check: Callable[[str], str], value: str, match: str) -> None:
    with pytest.raises(PydanticCustomError, match=match):
        check(value)


# -- Kubernetes quantities ----------------------------------------------------------------------
@pytest.mark.parametrize("value", ["500m", "2", "16Gi", "0", "0.5", ".5", "+1", "1e3", "1E", "512Mi", "100k", "1Ei"])
def test_quantity_accepts_kubernetes_quantities(value: str) -> None:
    assert check_quantity(value) == value


@pytest.mark.parametrize("value", ["2x", "", "1K", " 2", "2 ", "1_000", "Infinity", "NaN", "Gi", "1.2.3", "ki"])
def test_quantity_rejects_what_is_not_a_quantity(value: str) -> None:
    _rejects(check_quantity, value, "is not a Kubernetes quantity; write a number with an optional unit")


@pytest.mark.parametrize("value", ["-1", "-500m"])
def test_quantity_rejects_negative_amounts(value: str) -> None:
    _rejects(check_quantity, value, "is negative; quantities must be zero or more")


@pytest.mark.parametrize(("value", "amount"), [("500m", Decimal("0.5")), ("16Gi", Decimal(16 * 2**30)), ("2k", 2000)])
def test_parse_quantity_uses_the_kubernetes_parser(value: str, amount: Decimal) -> None:
    assert parse_quantity(value) == amount


def test_parse_quantity_raises_value_error_for_garbage() -> None:
    with pytest.raises(ValueError, match="2x"):
        parse_quantity("2x")


# -- schedules ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["0 3 * * *", "*/15 * * * 1-5", "0 0 1 1 *", *SCHEDULE_PRESETS])
def test_schedule_accepts_cron_and_presets(value: str) -> None:
    assert check_schedule(value) == value


@pytest.mark.parametrize("value", ["61 * * * *", "0 3 * * 8", "* * * * * *", "0 3 * *", "", "daily"])
def test_schedule_rejects_bad_cron(value: str) -> None:
    _rejects(check_schedule, value, r"is not a valid cron expression; write five fields")


def test_schedule_suggests_the_closest_preset() -> None:
    _rejects(check_schedule, "@dialy", r"'@dialy' is not a schedule preset; .* Did you mean '@daily'")


def test_schedule_unknown_preset_without_close_match_has_no_suggestion() -> None:
    with pytest.raises(PydanticCustomError) as exc:
        check_schedule("@zzzzzzzz")
    assert "Did you mean" not in str(exc.value)


# -- images, environment variables, Kubernetes names and labels ---------------------------------
@pytest.mark.parametrize(
    "value",
    ["python:3.11", "ghcr.io/a/b:1", f"localhost:5000/x@{DIGEST}", "busybox", "registry.example.com/team/trainer:1.4"],
)
def test_image_accepts_references(value: str) -> None:
    assert check_image(value) == value


@pytest.mark.parametrize("value", ["Upper/Case", "a b", "x:", "", "x@sha256:abc", "a/" + "b" * 511])
def test_image_rejects_bad_references(value: str) -> None:
    _rejects(check_image, value, "is not a container image reference")


@pytest.mark.parametrize("value", ["BATCH_SIZE", "_X", "x1", "DAGSMITHX"])
def test_env_name_accepts_names(value: str) -> None:
    assert check_env_name(value) == value


@pytest.mark.parametrize("value", ["1X", "A-B", "", "A B"])
def test_env_name_rejects_invalid_names(value: str) -> None:
    _rejects(check_env_name, value, "is not a valid environment variable name")


@pytest.mark.parametrize("value", ["DAGSMITH_X", "dagsmith_path"])
def test_env_name_rejects_the_reserved_prefix(value: str) -> None:
    _rejects(check_env_name, value, "starts with 'DAGSMITH_', which dagsmith reserves")


@pytest.mark.parametrize("value", ["ml-data", "a.b-c", "x", "a" * 253])
def test_k8s_name_accepts_dns_subdomains(value: str) -> None:
    assert check_dns_subdomain(value) == value


@pytest.mark.parametrize("value", ["Bad_Name", "UPPER", "-a", "a-", "", "a..b", "a" * 254])
def test_k8s_name_rejects_invalid_names(value: str) -> None:
    _rejects(check_dns_subdomain, value, "is not a valid Kubernetes name")


@pytest.mark.parametrize(("value", "ok"), [("keyword-api", True), ("a" * 63, True), ("a.b", False), ("a" * 64, False)])
def test_dns_label(value: str, ok: bool) -> None:
    if ok:
        assert check_dns_label(value) == value
    else:
        _rejects(check_dns_label, value, "is not a valid Kubernetes resource name")


@pytest.mark.parametrize("value", ["app", "example.com/app", "app.kubernetes.io/name", "A_b.c-d", "x/" + "a" * 63])
def test_label_key_accepts_keys(value: str) -> None:
    assert check_label_key(value) == value


@pytest.mark.parametrize("value", ["", "/x", "a/b/c", "Bad Key", "Ex.com/x", "-x", "a" * 64, "example.com/"])
def test_label_key_rejects_bad_keys(value: str) -> None:
    _rejects(check_label_key, value, "is not a valid Kubernetes label key")


@pytest.mark.parametrize(("value", "ok"), [("", True), ("v1.2_a-b", True), ("bad value!", False), ("-x", False)])
def test_label_value(value: str, ok: bool) -> None:
    if ok:
        assert check_label_value(value) == value
    else:
        _rejects(check_label_value, value, "is not a valid Kubernetes label value")


def test_label_value_length_limit() -> None:
    assert check_label_value("a" * 63) == "a" * 63
    _rejects(check_label_value, "a" * 64, "at most 63")


# -- templates, artifact roots, identifiers -----------------------------------------------------
@pytest.mark.parametrize("value", ["{pipeline}/{run_id}/{node}", "{output}-{ds_nodash}", "plain/path", "{{literal}}"])
def test_template_accepts_known_placeholders(value: str) -> None:
    assert check_template(value) == value


@pytest.mark.parametrize("name", PLACEHOLDERS)
def test_template_accepts_every_placeholder(name: str) -> None:
    assert check_template("{" + name + "}") == "{" + name + "}"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("{pipelne}/x", r"unknown placeholder 'pipelne'; .* Did you mean 'pipeline'\?"),
        ("{}", "unknown placeholder ''"),
        ("{a", r"unmatched '\{' or '\}'"),
        ("a}", r"unmatched '\{' or '\}'"),
        ("../x", r"contains '\.\.'"),
        ("{pipeline}/../x", r"contains '\.\.'"),
        ("a\\..\\b", r"contains '\.\.'"),
        ("{run_id!r}", "has a format specification"),
        ("{run_id:>3}", "has a format specification"),
    ],
)
def test_template_rejects(value: str, match: str) -> None:
    _rejects(check_template, value, match)


def test_template_fields_lists_placeholders() -> None:
    assert template_fields("{pipeline}/{run_id}-x{{y}}") == ["pipeline", "run_id"]
    with pytest.raises(ValueError, match="expected '}'"):
        template_fields("{a")


@pytest.mark.parametrize(
    ("value", "ok"), [("/data", True), ("s3://bucket/ml", True), ("gs://b/p", True), ("rel", False)]
)
def test_artifact_root(value: str, ok: bool) -> None:
    if ok:
        assert check_uri(value) == value
    else:
        _rejects(check_uri, value, "is not an artifact root")


@pytest.mark.parametrize("value", ["http://x/y", "s3://", "s3://a b"])
def test_artifact_root_rejects_other_uris(value: str) -> None:
    _rejects(check_uri, value, "is not an artifact root")


@pytest.mark.parametrize(("value", "ok"), [("learning_rate", True), ("_x", True), ("1x", False), ("class", False)])
def test_identifier(value: str, ok: bool) -> None:
    if ok:
        assert check_identifier(value) == value
    else:
        _rejects(check_identifier, value, "is not a valid parameter name")


@pytest.mark.parametrize("value", ["a-b", "", "é"])
def test_identifier_rejects_non_ascii_and_symbols(value: str) -> None:
    _rejects(check_identifier, value, "is not a valid parameter name")


def test_closest_and_did_you_mean() -> None:
    assert closest("scirpt", ["script", "notebook"]) == ["script"]
    assert closest("zzz", ["script"]) == []
    assert did_you_mean("scirpt", ["script"]) == " Did you mean 'script'?"
    assert did_you_mean("zzz", ["script"]) == ""


# -- checks run only with the CHECKED context; numeric bounds likewise ---------------------------
def test_value_checks_are_off_without_the_checked_context() -> None:
    assert Resources.model_validate({"cpu_request": "2x"}).cpu_request == "2x"
    with pytest.raises(ValidationError, match="is not a Kubernetes quantity"):
        Resources.model_validate({"cpu_request": "2x"}, context=CHECKED)


@pytest.mark.parametrize(
    ("bounds", "value", "match"),
    [
        (Bounds(ge=0, le=100), -1, "below the minimum 0"),
        (Bounds(ge=0, le=100), 101, "above the maximum 100"),
        (Bounds(gt=0), 0, "enter a number above 0"),
    ],
)
def test_bounds_reject_out_of_range_numbers(bounds: Bounds, value: float, match: str) -> None:
    with pytest.raises(PydanticCustomError, match=match):
        bounds.check(value)


def test_bounds_accept_the_edges_of_the_range() -> None:
    assert Bounds(ge=0, le=100).check(0) == 0
    assert Bounds(ge=0, le=100).check(100) == 100
    assert Bounds(gt=0).check(None) is None


def test_bounds_apply_only_when_checked() -> None:
    assert PipelineSettings.model_validate({"retries": 101}).retries == 101
    with pytest.raises(ValidationError, match="above the maximum 100"):
        PipelineSettings.model_validate({"retries": 101}, context=CHECKED)


# -- errors.py: pydantic errors as issues ---------------------------------------------------------
def test_model_issues_returns_the_instance_when_valid() -> None:
    instance, issues = model_issues(Script, {"script": "train.py"}, node="n")
    assert isinstance(instance, Script)
    assert issues == []


def test_missing_field_names_its_description() -> None:
    instance, issues = model_issues(BentoDeploy, {}, node="d")
    assert instance is None
    assert issues == [
        Issue(
            Severity.ERROR,
            Code.MISSING_PARAMETER,
            "Deployment and Service name (deployment_name) is required; fill it in",
            node="d",
            field="deployment_name",
        )
    ]


def test_missing_nested_field_names_its_description() -> None:
    _, issues = model_issues(Script, {"script": "x", "pod": {"secrets": [{"env_var": "T", "secret_name": "s"}]}})
    assert [(i.code, i.field, i.message) for i in issues] == [
        (Code.MISSING_PARAMETER, "pod.secrets.0.key", "Key inside the secret (key) is required; fill it in")
    ]


@pytest.mark.parametrize(
    ("params", "field", "suggestions", "match"),
    [
        ({"script": "x", "argumets": []}, "argumets", ("arguments",), "did you mean 'arguments'"),
        ({"script": "x", "pod": {"resources": {"cpu_requst": "1"}}}, "pod.resources.cpu_requst", ("cpu_request",), ""),
        ({"script": "x", "pod": {"env": [{"nme": "X", "name": "X"}]}}, "pod.env.0.nme", ("name",), "did you mean"),
        ({"script": "x", "zzzzzz": 1}, "zzzzzz", (), "is not a field here; remove it"),
    ],
)
def test_unknown_fields_suggest_the_closest_known_field(
    params: dict[str, Any], field: str, suggestions: tuple[str, ...], match: str
) -> None:
    _, issues = model_issues(Script, params, node="n", prefix="")
    issue = issues[0]
    assert (issue.severity, issue.code, issue.node, issue.field, issue.suggestions) == (
        Severity.ERROR,
        Code.UNKNOWN_PARAMETER,
        "n",
        field,
        suggestions,
    )
    assert match in issue.message


def test_type_errors_get_a_hint_and_the_input() -> None:
    _, issues = model_issues(Script, {"script": "x", "pod": {"retries": "abc"}})
    assert issues[0].code is Code.INVALID_VALUE
    assert issues[0].field == "pod.retries"
    assert issues[0].message == "'abc' is not a whole number; enter a whole number such as 3"


def test_pattern_mismatch_quotes_the_input() -> None:
    _, issues = model_issues(Script, {"script": "x", "pod": {"volumes": [{"pvc": "data", "mount_path": "rel"}]}})
    assert issues[0].field == "pod.volumes.0.mount_path"
    assert issues[0].message.startswith("'rel' does not have the expected form")


def test_prefix_is_prepended_to_the_field() -> None:
    _, issues = model_issues(Resources, {"cpu_limit": "2x"}, prefix="settings.default_resources")
    assert [(i.code, i.field) for i in issues] == [(Code.INVALID_VALUE, "settings.default_resources.cpu_limit")]


def test_missing_field_without_description_is_quoted() -> None:
    _, issues = model_issues(Edge, {"id": "e", "source_port": "o", "target": "b", "target_port": "i"})
    assert [(i.code, i.field, i.message) for i in issues] == [
        (Code.MISSING_PARAMETER, "source", "'source' is required; fill it in")
    ]


# -- issues.py ------------------------------------------------------------------------------------
def test_issue_to_dict_and_location() -> None:
    issue = Issue(Severity.ERROR, Code.UNKNOWN_PORT, "m", node="a", edge="e1", field="f", suggestions=("x",))
    assert issue.to_dict() == {
        "severity": "error",
        "code": "unknown-port",
        "message": "m",
        "node": "a",
        "edge": "e1",
        "field": "f",
        "suggestions": ["x"],
    }
    assert issue.location() == "node 'a' edge 'e1' field 'f'"
    assert Issue(Severity.WARNING, Code.EMPTY_PIPELINE, "m").location() == "pipeline"


def test_has_errors_ignores_warnings() -> None:
    warning = Issue(Severity.WARNING, Code.ISOLATED_NODE, "w", node="a")
    error = Issue(Severity.ERROR, Code.CYCLE, "e", node="a")
    assert not warning.is_error
    assert error.is_error
    assert not has_errors([warning])
    assert has_errors([warning, error])
    assert not has_errors([])


# -- dag_id: one rule for validation and the exporter ---------------------------------------------
BAD_DAG_IDS = ["", ".", "..", ".hidden", "../x", "a/b", "a\\b", "bad id", "日本", "x" * 251, "a\x00b"]
GOOD_DAG_IDS = ["a", "my_dag", "x.y-z", "A1", "_private", "x" * 250, "v1..2"]


@pytest.mark.parametrize("dag_id", BAD_DAG_IDS)
def test_dag_id_problem_refuses_what_cannot_name_a_file_or_a_dag(dag_id: str) -> None:
    problem = dag_id_problem(dag_id)
    assert problem is not None
    assert problem.startswith(f"the dag_id {dag_id!r} cannot name a file")


@pytest.mark.parametrize("dag_id", GOOD_DAG_IDS)
def test_dag_id_problem_accepts_airflow_dag_ids(dag_id: str) -> None:
    assert dag_id_problem(dag_id) is None
