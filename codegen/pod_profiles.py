"""Pod settings that several KubernetesPodOperator tasks share, written once as module-level dicts.

``POD_DEFAULTS`` holds the settings every pod task of the file has alike (namespace, secrets, ...); an
image's profile such as ``DAGSMITH_STEPS_POD`` (``{**POD_DEFAULTS, ...}``) adds what that image's tasks have
alike (image, resources, ...), and a group within the image (``{**DAGSMITH_STEPS_POD, ...}``) what it has
alike besides (``DAGSMITH_STEPS_ML_RUNNER_POD``: a service account). A task unpacks the deepest profile that
covers it and writes only what is its own, so no keyword is given twice. Names come from the content only.
The values are the same literals the task would otherwise carry, written through the same filters, so the
pods Airflow builds do not change.

A setting that Airflow renders by changing a Kubernetes object in place (resources, volumes) is shared
only when it holds no template text: one shared object rendered for several tasks in one process (as in
``dag.test()``) must stay what it was.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
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
    "arguments",
)
"""The shareable settings, in the order a task writes its keyword arguments (``pod_settings.jinja2``), except
``arguments``, which a task writes after its ``cmds`` (``pod.jinja2``)."""

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
    if setting in _RENDERED_IN_PLACE:
        templated = _HOLDS_TEMPLATE_TEXT.get(text)
        if templated is None:  # the repr names every field, so equal texts hold equal strings
            if len(_HOLDS_TEMPLATE_TEXT) > 4096:
                _HOLDS_TEMPLATE_TEXT.clear()
            marks = any(mark in text for mark in ("{{", "{%", "{#"))
            templated = _HOLDS_TEMPLATE_TEXT[text] = marks or any(escape(part) != part for part in _strings(value))
        if templated:
            return None
    return text


_HOLDS_TEMPLATE_TEXT: dict[str, bool] = {}
"""``repr`` of a setting's value -> whether it holds template text (so pods with the same volumes, resources
check them once); cleared when it grows large."""


@dataclass(slots=True)
class Profile:
    """One module-level dict: its name, the settings it adds, a pod that has them and the dict it extends."""

    name: str
    settings: list[str]
    pod: PodSpec
    extends: Profile | None = None  # starts with **extends.name (POD_DEFAULTS, or the image's profile)

    @property
    def parent(self) -> str | None:
        """The name of the dict this one starts with."""
        return self.extends.name if self.extends is not None else None


@dataclass(slots=True)
class PodProfiles:
    """The dicts to write before the DAG and, per task variable, which dict it unpacks and what that covers."""

    profiles: list[Profile] = field(default_factory=list)
    unpack: dict[str, Profile] = field(default_factory=dict)  # task var -> the profile it unpacks
    covered: dict[str, set[str]] = field(default_factory=dict)  # task var -> settings the profile writes

    def unpacks(self, task: Task) -> str | None:
        """The name of the dict ``task`` unpacks, if any."""
        profile = self.unpack.get(task.var)
        return profile.name if profile is not None else None

    def own(self, task: Task) -> list[str]:
        """The shareable settings ``task`` writes itself, in order (those its pod has: the others write nothing)."""
        covered = self.covered.get(task.var, set())
        pod = task.pod
        return [s for s in SETTINGS if s not in covered and pod is not None and _present(pod, s)]


def _word(text: str) -> str:
    """``text`` as an upper-case identifier part (empty when it does not start with a letter)."""
    cleaned = re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")
    return cleaned[:40].rstrip("_") if cleaned[:1].isalpha() else ""


def _stems(pod: PodSpec) -> list[str]:
    """Names for the image: its repository with the folder above it (``registry.io/ml/trainer:1.4`` -> ML_TRAINER;
    a registry host is left out), then with the tag too (ML_TRAINER_1_4) for when two tags would read the same;
    SHARED for an image with no usable name. The name depends on the image alone, not on the file's other images.
    """
    image = pod.image.split("@", 1)[0] if isinstance(pod.image, str) else ""
    path = image.rsplit("/", 2)
    repo, _, tag = path[-1].partition(":")
    owner = path[-2] if len(path) > 1 else ""
    if any(mark in owner for mark in ".:") or owner == "localhost":
        owner = ""  # a registry host says nothing about the image
    stems = [_word(f"{owner}_{repo}") or _word(repo), _word(f"{owner}_{repo}_{tag}")]
    unique = [stem for index, stem in enumerate(stems) if stem and stem not in stems[:index]]
    return unique or ["SHARED"]


def _has_gpu(pod: PodSpec, settings: list[str]) -> bool:
    return "resources" in settings and any(key not in ("cpu", "memory") for key in pod.limits)


def _qualifier(pod: PodSpec, settings: list[str], image_level: bool) -> str:
    """What a dict adds to the image's name: ``_GPU`` for an image's profile with GPUs; for a group within an
    image, what sets it apart: its service account, else GPUs (_GPU), else CPU resources (_CPU), else its first
    setting."""
    if image_level:
        return "_GPU" if _has_gpu(pod, settings) else ""
    if "service_account" in settings and pod.service_account and _word(pod.service_account):
        return "_" + _word(pod.service_account)
    if _has_gpu(pod, settings):
        return "_GPU"
    return "_CPU" if "resources" in settings else "_" + _word(settings[0])


def _digest(profile: Profile, keys: dict[str, str | None]) -> str:
    """A stable digest of what ``profile`` holds, to tell apart two profiles that would read the same."""
    text = "\n".join([str(profile.parent), *(f"{s}={keys[s]}" for s in profile.settings)])
    return hashlib.sha256(text.encode()).hexdigest().upper()


_Entry = tuple[Profile, list[str], dict[str, str | None]]


def _resolve(entries: list[_Entry], taken: set[str]) -> None:
    """Name each profile by the least specific of its readable names that no other profile (nor ``taken``) has;
    one left sharing its most specific name gets a short content hash (``TRAINER_POD_3F2A1C``)."""
    level = [0] * len(entries)
    while True:
        wanted = [names[at] for at, (_, names, _) in zip(level, entries, strict=True)]
        counts = Counter(wanted)
        clash = {i for i, name in enumerate(wanted) if counts[name] > 1 or name in taken}
        bump = [i for i in clash if level[i] < len(entries[i][1]) - 1]
        if not bump:
            break
        for i in bump:
            level[i] += 1
    taken |= {name for i, name in enumerate(wanted) if i not in clash}
    for i, ((profile, _, keys), name) in enumerate(zip(entries, wanted, strict=True)):
        if i not in clash:
            profile.name = name
            continue
        width = 6
        while f"{name}_{_digest(profile, keys)[:width]}" in taken:
            width += 2
        profile.name = f"{name}_{_digest(profile, keys)[:width]}"
        taken.add(profile.name)


def _name(profiles: list[tuple[Profile, bool, dict[str, str | None]]]) -> None:
    """Name the dicts from their content: an image's profile by the image (``TRAINER_POD``, with the folder or
    the tag only when two images would read the same), a group within it by the image's profile and what it
    adds (``TRAINER_ML_RUNNER_POD``). No name depends on the order of the tasks or on unrelated tasks."""
    taken = {BASE}
    images: list[_Entry] = []
    groups: list[_Entry] = []
    for profile, image, keys in profiles:
        if image:
            suffix = _qualifier(profile.pod, profile.settings, True) + "_POD"
            images.append((profile, [stem + suffix for stem in _stems(profile.pod)], keys))
    _resolve(images, taken)
    for profile, image, keys in profiles:
        if image:
            continue
        suffix = _qualifier(profile.pod, profile.settings, False) + "_POD"
        above = profile.extends
        if above is not None and above.name != BASE:
            groups.append((profile, [above.name.removesuffix("_POD") + suffix], keys))
        else:
            groups.append((profile, [stem + suffix for stem in _stems(profile.pod)], keys))
    _resolve(groups, taken)


def _shared(
    settings: list[str], members: list[tuple[Task, PodSpec]], keys: dict[str, dict[str, str | None]]
) -> list[str]:
    """The settings that all ``members`` have alike and that may be shared."""
    first = keys[members[0][0].var]
    return [
        setting
        for setting in settings
        if first[setting] is not None and all(keys[task.var][setting] == first[setting] for task, _ in members)
    ]


def pod_profiles(tasks: list[Task]) -> PodProfiles:
    """Which settings the pod tasks share, in up to three layers: what all pods have alike (``POD_DEFAULTS``),
    what the pods of one image have alike (``<IMAGE>_POD``), and what a group of those has alike besides
    (``<IMAGE>_<ACCOUNT>_POD``, ...). Each layer's dict starts with the one above; a task unpacks the deepest that
    covers it and writes the rest itself. Names come from the content, so they stay when other tasks change."""
    result = PodProfiles()
    pods = [(task, task.pod) for task in tasks if task.pod is not None]
    if len(pods) < 2:
        return result
    keys = {task.var: {setting: _key(pod, setting) for setting in SETTINGS} for task, pod in pods}
    for task, _ in pods:
        if task.kind == "mapped_pod":
            keys[task.var]["arguments"] = None  # a mapped pod gets its arguments from expand(), never a profile
    common = _shared(list(SETTINGS), pods, keys)
    rest = [setting for setting in SETTINGS if setting not in common]
    base = Profile(BASE, common, pods[0][1]) if common else None
    if base is not None:
        result.profiles.append(base)
    named: list[tuple[Profile, bool, dict[str, str | None]]] = []

    def add(members: list[tuple[Task, PodSpec]], shared: list[str], extends: Profile | None, image: bool) -> Profile:
        profile = Profile("", shared, members[0][1], extends)
        named.append((profile, image, keys[members[0][0].var]))
        result.profiles.append(profile)
        return profile

    images: dict[str | None, list[tuple[Task, PodSpec]]] = {}
    for task, pod in pods:
        images.setdefault(keys[task.var]["image"], []).append((task, pod))
    for members in images.values():
        applied = _shared(rest, members, keys) if len(members) >= 2 else []
        above = add(members, applied, base, True) if applied else base
        remaining = [setting for setting in rest if setting not in applied]
        groups: dict[tuple[str | None, ...], list[tuple[Task, PodSpec]]] = {}
        for task, pod in members:
            groups.setdefault(tuple(keys[task.var][setting] for setting in remaining), []).append((task, pod))
        for group in groups.values():
            shared = _shared(remaining, group, keys) if len(group) >= 2 else []
            deepest = add(group, shared, above, False) if shared else above
            if deepest is None:
                continue
            for task, _ in group:
                result.unpack[task.var] = deepest
                result.covered[task.var] = set(common) | set(applied) | set(shared)
    _name(named)
    return result
