"""Settings shared by many node types: the pod a step runs in and its artifacts' storage and access."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

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
    PoolName,
    Quantity,
    Template,
    fail,
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
        # The fields are plain values (strings and numbers), so the instance dicts are what model_dump gives,
        # at a fraction of its cost: an export merges every pod's resources several times.
        values = dict(defaults.__dict__)
        values.update({name: value for name, value in self.__dict__.items() if value is not None})
        return Resources.model_construct(**values)


AIRFLOW_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,249}")
"""Airflow Variable keys and Connection ids dagsmith accepts (a safe subset of Airflow's own rule)."""

CONNECTION_FIELDS = ("host", "login", "password", "port", "schema", "extra", "uri")
"""The fields of an Airflow Connection an environment variable may take its value from."""

ConnectionField = Literal["host", "login", "password", "port", "schema", "extra", "uri"]
EnvSource = Literal["value", "variable", "connection"]


def _is_checked(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("checked"))


def check_airflow_key(value: str) -> str:
    """An Airflow Variable key or Connection id: letters, digits, '_', '.', '-', starting with a letter or digit."""
    if not AIRFLOW_KEY_RE.fullmatch(value):
        raise fail(
            "airflow_key",
            f"{value!r} is not an Airflow Variable key or Connection id dagsmith accepts; use letters, digits, "
            "'_', '.' and '-', starting with a letter or digit (e.g. 'feature_bucket' or 'warehouse_db')",
        )
    return value


def _checked_key(value: str, info: ValidationInfo) -> str:
    return check_airflow_key(value) if _is_checked(info) else value


AirflowKey = Annotated[str, AfterValidator(_checked_key)]


class EnvVar(Strict):
    """An environment variable: a typed value, or the value of an Airflow Variable or Connection field.

    ``source`` says where the value comes from: ``value`` (typed here; may use run-time macros such as
    {{ ds }}), ``variable`` (the Airflow Variable named in ``variable``, read when the task runs) or
    ``connection`` (the field ``connection_field`` of the Airflow Connection ``connection``). The DAG
    names the Variable or Connection only; never put a secret in ``value``.
    """

    name: EnvName = Field(description="Variable name", examples=["BATCH_SIZE"])
    value: str = Field("", description="Value (may use run-time macros such as {{ ds }})")
    source: EnvSource = Field(
        "value", description="Where the value comes from: typed here, an Airflow Variable or an Airflow Connection"
    )
    variable: AirflowKey | None = Field(
        None, description="Airflow Variable key (source 'variable')", examples=["feature_bucket"]
    )
    connection: AirflowKey | None = Field(
        None, description="Airflow Connection id (source 'connection')", examples=["warehouse_db"]
    )
    connection_field: ConnectionField | None = Field(None, description="Connection field (source 'connection')")

    @model_validator(mode="after")
    def _source_complete(self, info: ValidationInfo) -> EnvVar:
        if not _is_checked(info):
            return self
        if self.source == "variable" and not self.variable:
            raise fail("env_source", f"{self.name}: the source is an Airflow Variable; enter its key in 'variable'")
        if self.source == "connection" and not (self.connection and self.connection_field):
            raise fail(
                "env_source",
                f"{self.name}: the source is an Airflow Connection; enter its id in 'connection' and pick "
                f"'connection_field' ({', '.join(CONNECTION_FIELDS)})",
            )
        if self.source != "value" and self.value:
            raise fail(
                "env_source",
                f"{self.name}: 'value' is not used when the source is {self.source!r}; clear it or set source 'value'",
            )
        return self


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


Delivery = Literal["path", "uri"]
"""How a step gets an output's location (``DAGSMITH_OUTPUT_<PORT>_MODE``)."""


class OutputSettings(Strict):
    """Where an output artifact is stored, how it is named and who may read it (unset: pipeline defaults)."""

    path: Template | None = Field(
        None,
        description="Folder under the artifact root",
        examples=["{pipeline}/{run_id}/{node}"],
    )
    naming: Template | None = Field(None, description="File or object name", examples=["{output}-{ds_nodash}"])
    access: Access | None = Field(None, description="Who may read the artifact")
    delivery: Delivery | None = Field(
        None,
        description="How the step gets the location: 'path' (a local path; on an object store the runtime "
        "uploads it after the step) or 'uri' (the store's URI, for libraries that write s3:// or gs:// "
        "themselves); empty: path",
    )

    def delivery_mode(self) -> Delivery:
        """``path`` unless the form says ``uri``."""
        return self.delivery or "path"


_MLFLOW_URI_RE = re.compile(r"[a-z][a-z0-9+.-]*:[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]*")


def check_mlflow_uri(value: str) -> str:
    """An MLflow tracking or registry URI with no credentials in it (they belong in a secret)."""
    if not _MLFLOW_URI_RE.fullmatch(value) or len(value) > 2048:
        raise fail(
            "mlflow_uri",
            f"{value!r} is not an MLflow URI; write e.g. 'http://mlflow.mlops.svc:5000' or 'databricks' "
            "(no spaces, quotes or braces)",
        )
    authority = value.split("//", 1)[1].split("/", 1)[0] if "//" in value else ""
    if "@" in authority:
        raise fail(
            "mlflow_uri",
            "the URI holds credentials; remove 'user:password@' and name a Kubernetes secret in "
            "'credentials_secret' instead",
        )
    return value


def _checked_mlflow_uri(value: str, info: ValidationInfo) -> str:
    return check_mlflow_uri(value) if _is_checked(info) else value


MlflowUri = Annotated[str, AfterValidator(_checked_mlflow_uri)]


class MlflowSettings(Strict):
    """The MLflow server every step of the pipeline reaches; credentials only by Kubernetes secret reference.

    Each step gets ``MLFLOW_TRACKING_URI`` (the Airflow Variable ``dagsmith_mlflow_tracking_uri`` when it is
    set, else ``tracking_uri``), ``MLFLOW_REGISTRY_URI`` when ``registry_uri`` is set, and
    ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``/``MLFLOW_TRACKING_TOKEN`` from the keys of
    ``credentials_secret``. A step's own variable or secret of the same name wins.
    """

    tracking_uri: MlflowUri | None = Field(
        None, description="MLflow tracking server URI", examples=["http://mlflow.mlops.svc:5000"]
    )
    registry_uri: MlflowUri | None = Field(
        None, description="Model registry URI (default: the tracking server)", examples=["databricks-uc"]
    )
    credentials_secret: K8sName | None = Field(
        None, description="Kubernetes secret holding the MLflow credentials", examples=["mlflow-credentials"]
    )
    username_key: str | None = Field(None, min_length=1, description="Key of MLFLOW_TRACKING_USERNAME")
    password_key: str | None = Field(None, min_length=1, description="Key of MLFLOW_TRACKING_PASSWORD")
    token_key: str | None = Field(None, min_length=1, description="Key of MLFLOW_TRACKING_TOKEN", examples=["token"])

    def credential_keys(self) -> dict[str, str]:
        """Variable name -> key in ``credentials_secret``, for the keys that are set."""
        pairs = (
            ("MLFLOW_TRACKING_USERNAME", self.username_key),
            ("MLFLOW_TRACKING_PASSWORD", self.password_key),
            ("MLFLOW_TRACKING_TOKEN", self.token_key),
        )
        return {name: key for name, key in pairs if key}

    @model_validator(mode="after")
    def _credentials_complete(self, info: ValidationInfo) -> MlflowSettings:
        if not _is_checked(info):
            return self
        keys = self.credential_keys()
        if keys and not self.credentials_secret:
            raise fail("mlflow_credentials", "secret keys are set but no 'credentials_secret'; name the secret")
        if self.credentials_secret and not keys:
            raise fail(
                "mlflow_credentials",
                f"the secret {self.credentials_secret!r} is named but no key; set 'token_key', or "
                "'username_key' and 'password_key'",
            )
        if bool(self.username_key) != bool(self.password_key):
            raise fail("mlflow_credentials", "set both 'username_key' and 'password_key', or neither")
        return self


OnFinishAction = Literal["delete_succeeded_pod", "keep_pod", "delete_pod"]
"""What happens to a step's pod when it ends (KubernetesPodOperator's ``on_finish_action``)."""


class ClusterSettings(Strict):
    """How the step pods run on the cluster: Kubernetes targets only (local runs have no pods or pools)."""

    on_finish_action: OnFinishAction = Field(
        "delete_succeeded_pod",
        description="When a pod ends: delete it only when it succeeded (keep failed pods for inspection), "
        "keep every pod, or delete every pod",
    )
    startup_timeout_seconds: Annotated[int, TIMEOUT_SECONDS] = Field(
        600,
        description="How long a pod may take to start (pulling a large image included), unless the step sets its own",
    )
    gpu_pool: PoolName | None = Field(
        None,
        description="Airflow pool for pods that request GPUs, one slot per GPU (create it in Airflow with as "
        "many slots as GPUs the steps may hold at once)",
        examples=["gpu"],
    )
    deferrable: bool = Field(
        False, description="Wait for pods in Airflow's triggerer instead of a worker slot (needs a running triggerer)"
    )
