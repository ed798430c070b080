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
