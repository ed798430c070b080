"""Elyra node parameters to dagsmith node parameters: pod settings and output ports (for ``elyra``).

Elyra wrote Kubernetes settings as ``"KEY=VALUE"`` strings before pipeline version 8 and as lists of
dicts since; both forms are read in every version. Each entry is checked with dagsmith's own value
checks: what does not convert or does not pass is returned under its Elyra key with the reason,
never dropped.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ValidationError

from .checks import CHECKED
from .common import PodSettings, Resources
from .document import slug

NOTEBOOK_OP = "execute-notebook-node"
PYTHON_OP = "execute-python-node"
R_OP = "execute-r-node"
GPU_DEFAULT = "nvidia.com/gpu"
_GPU_VENDORS = {"nvidia": GPU_DEFAULT, "amd": "amd.com/gpu"}

LIST_KEYS = ("env_vars", "kubernetes_secrets", "mounted_volumes", "kubernetes_tolerations")
DICT_KEYS = ("kubernetes_pod_labels", "kubernetes_pod_annotations")
RESOURCE_KEYS = ("cpu", "cpu_limit", "memory", "memory_limit", "gpu", "gpu_vendor")
POD_KEYS = ("runtime_image", *RESOURCE_KEYS, *LIST_KEYS, *DICT_KEYS, "kubernetes_shared_mem_size")
"""Every Elyra parameter that becomes part of ``params.pod``."""
CUSTOM_POD_KEYS = (
    "runtime_image",
    "mounted_volumes",
    "kubernetes_tolerations",
    *DICT_KEYS,
    "kubernetes_shared_mem_size",
)
"""The pod parameters Elyra also applies to catalog (custom) components."""

_MAPPED_KEYS = frozenset({*POD_KEYS, "filename", "outputs"})
_WHY = {
    "dependencies": "have no dagsmith equivalent (dagsmith runs code baked into the image; add these files to it)",
    "include_subdirectories": "(of dependencies) has no dagsmith equivalent",
}
_RESERVED_PORTS = frozenset({"upstream", "executed"})
EMPTY: tuple[Any, ...] = (None, "", [], {}, False)
"""Values that carry nothing (Elyra writes them for fields left blank)."""


@dataclass
class Converted:
    """Pod settings converted from Elyra parameters, and what could not be converted.

    ``unmapped`` holds the original entries under their Elyra key; ``problems`` one
    ``(elyra key, reason)`` pair per entry that is there.
    """

    pod: dict[str, Any] = field(default_factory=dict)
    unmapped: dict[str, Any] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # mapped, but the user should know how

    def reject(self, key: str, entry: Any, reason: str, *, many: bool = True) -> None:
        """Keep ``entry`` under ``unmapped[key]`` (a list when ``many``) and note why."""
        if many:
            self.unmapped.setdefault(key, []).append(entry)
        else:
            self.unmapped[key] = entry
        self.problems.append((key, reason))


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def problem_with(model: type[BaseModel], values: dict[str, Any]) -> str | None:
    """Why ``values`` do not pass ``model``'s value checks, or None when they do."""
    try:
        model.model_validate(values, context=CHECKED)
    except ValidationError as exc:
        return "; ".join(str(err["msg"]) for err in exc.errors(include_url=False))
    return None


def number(value: Any) -> float | None:
    """A non-negative number from an Elyra field; None when unset (empty or 0, as Elyra treats it)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a number")
    try:
        amount = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"{value!r} is not a positive number")
    return amount or None


def quantity(amount: float, unit: str = "") -> str:
    """``2.0`` -> ``'2'``, ``0.5`` with unit ``G`` -> ``'0.5G'``."""
    return f"{Decimal(str(amount)).normalize():f}{unit}"


# -- one entry of each list-valued setting --------------------------------------------------------


def _pair(entry: Any, key: str, value: str) -> tuple[str, str]:
    if isinstance(entry, str):
        name, _, rest = entry.partition("=")
        return name.strip(), rest.strip()
    if isinstance(entry, Mapping):
        return _text(entry.get(key)), _text(entry.get(value))
    raise ValueError(f"expected 'NAME=value' or {{{key}, {value}}}, found {type(entry).__name__}")


def env_var(entry: Any) -> dict[str, Any]:
    """``"NAME=value"`` or ``{env_var, value}`` -> ``{name, value}``."""
    name, value = _pair(entry, "env_var", "value")
    if not name:
        raise ValueError("no variable name")
    if not value:
        raise ValueError(f"environment variable {name!r} has no value, so Elyra never set it")
    return {"name": name, "value": value}


def secret(entry: Any) -> dict[str, Any]:
    """``"ENV=secret-name:key"`` or ``{env_var, name, key}`` -> ``{env_var, secret_name, key}``."""
    if isinstance(entry, str):
        env, _, rest = entry.partition("=")
        name, _, key = rest.partition(":")
        env, name, key = env.strip(), name.strip(), key.strip()
    elif isinstance(entry, Mapping):
        env, name, key = _text(entry.get("env_var")), _text(entry.get("name")), _text(entry.get("key"))
    else:
        raise ValueError(f"expected 'ENV=secret-name:key' or {{env_var, name, key}}, found {type(entry).__name__}")
    if not (env and name and key):
        raise ValueError("a secret needs an environment variable, a secret name and a key")
    return {"env_var": env, "secret_name": name, "key": key}


def volume(entry: Any) -> dict[str, Any]:
    """``"/path=pvc[:sub/path]"`` or ``{path, pvc_name, sub_path, read_only}`` -> a dagsmith volume."""
    read_only: Any = False
    if isinstance(entry, str):
        path, _, rest = entry.partition("=")
        pvc, _, sub_path = rest.partition(":")
    elif isinstance(entry, Mapping):
        path, pvc, sub_path = _text(entry.get("path")), _text(entry.get("pvc_name")), _text(entry.get("sub_path"))
        read_only = entry.get("read_only") or False
    else:
        raise ValueError(f"expected '/mount/path=pvc-name' or {{path, pvc_name}}, found {type(entry).__name__}")
    if isinstance(read_only, str) and read_only.strip().lower() in ("true", "false"):
        read_only = read_only.strip().lower() == "true"
    if not isinstance(read_only, bool):
        raise ValueError(f"read_only {read_only!r} is not true or false")
    if not path.strip() or not pvc.strip():
        raise ValueError("a volume needs a mount path and a PVC name")
    mount = "/" + path.strip().strip("/")  # Elyra normalises the mount path the same way
    return {"pvc": pvc.strip(), "mount_path": mount, "sub_path": sub_path.strip(), "read_only": read_only}


def toleration(entry: Any) -> dict[str, Any]:
    """``"ID=key:operator:value:effect"`` or ``{key, operator, value, effect}`` -> a dagsmith toleration."""
    if isinstance(entry, str):
        text = entry.strip()
        head, sep, tail = text.partition("=")
        if sep and ":" not in head:
            text = tail  # Elyra before version 8 prefixed an id: "TOL_1=key:Equal:value:NoSchedule"
        parts = text.split(":")
        if len(parts) < 4:
            raise ValueError("expected 'key:operator:value:effect'")
        key, operator, value, effect = ":".join(parts[:-3]), *parts[-3:]
    elif isinstance(entry, Mapping):
        key, operator = _text(entry.get("key")), _text(entry.get("operator"))
        value, effect = _text(entry.get("value")), _text(entry.get("effect"))
    else:
        raise ValueError(
            f"expected 'key:operator:value:effect' or {{key, operator, ...}}, found {type(entry).__name__}"
        )
    return {
        "key": key.strip(),
        "operator": operator.strip() or "Equal",
        "value": value.strip(),
        "effect": effect.strip(),
    }


# Elyra key -> (dagsmith pod field, parser of one entry, field that identifies an entry when merging)
_LISTS: dict[str, tuple[str, Callable[[Any], dict[str, Any]], str | None]] = {
    "env_vars": ("env", env_var, "name"),
    "kubernetes_secrets": ("secrets", secret, "env_var"),
    "mounted_volumes": ("volumes", volume, "mount_path"),
    "kubernetes_tolerations": ("tolerations", toleration, None),
}
_DICTS = {"kubernetes_pod_labels": "labels", "kubernetes_pod_annotations": "annotations"}


def _identity(item: Mapping[str, Any], ident: str | None) -> Any:
    """What identifies a converted entry when entries are merged: its ``ident`` field, else all of it."""
    return item[ident] if ident else repr(sorted(item.items()))


def _entries(raw: Any) -> list[Any]:
    if isinstance(raw, list):
        return raw
    if isinstance(raw, Mapping):  # a plain {key: value} mapping, not Elyra's own form but unambiguous
        return [{"key": k, "value": v} for k, v in raw.items()]
    return [raw]


def _convert_list(result: Converted, key: str, raw: Any) -> None:
    target, parse, ident = _LISTS[key]
    items: dict[Any, dict[str, Any]] = {}
    for entry in _entries(raw):
        try:
            item = parse(entry)
        except ValueError as exc:
            result.reject(key, entry, f"{entry!r}: {exc}")
            continue
        problem = problem_with(PodSettings, {target: [item]})
        if problem:
            result.reject(key, entry, f"{entry!r}: {problem}")
            continue
        items[_identity(item, ident)] = item  # the last one wins, as in Elyra
    if items:
        result.pod[target] = list(items.values())


def _convert_dict(result: Converted, key: str, raw: Any) -> None:
    target = _DICTS[key]
    values: dict[str, str] = {}
    for entry in _entries(raw):
        try:
            name, value = _pair(entry, "key", "value")
            if not name:
                raise ValueError("no key")
        except ValueError as exc:
            result.reject(key, entry, f"{entry!r}: {exc}")
            continue
        problem = problem_with(PodSettings, {target: {name: value}})
        if problem:
            result.reject(key, entry, f"{entry!r}: {problem}")
            continue
        values[name] = value
    if values:
        result.pod[target] = values


def _convert_resources(result: Converted, params: Mapping[str, Any]) -> None:
    resources: dict[str, Any] = {}
    for key, target, unit in (
        ("cpu", "cpu_request", ""),
        ("cpu_limit", "cpu_limit", ""),
        ("memory", "memory_request", "G"),
        ("memory_limit", "memory_limit", "G"),
    ):
        try:
            amount = number(params.get(key))
        except ValueError as exc:
            result.reject(key, params[key], str(exc), many=False)
            continue
        if amount is not None:
            resources[target] = quantity(amount, unit)
    try:
        gpus = number(params.get("gpu"))
        if gpus is not None and not gpus.is_integer():
            raise ValueError(f"{params['gpu']!r} is not a whole number of GPUs")
    except ValueError as exc:
        result.reject("gpu", params["gpu"], str(exc), many=False)
        gpus = None
    vendor = _text(params.get("gpu_vendor"))
    vendor = _GPU_VENDORS.get(vendor.lower(), vendor)
    if gpus:
        resources["gpu"] = int(gpus)
    if vendor or gpus:
        resources["gpu_resource"] = vendor or GPU_DEFAULT
    for name, value in list(resources.items()):
        problem = problem_with(Resources, {name: value})
        if problem:
            elyra_key = {"cpu_request": "cpu", "memory_request": "memory", "gpu_resource": "gpu_vendor"}.get(name, name)
            result.reject(elyra_key, params.get(elyra_key), problem, many=False)
            del resources[name]
    if resources:
        result.pod["resources"] = resources


def _convert_scalars(result: Converted, params: Mapping[str, Any], keys: Iterable[str]) -> None:
    if "runtime_image" in keys and params.get("runtime_image"):
        image = _text(params["runtime_image"])
        problem = problem_with(PodSettings, {"image": image})
        if problem:
            result.reject("runtime_image", params["runtime_image"], problem, many=False)
        else:
            result.pod["image"] = image
    raw = params.get("kubernetes_shared_mem_size")
    if "kubernetes_shared_mem_size" in keys and raw not in (None, "", {}):
        size, unit = (raw.get("size"), _text(raw.get("units")) or "G") if isinstance(raw, Mapping) else (raw, "G")
        try:
            amount = number(size)
            problem = problem_with(PodSettings, {"shm_size": quantity(amount, unit)}) if amount is not None else None
        except ValueError as exc:
            amount, problem = None, str(exc)
        if problem:
            result.reject("kubernetes_shared_mem_size", raw, problem, many=False)
        elif amount is not None:
            result.pod["shm_size"] = quantity(amount, unit)


def convert_pod(params: Mapping[str, Any], keys: Iterable[str] = POD_KEYS) -> Converted:
    """The dagsmith ``pod`` settings for the Elyra parameters named in ``keys``."""
    keys = set(keys)
    result = Converted()
    _convert_scalars(result, params, keys)
    if keys & set(RESOURCE_KEYS):
        _convert_resources(result, params)
    for key in LIST_KEYS:
        if key in keys and params.get(key) not in (None, "", [], {}):
            _convert_list(result, key, params[key])
    for key in DICT_KEYS:
        if key in keys and params.get(key) not in (None, "", [], {}):
            _convert_dict(result, key, params[key])
    return result


def merge_pods(node: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` pod settings completed from pipeline ``defaults``; the node's values win on conflicts."""
    merged = {key: value for key, value in defaults.items() if key not in node}
    for key, value in node.items():
        base = defaults.get(key)
        if isinstance(value, dict) and isinstance(base, dict):
            merged[key] = {**base, **value}
        elif isinstance(value, list) and isinstance(base, list):
            ident = next((spec[2] for spec in _LISTS.values() if spec[0] == key), None)
            own = {_identity(item, ident) for item in value}  # a set: linear in the entries of both
            extra = [item for item in base if _identity(item, ident) not in own]
            merged[key] = [*value, *extra]
        else:
            merged[key] = value
    return merged


def output_ports(files: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    """Elyra output files -> dagsmith output port declarations, and the entries that are not file names."""
    ports: list[dict[str, Any]] = []
    bad: list[Any] = []
    taken = set(_RESERVED_PORTS)
    for entry in files if isinstance(files, list) else [files]:
        if not isinstance(entry, str):
            bad.append(entry)
            continue
        path = entry.strip()
        if not path:
            continue
        base = PurePosixPath(path.replace("\\", "/")).name
        stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
        name = slug(stem) or slug(base) or "output"
        if keyword.iskeyword(name) or name in _RESERVED_PORTS:
            name += "_file"
        unique, count = name, 1
        while unique in taken:
            count += 1
            unique = f"{name}_{count}"
        taken.add(unique)
        ports.append({"name": unique, "type": "any", "description": path})
    return ports, bad


def convert_generic(
    op: str, params: Mapping[str, Any], defaults: Mapping[str, Any]
) -> tuple[str, dict[str, Any], Converted]:
    """A generic Elyra node's dagsmith type and parameters, given the pipeline's default pod settings."""
    converted = convert_pod(params)
    pod = merge_pods(converted.pod, defaults)
    outputs, bad = output_ports(params.get("outputs") or [])
    if bad:
        converted.reject("outputs", bad, f"{bad!r} are not file names", many=False)
    for key, value in params.items():
        if key not in _MAPPED_KEYS and value not in EMPTY:
            converted.reject(key, value, f"{value!r} {_WHY.get(key, 'has no dagsmith equivalent')}", many=False)
    filename = _text(params.get("filename"))
    runs = runs_as(op, filename)
    if runs != op:  # Elyra picks the runner by the file's extension, whatever the node's op says
        kind = "a Python script" if runs == PYTHON_OP else "an R script"
        converted.notes.append(f"{filename!r} is {kind}, which Elyra runs as such under {op!r}; imported as one")
    result: dict[str, Any] = {}
    if runs == R_OP:
        reason = f"{op!r} runs an R script; mapped to the command 'Rscript {filename}' (the image must have R)"
        converted.reject("op", op, reason, many=False)
        if filename:
            result["command"] = ["Rscript", filename]
    elif filename:
        result["notebook" if runs == NOTEBOOK_OP else "script"] = filename
    result["outputs"] = outputs
    if pod:
        result["pod"] = pod
    return ("notebook" if runs == NOTEBOOK_OP else "script"), result, converted


def runs_as(op: str, filename: str) -> str:
    """The generic op Elyra really runs ``filename`` with: by extension (``.ipynb``, ``.py``, ``.r``), else ``op``."""
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    return {".ipynb": NOTEBOOK_OP, ".py": PYTHON_OP, ".r": R_OP}.get(suffix, op)
