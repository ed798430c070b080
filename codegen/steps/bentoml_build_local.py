"""BentoML build step, local target: package the registered model alias as a Bento in the local store.

No image is built (that needs a container builder): the Bento stays in ``BENTOML_HOME`` and the local
deploy step serves it from there. Package versions are not locked, so no package index is contacted.
"""

from __future__ import annotations

from dagsmith_steps.runtime import build_bento, config, log, report  # dagsmith: not embedded


def main() -> None:
    """Import ``models:/<name>@<alias>`` into BentoML and build the Bento; report its tag."""
    bento, model = build_bento(config(), python={"lock_packages": False})
    log("built " + str(bento.tag) + " (no image: local target)")
    report({"bento": {"tag": str(bento.tag), "image": None, "model": str(model.tag)}})


if __name__ == "__main__":
    main()
