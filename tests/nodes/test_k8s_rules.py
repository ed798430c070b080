"""Kubernetes rules that break pods: requests and limits, memory-backed /dev/shm, GPUs, service accounts."""

from __future__ import annotations

from typing import Any

import pytest
from factories import edge, node, pipeline, valid_pipeline

from dagsmith.nodes import Code, Issue, Severity, load_example, validate
from dagsmith.nodes.common import Resources, Toleration
from dagsmith.nodes.k8s_rules import is_gpu_selector, is_gpu_toleration

NVIDIA = {"gpu_resource": "nvidia.com/gpu"}


def _script(pod: dict[str, Any]) -> dict[str, Any]:
    return {"script": "train.py", "pod": pod}


def _found(issues: list[Issue]) -> list[tuple[Severity, Code, str | None, str | None]]:
    return [(i.severity, i.code, i.node, i.field) for i in issues]


# -- requests against limits, with the pipeline defaults merged ----------------------------------------
@pytest.mark.parametrize(
    ("resources", "defaults", "field"),
    [
        ({"memory_request": "8Gi"}, {"memory_limit": "4Gi"}, "pod.resources.memory_request"),
        ({"memory_limit": "1G"}, {"memory_request": "1Gi"}, "pod.resources.memory_request"),  # 1Gi > 1G
        ({"cpu_request": "1500m"}, {"cpu_limit": "1"}, "pod.resources.cpu_request"),
        ({"cpu_request": "2e0", "cpu_limit": "1.5"}, {}, "pod.resources.cpu_request"),  # e-notation: 2 CPUs
        ({"memory_request": "2k", "memory_limit": "1Ki"}, {}, "pod.resources.memory_request"),
    ],
)
def test_request_above_limit_is_an_error(resources: dict[str, str], defaults: dict[str, str], field: str) -> None:
    issues = validate(pipeline(node("a", params=_script({"resources": resources})), default_resources=defaults))
    assert _found(issues) == [(Severity.ERROR, Code.INVALID_VALUE, "a", field)]
    assert "raise the limit or lower the request" in issues[0].message


@pytest.mark.parametrize(
    "resources",
    [
        {"memory_request": "1Gi", "memory_limit": "1024Mi"},
        {"cpu_request": "1e0", "cpu_limit": "1000m"},
        {"cpu_limit": "1m"},
    ],
)
def test_request_at_or_below_limit_passes(resources: dict[str, str]) -> None:
    assert validate(pipeline(node("a", params=_script({"resources": resources})))) == []


# -- memory-backed /dev/shm ------------------------------------------------------------------------------
def test_shm_as_large_as_the_default_memory_limit_is_an_oom_kill() -> None:
    # The keyword example's defect: 8Gi of shm under the pipeline's 4Gi default limit.
    p = pipeline(node("train", params=_script({"shm_size": "8Gi"})), default_resources={"memory_limit": "4Gi"})
    issues = validate(p)
    assert _found(issues) == [(Severity.ERROR, Code.SHM_OVER_MEMORY, "train", "pod.shm_size")]
    assert "counts it against the memory limit of 4Gi" in issues[0].message
    assert "OOM-killed" in issues[0].message


@pytest.mark.parametrize("limit", ["4Gi", "4096Mi", "4294967296", "4.294967296e9"])
def test_shm_equal_to_the_limit_leaves_nothing_for_the_program(limit: str) -> None:
    p = pipeline(node("a", params=_script({"shm_size": "4Gi", "resources": {"memory_limit": limit}})))
    assert [i.code for i in validate(p)] == [Code.SHM_OVER_MEMORY]


def test_shm_below_the_node_limit_passes_even_above_the_default() -> None:
    pod = {"shm_size": "8Gi", "resources": {"memory_request": "16Gi", "memory_limit": "24Gi"}}
    p = pipeline(node("a", params=_script(pod)), default_resources={"memory_limit": "4Gi"})
    assert validate(p) == []


def test_shm_without_a_memory_limit_is_a_warning_at_the_limit() -> None:
    issues = validate(pipeline(node("a", params=_script({"shm_size": "1Gi"}))))
    assert _found(issues) == [(Severity.WARNING, Code.SHM_OVER_MEMORY, "a", "pod.resources.memory_limit")]
    assert "set a memory limit above 1Gi" in issues[0].message


# -- GPUs ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["pod", "replica"])
def test_a_fraction_of_a_gpu_is_an_error_not_a_truncation(field: str) -> None:
    resources = {"gpu": 2.7, **NVIDIA}
    if field == "pod":
        issues = validate(pipeline(node("a", params=_script({"resources": resources}))))
        where = "pod.resources.gpu"
    else:
        issues = validate(valid_pipeline("bentoml_deploy", {"deployment_name": "api", "replica_resources": resources}))
        where = "replica_resources.gpu"
    (issue,) = issues
    assert (issue.severity, issue.code, issue.field) == (Severity.ERROR, Code.INVALID_VALUE, where)
    assert issue.node is not None
    assert "2.7 is not a whole number; enter a whole number" in issue.message


def test_gpu_toleration_and_selector_without_gpus_are_flagged() -> None:
    pod = {
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "node_selector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "pool": "batch"},
    }
    issues = validate(pipeline(node("a", params=_script(pod))))
    assert _found(issues) == [
        (Severity.WARNING, Code.GPU_SCHEDULING, "a", "pod.tolerations.0"),
        (Severity.WARNING, Code.GPU_SCHEDULING, "a", "pod.node_selector.nvidia.com/gpu.product"),
    ]
    with_gpus = {**pod, "resources": {"gpu": 1, **NVIDIA}}
    assert validate(pipeline(node("a", params=_script(with_gpus)))) == []


def test_gpus_from_the_pipeline_defaults_count_as_requested() -> None:
    pod = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]}
    p = pipeline(node("a", params=_script(pod)), default_resources={"gpu": 1, **NVIDIA})
    assert validate(p) == []


@pytest.mark.parametrize("kind", ["register_model", "model_gate", "bentoml_deploy"])
def test_cpu_only_steps_refuse_gpu_settings(kind: str) -> None:
    params = {
        **valid_pipeline(kind).node("n").params,  # type: ignore[union-attr]
        "pod": {
            "resources": {"gpu": 1, **NVIDIA},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
        },
    }
    issues = validate(valid_pipeline(kind, params))
    assert _found(issues) == [
        (Severity.ERROR, Code.GPU_SCHEDULING, "n", "pod.resources.gpu"),
        (Severity.ERROR, Code.GPU_SCHEDULING, "n", "pod.tolerations.0"),
    ]


def test_cpu_only_steps_ignore_default_gpus() -> None:
    p = valid_pipeline("model_gate")
    p.settings.default_resources = Resources(gpu=1, gpu_resource="nvidia.com/gpu")
    assert validate(p) == []


def test_gpu_classification() -> None:
    amd = Resources(gpu_resource="amd.com/gpu", gpu_product_label="example.com/accelerator")
    assert is_gpu_toleration(Toleration(key="nvidia.com/gpu"), Resources())
    assert is_gpu_toleration(Toleration(key="amd.com/gpu"), amd)
    assert not is_gpu_toleration(Toleration(key="dedicated", value="ml"), amd)
    assert is_gpu_selector("example.com/accelerator", amd)
    assert is_gpu_selector("nvidia.com/gpu.present", Resources())
    assert not is_gpu_selector("kubernetes.io/arch", Resources())


# -- service accounts --------------------------------------------------------------------------------------
ACCOUNTS = {"private": "ml-project", "public": "ml-public"}


def test_an_unmapped_group_is_an_error_naming_the_node_and_the_setting() -> None:
    # The user-targeting defect: groups access, accounts only for private and public.
    p = pipeline(
        node("a"), default_access={"level": "groups", "groups": ["marketing", "ml"]}, service_accounts=ACCOUNTS
    )
    issues = validate(p)
    assert _found(issues) == [(Severity.ERROR, Code.NO_SERVICE_ACCOUNT, "a", "access")]
    assert issues[0].suggestions == (
        "settings.service_accounts.groups.marketing",
        "settings.service_accounts.groups.ml",
    )
    assert "pipeline's default access 'groups marketing, ml'" in issues[0].message
    mapped = {**ACCOUNTS, "groups": {"marketing": "mkt", "ml": "ml-team"}}
    p.settings.service_accounts = p.settings.service_accounts.model_validate(mapped)
    assert validate(p) == []


@pytest.mark.parametrize(
    ("access", "missing"),
    [
        ({"level": "public"}, "settings.service_accounts.public"),
        ({"level": "groups", "groups": ["ml", "finance"]}, "settings.service_accounts.groups.finance"),
    ],
)
def test_each_node_access_must_resolve(access: dict[str, Any], missing: str) -> None:
    p = pipeline(node("a", access=access), service_accounts={"private": "ml-project", "groups": {"ml": "ml-team"}})
    issues = validate(p)
    assert _found(issues) == [(Severity.ERROR, Code.NO_SERVICE_ACCOUNT, "a", "access")]
    assert missing in issues[0].message
    assert "this node's access" in issues[0].message


def test_groups_access_without_a_group_is_an_error() -> None:
    p = pipeline(node("a", access={"level": "groups"}), service_accounts=ACCOUNTS)
    assert _found(validate(p)) == [(Severity.ERROR, Code.NO_SERVICE_ACCOUNT, "a", "access.groups")]


def test_a_pipeline_without_any_access_accounts_is_not_checked() -> None:
    assert validate(pipeline(node("a", access={"level": "groups", "groups": ["ml"]}))) == []


def test_deploy_needs_the_deployer_account_not_an_access_account() -> None:
    p = valid_pipeline("bentoml_deploy")
    p.settings.service_accounts = p.settings.service_accounts.model_validate(ACCOUNTS)  # no deployer
    issues = validate(p)
    assert _found(issues) == [(Severity.ERROR, Code.NO_SERVICE_ACCOUNT, "n", "access")]
    assert "settings.service_accounts.deployer" in issues[0].message
    p.settings.service_accounts = p.settings.service_accounts.model_validate({**ACCOUNTS, "deployer": "deployer"})
    assert validate(p) == []


# -- the shipped examples -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["keyword_recommendation", "article_recommendation", "user_targeting"])
def test_examples_keep_the_rules(name: str) -> None:
    assert [i for i in validate(load_example(name)) if i.is_error] == []


def test_rules_see_edges_too() -> None:
    # Sanity: the rules add nothing to a plain chain.
    p = pipeline(node("a"), node("b"), edges=[edge("a", "b")], service_accounts=ACCOUNTS)
    assert validate(p) == []
