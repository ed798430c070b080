"""Develop family: scripts and notebooks, the steps where users bring their own code (and GPUs)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pydantic import Field, JsonValue

from ..checks import Identifier
from ..common import Strict
from ..issues import Code
from ..ports import Port, PortType
from .base import Family, NodeType, Problem, port


class PortDecl(Strict):
    """A port a script or notebook declares for itself."""

    name: Identifier = Field(description="Port name", examples=["model", "train_data"])
    type: PortType = PortType.ANY
    description: str = ""
    required: bool = Field(True, description="For inputs: must be connected")


UPSTREAM = port("upstream", PortType.ANY, "Any upstream steps this one waits for", multiple=True)
DEFAULT_OUTPUT = port("output", PortType.ANY, "")
"""The output a script or notebook has when it declares none (the ``outputs`` field's default)."""


def _declared(raw: object, *, inputs: bool) -> tuple[Port, ...]:
    """Ports from a (possibly invalid) declaration list; entries that do not parse are skipped."""
    if not isinstance(raw, list):
        return ()
    result = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        try:
            type_ = PortType(entry.get("type", "any"))
        except ValueError:
            type_ = PortType.ANY
        result.append(
            Port(
                name=entry["name"],
                type=type_,
                description=str(entry.get("description", "")),
                required=inputs and bool(entry.get("required", True)),
            )
        )
    return tuple(result)


class _CodeStep(NodeType):
    """Common parts of script and notebook steps."""

    extra_out_ports: ClassVar[tuple[Port, ...]] = ()

    arguments: list[str] = Field(default_factory=list, description="Extra command-line arguments")
    inputs: list[PortDecl] = Field(
        default_factory=list,
        description="Typed inputs this step reads (their paths arrive as environment variables)",
    )
    outputs: list[PortDecl] = Field(
        default_factory=lambda: [PortDecl.model_construct(name="output")],
        description="Typed outputs this step writes",
    )

    @classmethod
    def ports(cls, params: Mapping[str, Any]) -> tuple[tuple[Port, ...], tuple[Port, ...]]:
        """The ``upstream`` input, the declared inputs, and the declared outputs."""
        inputs = (UPSTREAM, *_declared(params["inputs"], inputs=True)) if "inputs" in params else (UPSTREAM,)
        outputs = _declared(params["outputs"], inputs=False) if "outputs" in params else (DEFAULT_OUTPUT,)
        return inputs, (*cls.extra_out_ports, *outputs)

    def problems(self, connected: frozenset[str]) -> Iterator[Problem]:
        """Port names must be unique and not clash with the built-in ones."""
        # Port names become environment variable names in capitals (DAGSMITH_OUTPUT_MODEL): compare so.
        seen = {UPSTREAM.name.upper(), *(p.name.upper() for p in self.extra_out_ports)}
        for group, decls in (("inputs", self.inputs), ("outputs", self.outputs)):
            for index, decl in enumerate(decls):
                if decl.name.upper() in seen:
                    yield Problem(
                        f"{group}.{index}.name",
                        f"port name {decl.name!r} is used twice (names that differ only in case count as the "
                        "same, since they share an environment variable); give each input and output its own name",
                    )
                seen.add(decl.name.upper())


class Script(_CodeStep):
    """Run a Python file or any command in a container image, e.g. a GPU training script."""

    kind = "script"
    family = Family.DEVELOP
    title = "Script"
    summary = "Run a Python file or a command in an image (CPU or GPU)"

    script: str = Field("", description="Python file inside the image", examples=["train.py"])
    command: list[str] = Field(
        default_factory=list,
        description="Command to run instead of a Python file",
        examples=[["bash", "-c", "make train"]],
    )

    def problems(self, connected: frozenset[str]) -> Iterator[Problem]:
        """Exactly one of script and command."""
        yield from super().problems(connected)
        if not self.script and not self.command:
            yield Problem("script", "set the Python file to run, or a command", code=Code.MISSING_PARAMETER)
        elif self.script and self.command:
            yield Problem("command", "set either a Python file or a command, not both; clear one of them")


class Notebook(_CodeStep):
    """Execute a Jupyter notebook with parameters (papermill) and keep the executed notebook."""

    kind = "notebook"
    family = Family.DEVELOP
    title = "Notebook"
    summary = "Execute a Jupyter notebook with parameters; the executed notebook is kept"
    extra_out_ports = (port("executed", PortType.NOTEBOOK, "The executed notebook with its outputs"),)

    notebook: str = Field(
        description="Notebook file inside the image", examples=["notebooks/train.ipynb"], pattern=r"\.ipynb$"
    )
    parameters: dict[Identifier, JsonValue] = Field(
        default_factory=dict, description="Values injected into the notebook's 'parameters' cell"
    )
    kernel: str = Field("python3", min_length=1, description="Jupyter kernel name")
