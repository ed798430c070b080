"""BentoML build step: package the registered model alias as a Bento, build its image and push it.

The image is built with the OCI builder named by ``DAGSMITH_BENTO_BACKEND`` (default ``buildah``,
which runs rootless inside a pod); ``bentoml containerize`` would need a Docker daemon.
"""

from __future__ import annotations

import os
import re
import subprocess

from runtime import config, log, need, report, value  # dagsmith: not embedded


def bento_model_name(name: str) -> str:
    """A BentoML model name for a registered model name (lowercase letters, digits, '_', '.', '-')."""
    return re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.") or "model"


def main() -> None:
    """Import ``models:/<name>@<alias>``, build the Bento, containerize and push it; report the image."""
    import bentoml

    cfg = config()
    upstream = value("model")
    upstream_name = upstream.get("name") if isinstance(upstream, dict) else None
    name = need(cfg["model_name"] or upstream_name, "no model name: set it on the node or connect a registered model")
    uri = "models:/" + name + "@" + cfg["model_alias"]
    model = bentoml.mlflow.import_model(bento_model_name(name), model_uri=uri)
    log("imported " + uri + " as " + str(model.tag))
    bento = bentoml.bentos.build(
        cfg["service"], name=cfg["bento_name"], build_ctx=cfg["build_context"], models=[str(model.tag)]
    )
    image = cfg["image_repository"] + ":" + cfg["image_tag"]
    backend = os.environ.get("DAGSMITH_BENTO_BACKEND", "buildah")
    bentoml.container.build(str(bento.tag), backend=backend, image_tag=(image,))  # type: ignore[call-overload]
    subprocess.run([backend, "push", image], check=True)
    log("pushed " + image + " for " + str(bento.tag))
    report({"bento": {"tag": str(bento.tag), "image": image}})


if __name__ == "__main__":
    main()
