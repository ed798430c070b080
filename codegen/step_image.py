"""The step image: the Dockerfile that installs dagsmith's step runtime (``dagsmith-steps``), and its build.

The built-in steps of a Kubernetes DAG run ``python -m dagsmith_steps <step>`` in this image; the DAG pins
its runtime version (``DAGSMITH_RUNTIME_VERSION``). The image is built from the ``steps/`` folder of a dagsmith
checkout (the ``dagsmith-steps`` distribution): ``dagsmith step-image --print`` writes the Dockerfile,
``dagsmith step-image --build --tag T`` builds it with docker or podman.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from .steps import RUNTIME_PACKAGE, RUNTIME_VERSION

BASE_IMAGE = "python:3.11-slim"
"""The image the step image starts from (the runtime needs Python 3.10 or newer)."""

EXTRAS = "all"
"""The ``dagsmith-steps`` extra installed: MLflow, BentoML, Feast, kubernetes, fsspec with s3fs and gcsfs."""

BUILDERS = ("docker", "podman")
"""The container tools ``--build`` uses, the first one found."""


class StepImageError(Exception):
    """The step image cannot be written or built here; the message says what to do instead."""


def dockerfile() -> str:
    """The step image's Dockerfile; its build context is the ``steps/`` folder of a dagsmith checkout."""
    return f"""\
# The dagsmith step runtime {RUNTIME_VERSION}: what the built-in steps of dagsmith's Kubernetes DAGs run
# (python -m dagsmith_steps <step>). Written by `dagsmith step-image --print`. Build context: the steps/ folder
# of a dagsmith checkout at the version that exports your DAGs, for example
#   docker build -t registry.example.com/dagsmith/steps:{RUNTIME_VERSION} -f Dockerfile steps/
# then name that image in the pipeline settings (step_image). A DAG exported by another dagsmith version
# fails its built-in steps with a message that names both versions.
FROM {BASE_IMAGE}

# buildah builds and pushes the Bento's OCI image (bentoml_build); nothing else comes from apt.
RUN apt-get update \\
    && apt-get install -y --no-install-recommends buildah \\
    && rm -rf /var/lib/apt/lists/*

# The runtime and only the libraries its steps use (extra "{EXTRAS}": mlflow, bentoml, feast, kubernetes,
# fsspec with s3fs and gcsfs), built into a wheel by pip from the checkout's sources.
COPY pyproject.toml /tmp/dagsmith-steps/pyproject.toml
COPY dagsmith_steps /tmp/dagsmith-steps/dagsmith_steps
RUN pip install --no-cache-dir "/tmp/dagsmith-steps[{EXTRAS}]" \\
    && rm -rf /tmp/dagsmith-steps \\
    && test "$(python -m dagsmith_steps --version)" = "{RUNTIME_VERSION}"

LABEL org.opencontainers.image.title="dagsmith step runtime" \\
      org.opencontainers.image.version="{RUNTIME_VERSION}" \\
      io.dagsmith.runtime-version="{RUNTIME_VERSION}"
WORKDIR /work

# User images need the runtime too: script, notebook and hyper-parameter trial steps run the user's code in the
# user's image through it (python -m dagsmith_steps exec|notebook|hpo_trial), which fetches the step's inputs
# from the artifact store and stores its outputs with their manifests and access. Build them FROM this image,
# or install the runtime into them from the same steps/ folder, with the store's extra (s3 or gcs):
#   COPY pyproject.toml /tmp/dagsmith-steps/pyproject.toml
#   COPY dagsmith_steps /tmp/dagsmith-steps/dagsmith_steps
#   RUN pip install --no-cache-dir "/tmp/dagsmith-steps[s3]" && rm -rf /tmp/dagsmith-steps
# Without it such a step fails at once with a line that says what to install.
"""


def build_context() -> Path:
    """The ``steps/`` folder of this checkout (the Dockerfile's build context).

    Raises StepImageError when dagsmith runs from an installed package rather than a checkout.
    """
    package = Path(str(resources.files(RUNTIME_PACKAGE)))
    folder = package.parent
    project = folder / "pyproject.toml"
    if not project.is_file() or 'name = "dagsmith-steps"' not in project.read_text(encoding="utf-8"):
        raise StepImageError(
            f"the step runtime's sources are not in a dagsmith checkout here ({package}); build the image from "
            "a checkout of the dagsmith repository: `dagsmith step-image --print > Dockerfile` there, then "
            "`docker build -t <tag> -f Dockerfile steps/`"
        )
    return folder


def container_tool() -> str:
    """The first of docker or podman on the PATH; StepImageError when there is neither."""
    for name in BUILDERS:
        found = shutil.which(name)
        if found:
            return found
    raise StepImageError(
        "neither docker nor podman is installed on this machine, so the step image cannot be built here; "
        "write the Dockerfile with `dagsmith step-image --print > Dockerfile` and build it where one is: "
        f"`docker build -t <tag> -f Dockerfile {_context_hint()}`"
    )


def build_command(tool: str, tag: str, context: Path) -> list[str]:
    """The build command line; the Dockerfile arrives on standard input."""
    return [tool, "build", "--tag", tag, "--file", "-", str(context)]


def _context_hint() -> str:
    try:
        return str(build_context())
    except StepImageError:
        return "<dagsmith checkout>/steps"
