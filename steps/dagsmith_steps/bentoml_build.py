"""BentoML build step: package the registered model alias as a Bento, build its image and push it.

The image is built with the OCI builder named by ``DAGSMITH_BENTO_BACKEND`` (default ``buildah``,
which runs rootless inside a pod); ``bentoml containerize`` would need a Docker daemon.
"""

from __future__ import annotations

import os
import subprocess

from dagsmith_steps.runtime import build_bento, config, log, report  # dagsmith: not embedded


def main() -> None:
    """Import ``models:/<name>@<alias>``, build the Bento, containerize and push it; report the image."""
    import bentoml

    cfg = config()
    bento, _ = build_bento(cfg)
    image = cfg["image_repository"] + ":" + cfg["image_tag"]
    backend = os.environ.get("DAGSMITH_BENTO_BACKEND", "buildah")
    bentoml.container.build(str(bento.tag), backend=backend, image_tag=(image,))  # type: ignore[call-overload]
    subprocess.run([backend, "push", image], check=True)
    log("pushed " + image + " for " + str(bento.tag))
    report({"bento": {"tag": str(bento.tag), "image": image}})


if __name__ == "__main__":
    main()
