"""Kubernetes rules that break pods, checked before export with the pipeline's default resources merged.

A pod can pass every field check and still fail on a cluster: a request above its limit is refused by
the API server, a memory-backed ``/dev/shm`` as large as the memory limit gets the pod OOM-killed, a
GPU toleration lets a CPU pod take a GPU node, and a step without a service account runs as the
namespace's ``default`` account. These rules see the pod as code generation builds it: node resources
over ``settings.default_resources`` (``Resources.merged``), CPU-only steps without GPUs.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from .checks import parse_quantity
from .common import Access, PodSettings, Resources, Toleration
from .document import Node, PipelineSettings
from .issues import Code, Issue, Severity

DEFAULT_GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
KNOWN_GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/i915", "gpu.intel.com/xe")
"""Extended resources of the common GPU device plugins; their names are also the taint keys of GPU nodes."""

CPU_ONLY_TYPES = frozenset({"register_model", "model_gate", "bentoml_deploy"})
"""Node types whose pods never get a GPU, a GPU toleration or a GPU node selector (they only call APIs)."""

DEPLOYER_TYPES = frozenset({"bentoml_deploy"})
"""Node types that run as ``settings.service_accounts.deployer`` instead of an access-level account."""


def requests_gpus(node_type: str, merged: Resources) -> bool:
    """True when the node's own pod gets GPUs (helper pods of a node never do)."""
    return node_type not in CPU_ONLY_TYPES and _gpu_count(merged) > 0 and bool(merged.gpu_resource)


def _gpu_count(merged: Resources) -> int:
    return merged.gpu if isinstance(merged.gpu, int) else 0


def _gpu_resources(merged: Resources) -> tuple[str, ...]:
    return (*KNOWN_GPU_RESOURCES, merged.gpu_resource) if merged.gpu_resource else KNOWN_GPU_RESOURCES


def is_gpu_toleration(toleration: Toleration, merged: Resources) -> bool:
    """True for a toleration of GPU nodes' taint, whose key is the GPU's extended resource name."""
    return any(toleration.key == name or toleration.key.startswith(name + ".") for name in _gpu_resources(merged))


def is_gpu_selector(key: str, merged: Resources) -> bool:
    """True for a node-selector key that picks GPU nodes: the GPU product label or a GPU plugin's label."""
    if key == (merged.gpu_product_label or DEFAULT_GPU_PRODUCT_LABEL):
        return True
    return any(key == name or key.startswith(name + ".") for name in _gpu_resources(merged))


def pod_issues(node: Node, pod: PodSettings, defaults: Resources) -> Iterator[Issue]:
    """The rules for a node's own pod: resources, memory-backed /dev/shm and GPU scheduling."""
    yield from resource_issues(node, pod.resources, defaults, "pod.resources")
    merged = pod.resources.merged(defaults)
    yield from _shm_issues(node, pod, merged)
    yield from _gpu_placement_issues(node, pod, merged)


def resource_issues(node: Node, resources: Resources, defaults: Resources, field: str) -> Iterator[Issue]:
    """A GPU count needs a resource key, and each request must not exceed its limit."""
    merged = resources.merged(defaults)
    if _gpu_count(merged) > 0 and not merged.gpu_resource:
        yield Issue(
            Severity.ERROR,
            Code.GPU_WITHOUT_RESOURCE,
            f"{merged.gpu} GPU(s) requested but no GPU resource key; set it (e.g. 'nvidia.com/gpu') "
            "here or in the pipeline's default resources",
            node=node.id,
            field=f"{field}.gpu_resource",
        )
    for kind in ("cpu", "memory"):
        request, limit = getattr(merged, f"{kind}_request"), getattr(merged, f"{kind}_limit")
        amounts = _amounts(request, limit)
        if amounts and amounts[0] > amounts[1]:
            yield Issue(
                Severity.ERROR,
                Code.INVALID_VALUE,
                f"the {kind} request {request!r} is above the limit {limit!r}, which Kubernetes refuses; "
                "raise the limit or lower the request",
                node=node.id,
                field=f"{field}.{kind}_request",
            )


def _shm_issues(node: Node, pod: PodSettings, merged: Resources) -> Iterator[Issue]:
    # /dev/shm is an emptyDir with medium Memory: a tmpfs whose pages the kernel charges to the
    # container's memory cgroup. Filled to its size it uses that much of the memory limit on top of
    # the program's own memory, so a size at or above the limit ends in an OOM kill.
    if not pod.shm_size:
        return
    amounts = _amounts(pod.shm_size, merged.memory_limit)
    if merged.memory_limit is None:
        if amounts is None and _amount(pod.shm_size) is not None:
            yield Issue(
                Severity.WARNING,
                Code.SHM_OVER_MEMORY,
                f"/dev/shm of {pod.shm_size} is memory-backed, and this pod has no memory limit: Kubernetes charges "
                "the shared memory to the pod without reserving it, so the node may evict the pod under memory "
                f"pressure; set a memory limit above {pod.shm_size} plus what the program needs",
                node=node.id,
                field="pod.resources.memory_limit",
            )
        return
    if amounts and amounts[0] >= amounts[1]:
        yield Issue(
            Severity.ERROR,
            Code.SHM_OVER_MEMORY,
            f"/dev/shm of {pod.shm_size} is memory-backed, and Kubernetes counts it against the memory limit "
            f"of {merged.memory_limit}: once the shared memory fills up the pod is OOM-killed; raise the memory "
            f"limit above {pod.shm_size} plus what the program needs, or lower the shared memory size",
            node=node.id,
            field="pod.shm_size",
        )


def _gpu_placement_issues(node: Node, pod: PodSettings, merged: Resources) -> Iterator[Issue]:
    if node.type in CPU_ONLY_TYPES and pod.resources.gpu:
        yield Issue(
            Severity.ERROR,
            Code.GPU_SCHEDULING,
            f"a {node.type} step only calls APIs and runs without GPUs; remove the GPU count",
            node=node.id,
            field="pod.resources.gpu",
        )
    if requests_gpus(node.type, merged):
        return
    # A CPU-only step never gets these (code generation drops them): a setting that would be ignored is
    # an error. Elsewhere it is a warning: the pod still runs, but it may take a GPU node it does not use.
    if node.type in CPU_ONLY_TYPES:
        severity, why = Severity.ERROR, f"a {node.type} step runs without GPUs and never gets it"
    else:
        severity, why = Severity.WARNING, "this pod requests no GPUs, so it may hold a GPU node without using it"
    for index, toleration in enumerate(pod.tolerations):
        if is_gpu_toleration(toleration, merged):
            yield Issue(
                severity,
                Code.GPU_SCHEDULING,
                f"the toleration of {toleration.key!r} lets the pod onto GPU nodes, but {why}; "
                "remove the toleration, or request GPUs in pod.resources.gpu",
                node=node.id,
                field=f"pod.tolerations.{index}",
            )
    for key in pod.node_selector:
        if is_gpu_selector(key, merged):
            yield Issue(
                severity,
                Code.GPU_SCHEDULING,
                f"the node selector {key!r} picks GPU nodes, but {why}; "
                "remove it, or request GPUs in pod.resources.gpu",
                node=node.id,
                field=f"pod.node_selector.{key}",
            )


def service_account_issues(node: Node, settings: PipelineSettings) -> Iterator[Issue]:
    """The node's pod must run as a service account named in the settings, never silently as 'default'."""
    accounts = settings.service_accounts
    if node.type in DEPLOYER_TYPES:
        if not accounts.deployer:
            yield Issue(
                Severity.ERROR,
                Code.NO_SERVICE_ACCOUNT,
                f"{node.display_name!r} deploys to Kubernetes and runs as the pipeline's deployer service account, "
                "which is not set; fill settings.service_accounts.deployer with an account that may create and "
                "patch Deployments, Services and HorizontalPodAutoscalers",
                node=node.id,
                field="access",
            )
        return
    if not (accounts.private or accounts.public or accounts.groups):
        # No access level is mapped at all: the pipeline does not use service accounts, and every step
        # runs as the namespace's 'default' account alike (the local target has none).
        return
    access = node.access or settings.default_access
    where = "this node's access" if node.access else "the pipeline's default access"
    missing: list[str] = []
    if access.level in ("private", "public"):
        if getattr(accounts, access.level) is None:
            missing.append(f"settings.service_accounts.{access.level}")
    elif not access.groups:
        yield Issue(
            Severity.ERROR,
            Code.NO_SERVICE_ACCOUNT,
            f"{node.display_name!r} runs with {where}, level 'groups', but it names no group, so no service "
            "account applies; add a group or choose 'private' or 'public'",
            node=node.id,
            field="access.groups",
        )
        return
    else:
        missing = [
            f"settings.service_accounts.groups.{group}" for group in access.groups if group not in accounts.groups
        ]
    if missing:
        yield Issue(
            Severity.ERROR,
            Code.NO_SERVICE_ACCOUNT,
            f"{node.display_name!r} runs with {where} '{access.describe()}', which maps to no service account, so "
            f"its pod would run as the namespace's 'default' account; fill {', '.join(missing)} "
            "in the pipeline settings, or change the access",
            node=node.id,
            field="access",
            suggestions=tuple(missing),
        )


def service_account_for(settings: PipelineSettings, node_type: str, access: Access | None) -> str | None:
    """The service account a node's pods run as: the deployer for deploy steps, else by access level."""
    accounts = settings.service_accounts
    if node_type in DEPLOYER_TYPES:
        return accounts.deployer
    access = access or settings.default_access
    if access.level == "private":
        return accounts.private
    if access.level == "public":
        return accounts.public
    return next((accounts.groups[group] for group in access.groups if group in accounts.groups), None)


def _amount(value: str | None) -> Decimal | None:
    if not value:
        return None
    try:
        return parse_quantity(value)
    except (ValueError, ArithmeticError, TypeError):
        return None  # reported by the value checks


def _amounts(first: str | None, second: str | None) -> tuple[Decimal, Decimal] | None:
    a, b = _amount(first), _amount(second)
    return (a, b) if a is not None and b is not None else None
