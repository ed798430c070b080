"""A node's pod form (``PodSettings``) as KubernetesPodOperator arguments, with pipeline defaults."""

from __future__ import annotations

from dagsmith.nodes import Access, Node, PipelineSettings, PodSettings, Resources
from dagsmith.nodes.k8s_rules import (
    CPU_ONLY_TYPES,
    DEFAULT_GPU_PRODUCT_LABEL,
    is_gpu_selector,
    is_gpu_toleration,
    service_account_for,
)
from dagsmith.nodes.store import store_kind

from .artifacts import GCS_KEY_DIR
from .model import MountSpec, PodSpec, VolumeSpec

SHM_VOLUME = "dshm"
ARTIFACT_VOLUME = "dagsmith-artifacts"
"""The artifact store's volume in every step pod: the shared PVC (POSIX) or the GCS key secret."""


def _artifact_store_volumes(settings: PipelineSettings, spec: PodSpec) -> None:
    """Every step pod, helper pods included, reaches the store: the PVC mounted at the root path, or
    (GCS with a key file) the credentials secret mounted read-only where ``GOOGLE_APPLICATION_CREDENTIALS`` points.
    """
    store = settings.artifact_store
    kind = store_kind(settings.artifact_root)
    if kind == "posix" and store.pvc:
        spec.volumes.append(VolumeSpec(name=ARTIFACT_VOLUME, claim_name=store.pvc))
        spec.mounts.append(MountSpec(ARTIFACT_VOLUME, settings.artifact_root.rstrip("/") or "/"))
    elif kind == "gcs" and store.credentials_secret and not store.workload_identity:
        spec.volumes.append(VolumeSpec(name=ARTIFACT_VOLUME, secret_name=store.credentials_secret))
        spec.mounts.append(MountSpec(ARTIFACT_VOLUME, GCS_KEY_DIR, read_only=True))


def _posix_identity(settings: PipelineSettings, node: Node, spec: PodSpec) -> None:
    """On a shared POSIX store, the pod's processes belong to the project's group (which owns every artifact and
    the root, so that they may write) and to the group of each access group the node runs as.

    ``fsGroup`` is the project's gid with ``OnRootMismatch``, so the kubelet does not walk the shared volume on
    every start (the root already belongs to that group: ``dagsmith artifacts policy``).
    """
    store = settings.artifact_store
    if store_kind(settings.artifact_root) != "posix" or not store.pvc or store.project_gid is None:
        return
    access = node.access or settings.default_access
    groups = [store.group_gids[g] for g in access.groups if g in store.group_gids] if access.level == "groups" else []
    spec.fs_group = store.project_gid
    spec.supplemental_groups = sorted({store.project_gid, *groups})


def service_account(settings: PipelineSettings, access: Access | None) -> str | None:
    """The service account for an access permission, from the pipeline's mapping (None if unmapped).

    Validation refuses a node whose access maps to no account once the pipeline maps any; deploy
    steps run as the deployer instead (``service_account_for``).
    """
    return service_account_for(settings, "", access)


def resource_dicts(resources: Resources, defaults: Resources) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Requests, limits and the GPU node selector for ``resources`` merged with ``defaults``.

    GPUs are a limit on their extended resource key (Kubernetes sets the request to match); the
    GPU product becomes a node selector on ``gpu_product_label``.
    """
    merged = resources.merged(defaults)
    requests = {
        key: value
        for key, value in (("cpu", merged.cpu_request), ("memory", merged.memory_request))
        if value is not None
    }
    limits = {
        key: value for key, value in (("cpu", merged.cpu_limit), ("memory", merged.memory_limit)) if value is not None
    }
    selector: dict[str, str] = {}
    if merged.gpu and merged.gpu_resource:
        limits[merged.gpu_resource] = str(merged.gpu)
        if merged.gpu_product:
            selector[merged.gpu_product_label or DEFAULT_GPU_PRODUCT_LABEL] = merged.gpu_product
    return requests, limits, selector


def pod_spec(settings: PipelineSettings, node: Node, pod: PodSettings, *, gpu: bool = True) -> PodSpec:
    """Everything the form says about the pod; ``gpu=False`` for helper pods (no volumes or shm either).

    A helper pod, and every pod of a CPU-only node type (register, gate, deploy), gets no GPU, no GPU
    toleration and no GPU node selector: it must not wait for, or hold, a GPU node.
    """
    cpu_only = not gpu or node.type in CPU_ONLY_TYPES
    merged = pod.resources.merged(settings.default_resources)
    requests, limits, gpu_selector = resource_dicts(pod.resources, settings.default_resources)
    tolerations, selector = list(pod.tolerations), dict(pod.node_selector)
    if cpu_only:
        tolerations = [item for item in tolerations if not is_gpu_toleration(item, merged)]
        selector = {key: value for key, value in selector.items() if not is_gpu_selector(key, merged)}
    spec = PodSpec(
        image=pod.image or settings.default_image or "",
        namespace=settings.namespace,
        secrets=list(pod.secrets),
        tolerations=tolerations,
        node_selector=selector,
        labels=dict(pod.labels),
        annotations=dict(pod.annotations),
        service_account=service_account_for(settings, node.type, node.access),
        image_pull_policy=pod.image_pull_policy,
        startup_timeout_seconds=pod.startup_timeout_seconds,
        retries=pod.retries,
        timeout_minutes=pod.timeout_minutes,
    )
    spec.requests = requests
    if cpu_only:
        spec.limits = {key: value for key, value in limits.items() if key in ("cpu", "memory")}
    else:
        spec.limits = limits
        spec.node_selector.update(gpu_selector)
        if merged.gpu and merged.gpu_resource and settings.cluster.gpu_pool:
            spec.pool, spec.pool_slots = settings.cluster.gpu_pool, merged.gpu
    _artifact_store_volumes(settings, spec)
    _posix_identity(settings, node, spec)
    if not gpu:
        return spec
    claims: dict[str, str] = {}
    for volume in pod.volumes:
        if volume.pvc not in claims:
            claims[volume.pvc] = f"pvc-{len(claims)}"
            spec.volumes.append(VolumeSpec(name=claims[volume.pvc], claim_name=volume.pvc))
        spec.mounts.append(MountSpec(claims[volume.pvc], volume.mount_path, volume.sub_path, volume.read_only))
    if pod.shm_size:
        spec.volumes.append(VolumeSpec(name=SHM_VOLUME, shm_size=pod.shm_size))
        spec.mounts.append(MountSpec(SHM_VOLUME, "/dev/shm"))
    return spec
