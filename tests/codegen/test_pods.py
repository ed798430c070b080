"""Pod settings: resources merged with the pipeline defaults, GPUs, volumes and service accounts."""

from __future__ import annotations

import pytest

from dagsmith.codegen.pods import pod_spec, resource_dicts, service_account
from dagsmith.nodes import Access, Node, PipelineSettings, PodSettings, Resources


def test_resources_merge_defaults_and_gpu_is_a_limit_with_a_product_selector() -> None:
    defaults = Resources(cpu_request="500m", memory_request="1Gi", gpu_resource="nvidia.com/gpu")
    requests, limits, selector = resource_dicts(Resources(cpu_request="2", gpu=4, gpu_product="H100"), defaults)
    assert requests == {"cpu": "2", "memory": "1Gi"}
    assert limits == {"nvidia.com/gpu": "4"}
    assert selector == {"nvidia.com/gpu.product": "H100"}
    custom = Resources(gpu=1, gpu_resource="amd.com/gpu", gpu_product="MI300X", gpu_product_label="amd.com/gpu.product")
    assert resource_dicts(custom, Resources())[1:] == ({"amd.com/gpu": "1"}, {"amd.com/gpu.product": "MI300X"})
    assert resource_dicts(Resources(gpu=0, gpu_resource="nvidia.com/gpu"), Resources())[1] == {}


@pytest.mark.parametrize(
    ("access", "expected"),
    [
        (None, "sa-private"),
        (Access(level="public"), "sa-public"),
        (Access(level="groups", groups=["other", "ml"]), "sa-ml"),
        (Access(level="groups", groups=["nobody"]), None),
    ],
)
def test_service_account_by_access(access: Access | None, expected: str | None) -> None:
    settings = PipelineSettings.model_validate(
        {"service_accounts": {"private": "sa-private", "public": "sa-public", "groups": {"ml": "sa-ml"}}}
    )
    assert service_account(settings, access) == expected


def test_unmapped_access_has_no_service_account() -> None:
    assert service_account(PipelineSettings(), Access(level="public")) is None


def test_volumes_share_one_volume_per_claim_and_helper_pods_drop_gpus() -> None:
    pod = PodSettings.model_validate(
        {
            "resources": {"gpu": 1, "gpu_resource": "nvidia.com/gpu", "gpu_product": "L4", "cpu_limit": "4"},
            "volumes": [
                {"pvc": "data", "mount_path": "/a"},
                {"pvc": "data", "mount_path": "/b", "sub_path": "x", "read_only": True},
                {"pvc": "models", "mount_path": "/m"},
            ],
            "shm_size": "2Gi",
            "node_selector": {"pool": "gpu"},
        }
    )
    settings = PipelineSettings(default_image="img:1", namespace="ml")
    node = Node(id="n", type="script")
    spec = pod_spec(settings, node, pod)
    assert [(v.name, v.claim_name, v.shm_size) for v in spec.volumes] == [
        ("pvc-0", "data", None),
        ("pvc-1", "models", None),
        ("dshm", None, "2Gi"),
    ]
    assert [(m.name, m.mount_path, m.sub_path, m.read_only) for m in spec.mounts] == [
        ("pvc-0", "/a", "", False),
        ("pvc-0", "/b", "x", True),
        ("pvc-1", "/m", "", False),
        ("dshm", "/dev/shm", "", False),
    ]
    assert spec.node_selector == {"pool": "gpu", "nvidia.com/gpu.product": "L4"}
    assert (spec.image, spec.namespace) == ("img:1", "ml")
    helper = pod_spec(settings, node, pod, gpu=False)
    assert (helper.limits, helper.volumes, helper.node_selector) == ({"cpu": "4"}, [], {"pool": "gpu"})


GPU_POD = {
    "resources": {"gpu": 1, "gpu_resource": "nvidia.com/gpu", "gpu_product": "L4"},
    "tolerations": [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"},
    ],
    "node_selector": {"nvidia.com/gpu.product": "L4", "pool": "ml"},
}


def test_helper_pods_carry_no_gpu_toleration_or_gpu_selector() -> None:
    settings = PipelineSettings(default_image="img:1")
    pod = PodSettings.model_validate(GPU_POD)
    node = Node(id="n", type="hyperparameter_search")
    trial = pod_spec(settings, node, pod)
    assert [t.key for t in trial.tolerations] == ["nvidia.com/gpu", "dedicated"]
    assert trial.limits == {"nvidia.com/gpu": "1"}
    helper = pod_spec(settings, node, pod, gpu=False)
    assert [t.key for t in helper.tolerations] == ["dedicated"]
    assert (helper.node_selector, helper.limits) == ({"pool": "ml"}, {})


@pytest.mark.parametrize("kind", ["register_model", "model_gate", "bentoml_deploy"])
def test_cpu_only_steps_get_no_gpu_even_from_the_defaults(kind: str) -> None:
    settings = PipelineSettings.model_validate(
        {"default_image": "img:1", "default_resources": {"gpu": 2, "gpu_resource": "nvidia.com/gpu"}}
    )
    spec = pod_spec(settings, Node(id="n", type=kind), PodSettings.model_validate(GPU_POD))
    assert "nvidia.com/gpu" not in spec.limits
    assert [t.key for t in spec.tolerations] == ["dedicated"]
    assert spec.node_selector == {"pool": "ml"}


def test_deploy_runs_as_the_deployer_not_an_access_account() -> None:
    settings = PipelineSettings.model_validate(
        {"service_accounts": {"private": "ml-project", "public": "ml-public", "deployer": "ml-deployer"}}
    )
    deploy = Node(id="d", type="bentoml_deploy", access=Access(level="public"))
    assert pod_spec(settings, deploy, PodSettings()).service_account == "ml-deployer"
    assert pod_spec(settings, Node(id="s", type="script"), PodSettings()).service_account == "ml-project"
