"""A node's pod form (``PodSettings``) as KubernetesPodOperator arguments, with pipeline defaults."""

from __future__ import annotations

from dagsmith.nodes import Access, Node, PipelineSettings, PodSettings, Resources

from .model import MountSpec, PodSpec, VolumeSpec

DEFAULT_GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
SHM_VOLUME = "dshm"


def service_account(settings: PipelineSettings, access: Access | None) -> str | None:
    """The service account for an access permission, from the pipeline's mapping (None if unmapped)."""
    access = access or settings.default_access
    accounts = settings.service_accounts
    if access.level == "private":
        return accounts.private
    if access.level == "public":
        return accounts.public
    return next((accounts.groups[group] for group in access.groups if group in accounts.groups), None)


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
    """Everything the form says about the pod; ``gpu=False`` for helper pods (no GPU, volumes or shm)."""
    requests, limits, gpu_selector = resource_dicts(pod.resources, settings.default_resources)
    spec = PodSpec(
        image=pod.image or settings.default_image or "",
        namespace=settings.namespace,
        secrets=list(pod.secrets),
        tolerations=list(pod.tolerations),
        node_selector=dict(pod.node_selector),
        labels=dict(pod.labels),
        annotations=dict(pod.annotations),
        service_account=service_account(settings, node.access),
        image_pull_policy=pod.image_pull_policy,
        startup_timeout_seconds=pod.startup_timeout_seconds,
        retries=pod.retries,
        timeout_minutes=pod.timeout_minutes,
    )
    if not gpu:
        spec.requests = requests
        spec.limits = {key: value for key, value in limits.items() if key in ("cpu", "memory")}
        return spec
    spec.requests, spec.limits = requests, limits
    spec.node_selector.update(gpu_selector)
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
