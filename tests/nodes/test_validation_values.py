"""validate() on entered values: each value check reported at its field, resources, run-time parameters."""

from __future__ import annotations

from typing import Any

import pytest
from factories import node, pipeline, valid_pipeline

from dagsmith.nodes import Code, Comment, Issue, RuntimeParam, Severity, validate

DIGEST = "sha256:" + "ab" * 32


def _node_issues(pod: dict[str, Any] | None = None, **fields: Any) -> list[tuple[Code, str | None, str | None]]:
    params = {"script": "x.py", **({"pod": pod} if pod is not None else {})}
    return [(i.code, i.node, i.field) for i in validate(pipeline(node("a", params=params, **fields)))]


def _settings_issues(**settings: Any) -> list[Issue]:
    return validate(pipeline(node("a"), **settings))


# -- node pod values: (pod settings, field of the one error) --------------------------------------
BAD_POD = [
    ({"resources": {"cpu_request": "2x"}}, "pod.resources.cpu_request"),
    ({"resources": {"memory_limit": "-1"}}, "pod.resources.memory_limit"),
    ({"resources": {"cpu_limit": ""}}, "pod.resources.cpu_limit"),
    ({"shm_size": "8 Gi"}, "pod.shm_size"),
    ({"image": "Upper/Case"}, "pod.image"),
    ({"image": "a b"}, "pod.image"),
    ({"image": "x:"}, "pod.image"),
    ({"env": [{"name": "1X", "value": "1"}]}, "pod.env.0.name"),
    ({"env": [{"name": "OK"}, {"name": "A-B"}]}, "pod.env.1.name"),
    ({"env": [{"name": "DAGSMITH_X"}]}, "pod.env.0.name"),
    ({"secrets": [{"env_var": "TOKEN", "secret_name": "Bad_Name", "key": "k"}]}, "pod.secrets.0.secret_name"),
    ({"secrets": [{"env_var": "DAGSMITH_T", "secret_name": "s", "key": "k"}]}, "pod.secrets.0.env_var"),
    ({"volumes": [{"pvc": "Bad_Name", "mount_path": "/data"}]}, "pod.volumes.0.pvc"),
    ({"labels": {"Bad Key": "v"}}, "pod.labels.Bad Key.[key]"),
    ({"labels": {"team": "bad value!"}}, "pod.labels.team"),
    ({"node_selector": {"/gpu": "a100"}}, "pod.node_selector./gpu.[key]"),
    ({"annotations": {"Bad Key": "anything"}}, "pod.annotations.Bad Key.[key]"),
    ({"resources": {"gpu": 65, "gpu_resource": "nvidia.com/gpu"}}, "pod.resources.gpu"),
    ({"resources": {"gpu": 1, "gpu_resource": "nvidia gpu"}}, "pod.resources.gpu_resource"),
]


@pytest.mark.parametrize(("pod", "field"), BAD_POD)
def test_bad_pod_value_is_reported_at_its_field(pod: dict[str, Any], field: str) -> None:
    assert _node_issues(pod) == [(Code.INVALID_VALUE, "a", field)]


def test_bad_pod_value_message_says_what_to_do() -> None:
    issue = validate(pipeline(node("a", params={"script": "x.py", "pod": {"resources": {"cpu_request": "2x"}}})))[0]
    assert issue.severity is Severity.ERROR
    assert issue.message.startswith("'2x' is not a Kubernetes quantity; write a number with an optional unit")


GOOD_POD = {
    "image": f"localhost:5000/team/x@{DIGEST}",
    "resources": {
        "cpu_request": "500m",
        "cpu_limit": "2",
        "memory_request": "2Gi",
        "memory_limit": "16Gi",
        "gpu": 1,  # the GPU node selector below is only for pods that request GPUs
        "gpu_resource": "nvidia.com/gpu",
    },
    "env": [{"name": "BATCH_SIZE", "value": "32"}],
    "secrets": [{"env_var": "TOKEN", "secret_name": "mlflow-credentials", "key": "token"}],
    "volumes": [{"pvc": "training-data", "mount_path": "/data", "read_only": True}],
    "labels": {"app.kubernetes.io/name": "train", "team": ""},
    "node_selector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
    "annotations": {"example.com/note": "any text, even spaces!"},
    "shm_size": "8Gi",
    "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
}


def test_good_pod_values_pass() -> None:
    assert _node_issues(GOOD_POD) == []


# -- output storage settings and access -----------------------------------------------------------
@pytest.mark.parametrize(
    ("output", "field", "match"),
    [
        ({"path": "{pipelne}/x"}, "outputs.output.path", "Did you mean 'pipeline'?"),
        ({"path": "{run_id"}, "outputs.output.path", "unmatched"),
        ({"naming": "../{output}"}, "outputs.output.naming", "contains '..'"),
        ({"access": {"level": "groups", "groups": ["Bad Group"]}}, "outputs.output.access.groups.0", "label value"),
    ],
)
def test_bad_output_settings(output: dict[str, Any], field: str, match: str) -> None:
    issues = validate(pipeline(node("a", outputs={"output": output})))
    assert [(i.code, i.node, i.field) for i in issues] == [(Code.INVALID_VALUE, "a", field)]
    assert match in issues[0].message


def test_good_output_settings_pass() -> None:
    output = {
        "path": "{pipeline}/{run_id}/{node}",
        "naming": "{output}-{ds_nodash}.parquet",
        "access": {"level": "public"},
    }
    assert validate(pipeline(node("a", outputs={"output": output}))) == []


def test_bad_node_access_groups() -> None:
    assert _node_issues(access={"level": "groups", "groups": ["ml", "-x"]}) == [
        (Code.INVALID_VALUE, "a", "access.groups.1")
    ]
    assert _node_issues(access={"level": "groups", "groups": ["ml"]}) == []


# -- pipeline settings ----------------------------------------------------------------------------
BAD_SETTINGS = [
    ({"schedule": "61 * * * *"}, "settings.schedule", "is not a valid cron expression"),
    ({"schedule": "@dialy"}, "settings.schedule", "Did you mean '@daily'"),
    ({"namespace": "Bad_Name"}, "settings.namespace", "is not a valid Kubernetes name"),
    ({"default_image": "Upper/Case"}, "settings.default_image", "is not a container image reference"),
    ({"artifact_root": "relative/dir"}, "settings.artifact_root", "is not an artifact root"),
    ({"path_template": "{pipeline}/../x"}, "settings.path_template", "contains '..'"),
    ({"naming_format": "{outptu}"}, "settings.naming_format", "Did you mean 'output'"),
    ({"default_resources": {"memory_request": "16Gx"}}, "settings.default_resources.memory_request", "quantity"),
    (
        {"service_accounts": {"private": "runner", "groups": {"ml": "Bad_SA"}}},
        "settings.service_accounts.groups.ml",
        "Kubernetes name",
    ),
    ({"retries": 101}, "settings.retries", "above the maximum 100"),
    ({"max_active_runs": 0}, "settings.max_active_runs", "below the minimum 1"),
    ({"execution_timeout_minutes": 0}, "settings.execution_timeout_minutes", "above 0"),
]


@pytest.mark.parametrize(("settings", "field", "match"), BAD_SETTINGS)
def test_bad_setting_is_reported_at_its_field(settings: dict[str, Any], field: str, match: str) -> None:
    issues = _settings_issues(**settings)
    assert [(i.severity, i.code, i.node, i.edge, i.field) for i in issues] == [
        (Severity.ERROR, Code.INVALID_VALUE, None, None, field)
    ]
    assert match in issues[0].message


@pytest.mark.parametrize(
    "settings",
    [
        {"schedule": "0 3 * * *"},
        {"schedule": "@daily"},
        {"namespace": "ml-prod"},
        {"artifact_root": "s3://bucket/ml", "artifact_store": {"workload_identity": True}},
        {"retries": 100, "max_active_runs": 1000, "execution_timeout_minutes": 0.5},
        {"service_accounts": {"private": "runner", "public": "org-runner", "groups": {"ml": "ml-runner"}}},
    ],
)
def test_good_settings_pass(settings: dict[str, Any]) -> None:
    assert _settings_issues(**settings) == []


# -- GPUs and requests against limits -------------------------------------------------------------
def test_gpu_without_resource_key() -> None:
    assert _node_issues({"resources": {"gpu": 1}}) == [(Code.GPU_WITHOUT_RESOURCE, "a", "pod.resources.gpu_resource")]
    assert _node_issues({"resources": {"gpu": 1, "gpu_resource": "nvidia.com/gpu"}}) == []
    assert _node_issues({"resources": {"gpu": 0}}) == []


def test_gpu_resource_key_from_pipeline_defaults() -> None:
    params = {"script": "x.py", "pod": {"resources": {"gpu": 2}}}
    p = pipeline(node("a", params=params), default_resources={"gpu_resource": "nvidia.com/gpu"})
    assert validate(p) == []


def test_gpu_count_from_pipeline_defaults_needs_a_key() -> None:
    issues = validate(pipeline(node("a"), default_resources={"gpu": 1}))
    assert [(i.code, i.node, i.field) for i in issues] == [
        (Code.GPU_WITHOUT_RESOURCE, "a", "pod.resources.gpu_resource")
    ]
    assert issues[0].message.startswith("1 GPU(s) requested but no GPU resource key")


def test_negative_default_gpu_count_is_only_a_settings_error() -> None:
    issues = validate(pipeline(node("a"), default_resources={"gpu": -1}))
    assert [(i.code, i.node, i.field) for i in issues] == [(Code.INVALID_VALUE, None, "settings.default_resources.gpu")]


def test_replica_resources_are_checked_too() -> None:
    params = {"deployment_name": "api", "replica_resources": {"gpu": 1, "memory_request": "2Gi", "memory_limit": "1Gi"}}
    issues = validate(valid_pipeline("bentoml_deploy", params))
    assert [(i.code, i.field) for i in issues] == [
        (Code.GPU_WITHOUT_RESOURCE, "replica_resources.gpu_resource"),
        (Code.INVALID_VALUE, "replica_resources.memory_request"),
    ]


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        ({"cpu_request": "2", "cpu_limit": "500m"}, "pod.resources.cpu_request"),
        ({"memory_request": "2Gi", "memory_limit": "2G"}, "pod.resources.memory_request"),
    ],
)
def test_request_above_limit(resources: dict[str, str], field: str) -> None:
    issues = validate(pipeline(node("a", params={"script": "x.py", "pod": {"resources": resources}})))
    assert [(i.code, i.node, i.field) for i in issues] == [(Code.INVALID_VALUE, "a", field)]
    assert "request" in issues[0].message
    assert "is above the limit" in issues[0].message


@pytest.mark.parametrize(
    "resources",
    [
        {"cpu_request": "500m", "cpu_limit": "0.5"},
        {"memory_request": "1Gi", "memory_limit": "2G"},
        {"cpu_request": "64"},
        {"memory_limit": "1Mi"},
    ],
)
def test_request_within_limit_passes(resources: dict[str, str]) -> None:
    assert _node_issues({"resources": resources}) == []


def test_request_is_compared_with_the_default_limit() -> None:
    p = pipeline(
        node("a", params={"script": "x.py", "pod": {"resources": {"cpu_request": "4"}}}),
        default_resources={"cpu_limit": "2"},
    )
    assert [(i.code, i.field) for i in validate(p)] == [(Code.INVALID_VALUE, "pod.resources.cpu_request")]


# -- run-time parameters --------------------------------------------------------------------------
BAD_PARAMS = [
    ({"name": "lr", "type": "number", "default": "fast"}, "default", "is not of type number"),
    ({"name": "n", "type": "integer", "default": 1.5}, "default", "is not of type integer"),
    ({"name": "n", "type": "integer", "default": True}, "default", "is not of type integer"),
    ({"name": "flag", "type": "boolean", "default": 1}, "default", "is not of type boolean"),
    ({"name": "mode", "default": "c", "enum": ["a", "b"]}, "default", "is not one of the allowed values"),
    ({"name": "n", "type": "integer", "default": 5, "maximum": 3}, "default", "is above the maximum 3"),
    ({"name": "x", "type": "number", "default": -0.5, "minimum": 0}, "default", "is below the minimum 0"),
    ({"name": "1bad"}, "name", "is not a valid parameter name"),
    ({"name": "class"}, "name", "is not a valid parameter name"),
]


def _param_issues(**settings: Any) -> list[Issue]:
    """The issues, less the warnings that no node uses the parameters (these pipelines use none on purpose)."""
    return [i for i in _settings_issues(**settings) if i.code is not Code.UNUSED_PARAM]


@pytest.mark.parametrize(("param", "field", "match"), BAD_PARAMS)
def test_bad_runtime_parameter(param: dict[str, Any], field: str, match: str) -> None:
    issues = _param_issues(params=[{"name": "ok"}, param])
    assert [(i.code, i.node, i.field) for i in issues] == [(Code.INVALID_VALUE, None, f"settings.params.1.{field}")]
    assert match in issues[0].message


@pytest.mark.parametrize(
    "param",
    [
        {"name": "lr", "type": "number", "default": 3},
        {"name": "n", "type": "integer", "default": 3, "minimum": 3, "maximum": 3},
        {"name": "mode", "default": "a", "enum": ["a", "b"]},
        {"name": "tags", "type": "array", "default": ["x"]},
        {"name": "conf", "type": "object", "default": {"k": 1}},
        {"name": "flag", "type": "boolean", "default": False},
        {"name": "unset", "type": "integer"},
    ],
)
def test_good_runtime_parameter(param: dict[str, Any]) -> None:
    assert _param_issues(params=[param]) == []


def test_duplicate_runtime_parameter_names_are_reported_once() -> None:
    issues = _param_issues(params=[{"name": "lr"}, {"name": "lr"}, {"name": "lr"}])
    assert [(i.code, i.field) for i in issues] == [(Code.DUPLICATE_ID, "settings.params.0.name")]
    assert "defined 3 times" in issues[0].message


# -- rules Airflow or the environment-variable contract would trip over ---------------------------
def test_tag_longer_than_airflow_allows() -> None:
    issues = _settings_issues(tags=["ok", "x" * 101])
    assert [(i.code, i.field) for i in issues if i.is_error] == [(Code.INVALID_VALUE, "settings.tags.1")]
    assert not [i for i in _settings_issues(tags=["x" * 100]) if i.is_error]


def test_continuous_schedule_needs_one_active_run() -> None:
    issues = _settings_issues(schedule="@continuous", max_active_runs=2)
    assert [(i.code, i.field) for i in issues if i.is_error] == [(Code.INVALID_VALUE, "settings.max_active_runs")]
    assert not [i for i in _settings_issues(schedule="@continuous", max_active_runs=1) if i.is_error]


def test_port_names_differing_only_in_case_collide() -> None:
    params = {"script": "x.py", "outputs": [{"name": "model"}, {"name": "Model"}]}
    issues = validate(pipeline(node("a", params=params)))
    [issue] = [i for i in issues if i.is_error]
    assert (issue.code, issue.node, issue.field) == (Code.INVALID_VALUE, "a", "outputs.1.name")
    assert "differ only in case" in issue.message
    params["outputs"] = [{"name": "model"}, {"name": "metrics"}]
    assert not [i for i in validate(pipeline(node("a", params=params))) if i.is_error]


def test_non_finite_parameter_is_refused() -> None:
    bad = validate(pipeline(node("a", params={"script": "x.py", "arguments": [], "extra": float("nan")})))
    assert any(i.code is Code.INVALID_VALUE and "finite" in i.message for i in bad)


@pytest.mark.parametrize(
    "value",
    [
        float("inf"),
        [1.0, [float("-inf")]],
        {"deep": {"er": float("nan")}},
        (1.0, float("nan")),
        {"set": {1}, "x": float("inf")},
    ],
)
def test_non_finite_values_are_found_anywhere(value: object) -> None:
    from dagsmith.nodes.validation import _finite

    assert not _finite(value)


@pytest.mark.parametrize(
    "value", [1.5, [1, 2.0, "nan"], {"a": {"b": [0.0, -1e308]}}, (1.0, 2), {"set": {1}, "x": 1.0}, None]
)
def test_finite_values_pass(value: object) -> None:
    from dagsmith.nodes.validation import _finite

    assert _finite(value)


# -- non-finite numbers anywhere in the document (set in code or by the editor: files cannot hold them) --
INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize(
    ("change", "node_id", "field"),
    [
        (lambda p: setattr(p.settings, "execution_timeout_minutes", INF), None, "settings.execution_timeout_minutes"),
        (lambda p: setattr(p.settings, "dagrun_timeout_minutes", NAN), None, "settings.dagrun_timeout_minutes"),
        (lambda p: setattr(p.nodes[0].position, "x", -INF), "a", "position.x"),
        (lambda p: p.nodes[0].params.update(pod={"timeout_minutes": INF}), "a", "pod.timeout_minutes"),
        (lambda p: p.nodes[0].params.update(extra=[1.0, {"deep": NAN}]), "a", "extra.1.deep"),
        (
            lambda p: p.settings.params.append(RuntimeParam(name="lr", type="number", default=INF)),
            None,
            "settings.params.0.default",
        ),
        (
            lambda p: p.settings.params.append(RuntimeParam(name="lr", type="number", maximum=NAN)),
            None,
            "settings.params.0.maximum",
        ),
    ],
)
def test_non_finite_numbers_are_errors_at_their_field(change: Any, node_id: str | None, field: str) -> None:
    p = pipeline(node("a"))
    change(p)
    errors = [i for i in validate(p) if i.is_error]
    found = [i for i in errors if i.field == field and i.node == node_id]
    assert len(found) == 1, errors
    assert "finite" in found[0].message or "maximum" in found[0].message


def test_a_non_finite_comment_position_is_an_error() -> None:
    p = pipeline(node("a"), comments=[Comment(id="c", position={"x": 0, "y": NAN})])
    [issue] = [i for i in validate(p) if i.is_error]
    assert issue.field == "comments.0.position.y"
    assert "finite" in issue.message


# -- durations and counts are bounded by what Airflow and Kubernetes accept (issue 12 D5) ------------
@pytest.mark.parametrize(
    ("settings", "field", "maximum"),
    [
        ({"retry_delay_seconds": 10**18}, "settings.retry_delay_seconds", "31536000"),
        ({"execution_timeout_minutes": 1e300}, "settings.execution_timeout_minutes", "525600"),
        ({"dagrun_timeout_minutes": 525_601}, "settings.dagrun_timeout_minutes", "525600"),
    ],
)
def test_settings_durations_are_bounded(settings: dict[str, Any], field: str, maximum: str) -> None:
    [issue] = [i for i in _settings_issues(**settings) if i.is_error]
    assert issue.field == field
    assert f"the maximum {maximum}" in issue.message
    assert "365 days" in issue.message


@pytest.mark.parametrize(
    ("pod", "field"),
    [
        ({"timeout_minutes": 1e300}, "pod.timeout_minutes"),
        ({"startup_timeout_seconds": 10**18}, "pod.startup_timeout_seconds"),
        (
            {"tolerations": [{"key": "k", "effect": "NoExecute", "toleration_seconds": 10**18}]},
            "pod.tolerations.0.toleration_seconds",
        ),
    ],
)
def test_pod_durations_are_bounded(pod: dict[str, Any], field: str) -> None:
    issues = validate(pipeline(node("a", params={"script": "x.py", "pod": pod})))
    [issue] = [i for i in issues if i.is_error]
    assert (issue.node, issue.field) == ("a", field)
    assert "365 days" in issue.message


def test_search_seed_is_bounded_by_what_samplers_accept() -> None:
    params = {
        "search_space": {"lr": {"kind": "uniform", "low": 0.001, "high": 0.1}},
        "objective_metric": "val_auc",
        "command": ["python", "train.py"],
        "seed": 2**70,
    }
    issues = validate(pipeline(node("a", "hyperparameter_search", params=params)))
    [issue] = [i for i in issues if i.is_error and i.field == "seed"]
    assert "4294967295" in issue.message


def test_the_largest_allowed_values_pass() -> None:
    from dagsmith.nodes.checks import MAX_DURATION_MINUTES, MAX_DURATION_SECONDS

    p = pipeline(
        node(
            "a",
            params={
                "script": "x.py",
                "pod": {"timeout_minutes": MAX_DURATION_MINUTES, "startup_timeout_seconds": MAX_DURATION_SECONDS},
            },
        ),
        retry_delay_seconds=MAX_DURATION_SECONDS,
        execution_timeout_minutes=MAX_DURATION_MINUTES,
        dagrun_timeout_minutes=MAX_DURATION_MINUTES,
    )
    assert [i for i in validate(p) if i.is_error] == []
