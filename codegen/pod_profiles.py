"""Pod settings that several KubernetesPodOperator tasks share, written once as module-level dicts.

``POD_DEFAULTS`` holds the settings every pod task of the file has alike (namespace, secrets, ...); a
profile such as ``STEPS_POD`` (``{**POD_DEFAULTS, ...}``) adds what a group of tasks has alike (image,
service account, resources). A task unpacks its profile (``**STEPS_POD``) and writes only what is its
own, so no keyword is given twice. The values are the same literals the task would otherwise carry,
written through the same filters, so the pods Airflow builds do not change.

A setting that Airflow renders by changing a Kubernetes object in place (resources, volumes) is shared
only when it holds no template text: one shared object rendered for several tasks in one process (as in
``dag.test()``) must stay what it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass

from pydantic import BaseModel

from .model import PodSpec, Task
from .templating import escape

SETTINGS: tuple[str, ...] = (
    "image",
    "namespace",
    "secrets",
    "resources",
    "volumes",
    "tolerations",
    "node_selector",
    "labels",
    "annotations",
    "service_account",
    "security_context",
    "image_pull_policy",
    "startup_timeout_seconds",
    "retries",
    "timeout_minutes",
    "pool",
    "get_logs",
)
"""The shareable settings, in the order a task writes its keyword arguments (``pod_settings.jinja2``)."""

BASE = "POD_DEFAULTS"
_RENDERED_IN_PLACE = ("resources", "volumes")
_ALWAYS = ("image", "namespace", "get_logs")  # written even when empty, as before profiles existed


def _value(pod: PodSpec, setting: str) -> object:
    """What ``setting`` writes for ``pod``, as plain comparable data."""
    if setting == "resources":
        return (pod.requests, pod.limits)
    if setting == "volumes":
        return (pod.volumes, pod.mounts)
    if setting == "pool":
        return (pod.pool, pod.pool_slots)
    if setting == "security_context":
        return (pod.fs_group, pod.supplemental_groups)
    if setting == "get_logs":
        return True
    return getattr(pod, setting)


def _present(pod: PodSpec, setting: str) -> bool:
    """Whether ``setting`` writes anything for ``pod`` (an empty list, dict or None writes nothing)."""
    if setting in _ALWAYS:
        return True
    value = _value(pod, setting)
    if isinstance(value, tuple):
        return any(part not in (None, [], {}) for part in value)
    return value not in (None, [], {}, "")


def _strings(value: object) -> Iterator[str]:
    """Every string inside ``value`` (dataclasses, pydantic models, mappings and sequences walked)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, BaseModel):
        yield from _strings(value.model_dump())
    elif is_dataclass(value) and not isinstance(value, type):
        for item in fields(value):
            yield from _strings(getattr(value, item.name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(item)


def _key(pod: PodSpec, setting: str) -> str | None:
    """A comparable key for the setting's value, or None when the setting must stay on its task.

    A setting rendered in place stays on its task when the text written for it holds template text:
    template marks, or a string that the ``tpl`` filter writes as template text (a carriage return, a
    trailing newline, a template-file ending), since rendering one shared object would change it for
    the tasks rendered after the first.
    """
    value = _value(pod, setting)
    text = repr(value)
    if setting in _RENDERED_IN_PLACE and (
        any(mark in text for mark in ("{{", "{%", "{#")) or any(escape(part) != part for part in _strings(value))
    ):
        return None
    return text


@dataclass(slots=True)
class Profile:
    """One module-level dict: its name, the settings it adds and a pod that has them."""

    name: str
    settings: list[str]
    pod: PodSpec
    base: bool = False  # starts with **POD_DEFAULTS


@dataclass(slots=True)
class PodProfiles:
    """The dicts to write before the DAG and, per task variable, which dict it unpacks and what that covers."""

    profiles: list[Profile] = field(default_factory=list)
    unpack: dict[str, str] = field(default_factory=dict)  # task var -> profile name
    covered: dict[str, set[str]] = field(default_factory=dict)  # task var -> settings the profile writes

    def own(self, task: Task) -> list[str]:
        """The shareable settings ``task`` writes itself, in order (those its pod has: the others write nothing)."""
        covered = self.covered.get(task.var, set())
        pod = task.pod
        return [s for s in SETTINGS if s not in covered and pod is not None and _present(pod, s)]


def _group_name(pod: PodSpec, settings: list[str], taken: set[str]) -> str:
    """A readable constant name from the image's name (``trainer:1.4`` -> TRAINER_POD), _GPU with GPUs."""
    stem = "SHARED"
    if "image" in settings and isinstance(pod.image, str):
        base = pod.image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
        cleaned = re.sub(r"[^A-Z0-9]+", "_", base.upper()).strip("_")
        if cleaned[:1].isalpha():
            stem = cleaned[:40].rstrip("_")
    if "resources" in settings and any(key not in ("cpu", "memory") for key in pod.limits):
        stem += "_GPU"
    name, number = f"{stem}_POD", 2
    while name in taken:
        name, number = f"{stem}_POD_{number}", number + 1
    taken.add(name)
    return name


def pod_profiles(tasks: list[Task]) -> PodProfiles:
    """Which settings the pod tasks share: all of them (``POD_DEFAULTS``) and per group (``<IMAGE>_POD``)."""
    result = PodProfiles()
    pods = [(task, task.pod) for task in tasks if task.pod is not None]
    if len(pods) < 2:
        return result
    keys = {task.var: {setting: _key(pod, setting) for setting in SETTINGS} for task, pod in pods}
    common = [
        setting
        for setting in SETTINGS
        if len({keys[task.var][setting] for task, _ in pods}) == 1 and keys[pods[0][0].var][setting] is not None
    ]
    rest = [setting for setting in SETTINGS if setting not in common]
    groups: dict[tuple[str | None, ...], list[tuple[Task, PodSpec]]] = {}
    for task, pod in pods:
        groups.setdefault(tuple(keys[task.var][setting] for setting in rest), []).append((task, pod))
    if common:
        result.profiles.append(Profile(BASE, common, pods[0][1]))
    taken = {BASE}
    for signature, members in groups.items():
        shared = [setting for setting, key in zip(rest, signature, strict=True) if key is not None]
        if len(members) >= 2 and shared:
            name = _group_name(members[0][1], shared, taken)
            result.profiles.append(Profile(name, shared, members[0][1], base=bool(common)))
            for task, _ in members:
                result.unpack[task.var], result.covered[task.var] = name, set(common) | set(shared)
        elif common:
            for task, _ in members:
                result.unpack[task.var], result.covered[task.var] = BASE, set(common)
    return result
