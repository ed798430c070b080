"""Settings shared by many node types: the pod a step runs in and its artifacts' storage and access."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from .checks import (
    DURATION_SECONDS,
    TIMEOUT_MINUTES,
    TIMEOUT_SECONDS,
    Bounds,
    EnvName,
    ImageRef,
    K8sName,
    LabelKey,
    LabelValue,
    Quantity,
    Template,
)


class Strict(BaseModel):
    """Base for every document model: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", validate_default=False, defer_build=True)


class Resources(Strict):
    """CPU, memory and GPU requests and limits. Unset fields fall back to the pipeline defaults."""

    cpu_request: Quantity | None = Field(None, description="CPU request", examples=["500m", "2"])
    cpu_limit: Quantity | None = Field(None, description="CPU limit", examples=["4"])
    memory_request: Quantity | None = Field(None, description="Memory request", examples=["2Gi"])
    memory_limit: Quantity | None = Field(None, description="Memory limit", examples=["16Gi"])
    gpu: Annotated[int, Bounds(ge=0, le=64)] | None = Field(None, description="Number of GPUs")
    gpu_resource: LabelKey | None = Field(
        None, description="Extended resource name of the GPU", examples=["nvidia.com/gpu", "amd.com/gpu"]
    )
    gpu_product: LabelValue | None = Field(
        None,
        description="GPU product, scheduled through a node selector",
        examples=["NVIDIA-A100-SXM4-80GB"],
    )
    gpu_product_label: LabelKey | None = Field(
        None,
        description="Node label that carries the GPU product",
        examples=["nvidia.com/gpu.product"],
    )

    def merged(self, defaults: Resources) -> Resources:
        """These resources with unset fields taken from ``defaults``."""
        values = defaults.model_dump()
        values.update(self.model_dump(exclude_none=True))
        return Resources.model_construct(**values)


class EnvVar(Strict):
    """A plain environment variable. Never put secrets here: use a secret reference."""

    name: EnvName = Field(description="Variable name", examples=["BATCH_SIZE"])
    value: str = Field("", description="Value (may use run-time macros such as {{ ds }})")


class SecretRef(Strict):
    """An environment variable filled from a key of a Kubernetes secret; the value never leaves the cluster."""

    env_var: EnvName = Field(description="Variable name in the container", examples=["MLFLOW_TRACKING_TOKEN"])
    secret_name: K8sName = Field(description="Kubernetes secret name", examples=["mlflow-credentials"])
    key: str = Field(min_length=1, description="Key inside the secret", examples=["token"])


class Volume(Strict):
    """A PersistentVolumeClaim mounted into the step's container."""

    pvc: K8sName = Field(description="PersistentVolumeClaim name", examples=["training-data"])
    mount_path: str = Field(pattern=r"^/", description="Absolute mount path", examples=["/data"])
    sub_path: str = Field("", description="Sub path inside the volume")
    read_only: bool = Field(False, description="Mount read-only")


class Toleration(Strict):
    """A Kubernetes toleration, e.g. for tainted GPU nodes."""

    key: str = Field("", description="Taint key (empty with Exists tolerates everything)")
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str = ""
    effect: Literal["", "NoSchedule", "PreferNoSchedule", "NoExecute"] = ""
    toleration_seconds: Annotated[int, DURATION_SECONDS] | None = None


class PodSettings(Strict):
    """Everything about the pod a step runs in. Unset fields fall back to the pipeline defaults."""

    image: ImageRef | None = Field(None, description="Container image", examples=["ghcr.io/acme/train:1.2"])
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    resources: Resources = Field(default_factory=Resources)
    env: list[EnvVar] = Field(default_factory=list, description="Environment variables")
    secrets: list[SecretRef] = Field(default_factory=list, description="Secrets as environment variables")
    volumes: list[Volume] = Field(default_factory=list, description="Mounted PersistentVolumeClaims")
    shm_size: Quantity | None = Field(None, description="Shared memory size (/dev/shm)", examples=["8Gi"])
    tolerations: list[Toleration] = Field(default_factory=list)
    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, description="Pod labels")
    annotations: dict[LabelKey, str] = Field(default_factory=dict, description="Pod annotations")
    retries: int | None = Field(None, ge=0, le=100, description="Retries (default: the pipeline's)")
    timeout_minutes: Annotated[float, TIMEOUT_MINUTES] | None = Field(None, description="Execution timeout in minutes")
    startup_timeout_seconds: Annotated[int, TIMEOUT_SECONDS] | None = Field(
        None, description="How long the pod may take to start"
    )


AccessLevel = Literal["private", "groups", "public"]


class Access(Strict):
    """Who may read an artifact, or as whom a step runs.

    ``private``: the pipeline's project only; ``groups``: the project and the named groups;
    ``public``: everyone in the organisation.
    """

    level: AccessLevel = "private"
    groups: list[LabelValue] = Field(default_factory=list, description="Groups that may read (level 'groups')")

    def can_read(self, artifact: Access) -> bool:
        """True when an identity with this access may read an artifact with ``artifact`` access.

        The more open the reader, the fewer artifacts it may read: a public step cannot read a
        private artifact, and a step shared with groups can read only artifacts shared with all of them.
        """
        if artifact.level == "public" or self.level == "private":
            return True
        if artifact.level == "private":
            return False
        if self.level == "public":
            return False
        return set(self.groups) <= set(artifact.groups)

    def describe(self) -> str:
        """'private', 'public' or 'groups a, b' for messages."""
        if self.level == "groups":
            return "groups " + ", ".join(self.groups) if self.groups else "groups (none named)"
        return self.level


class OutputSettings(Strict):
    """Where an output artifact is stored, how it is named and who may read it (unset: pipeline defaults)."""

    path: Template | None = Field(
        None,
        description="Folder under the artifact root",
        examples=["{pipeline}/{run_id}/{node}"],
    )
    naming: Template | None = Field(None, description="File or object name", examples=["{output}-{ds_nodash}"])
    access: Access | None = Field(None, description="Who may read the artifact")
