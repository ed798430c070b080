"""BentoML build step, local target: package the registered model alias as a Bento in the local store.

No image is built (that needs a container builder): the Bento stays in ``BENTOML_HOME`` and the local
deploy step serves it from there. Package versions are not locked, so no package index is contacted.
"""

from __future__ import annotations

import re

from runtime import config, log, need, report, value  # dagsmith: not embedded


def bento_model_name(name: str) -> str:
    """A BentoML model name for a registered model name (lowercase letters, digits, '_', '.', '-')."""
    return re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.") or "model"


def main() -> None:
    """Import ``models:/<name>@<alias>`` into BentoML and build the Bento; report its tag."""
    import bentoml

    cfg = config()
    upstream = value("model")
    upstream_name = upstream.get("name") if isinstance(upstream, dict) else None
    name = need(cfg["model_name"] or upstream_name, "no model name: set it on the node or connect a registered model")
    uri = "models:/" + name + "@" + cfg["model_alias"]
    model = bentoml.mlflow.import_model(bento_model_name(name), model_uri=uri)
    log("imported " + uri + " as " + str(model.tag))
    bento = bentoml.bentos.build(
        cfg["service"],
        name=cfg["bento_name"],
        build_ctx=cfg["build_context"],
        models=[str(model.tag)],
        python={"lock_packages": False},
    )
    log("built " + str(bento.tag) + " (no image: local target)")
    report({"bento": {"tag": str(bento.tag), "image": None, "model": str(model.tag)}})


if __name__ == "__main__":
    main()
