"""What an Elyra import changes about where files go: Elyra's object storage against dagsmith's artifact root.

Elyra uploads every output file a generic node declares to the cloud object storage of its runtime
configuration (``cos_endpoint``, ``cos_bucket``, under the pipeline's ``cos_object_prefix``) and downloads
it into the pods of later nodes. A dagsmith pipeline fresh from the import has the default artifact root,
a folder inside each pod: those files would stay in the pod that wrote them. The import says so, and what
to set, instead of changing the meaning silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .document import PipelineSettings
from .store import store_kind

_SHOWN = 5  # node names listed in the warning before "and N more"


def declares_outputs(params: Mapping[str, Any]) -> bool:
    """True when a generic node's parameters name output files (Elyra stores those in object storage)."""
    outputs = params.get("outputs")
    return isinstance(outputs, list) and any(isinstance(item, str) and item.strip() for item in outputs)


def object_storage_warning(producers: Sequence[str], settings: PipelineSettings, prefix: Any) -> str | None:
    """The report line for nodes whose outputs lived in Elyra's object storage, or None when nothing is lost.

    ``producers`` names those nodes; ``prefix`` is the pipeline's ``cos_object_prefix`` (anything, as found).
    """
    root = settings.artifact_root
    if not producers or store_kind(root) != "posix" or settings.artifact_store.pvc:
        return None
    names = ", ".join(repr(name) for name in producers[:_SHOWN])
    if len(producers) > _SHOWN:
        names += f" and {len(producers) - _SHOWN} more"
    where = "cos_endpoint and cos_bucket"
    if isinstance(prefix, str) and prefix.strip():
        where += f", prefix {prefix.strip()!r}"
    return (
        f"pipeline: Elyra kept the output files of {len(producers)} node(s) ({names}) in the object storage of its "
        f"runtime configuration ({where}) and gave them to later nodes from there; dagsmith's artifact root is "
        f"{root!r}, a folder inside each pod, so on Kubernetes those files would stay in the pod that wrote them. "
        "Set settings.artifact_root to s3://<your cos_bucket>/<prefix> and settings.artifact_store.endpoint_url "
        "to your cos_endpoint (with settings.artifact_store.credentials_secret or workload_identity), or mount a "
        "shared volume with settings.artifact_store.pvc"
    )


__all__ = ["declares_outputs", "object_storage_warning"]
