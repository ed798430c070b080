"""Where each target finds what the generated DAG uses: the one place that knows Airflow versions."""

from __future__ import annotations

from dataclasses import dataclass

TARGETS = ("airflow3", "airflow2")
"""Export targets, newest first."""

LOCAL = "local"
"""The run target: Airflow 3 on this machine, every step a local process (see ``local``)."""

LOCAL_BASH_NAME = "DAGSMITH_BASH"
LOCAL_BASH = 'exec "${DAGSMITH_PYTHON:-python3}" -c "$DAGSMITH_LAUNCHER"'
"""The one command every BashOperator of a local DAG runs (``LOCAL_BASH_NAME`` in the file): it starts the
launcher, which reads the step's command line from environment variables. No user text reaches bash."""


@dataclass(frozen=True, slots=True)
class Target:
    """One Airflow major version: the module each imported name comes from."""

    name: str
    airflow: str
    modules: dict[str, str]

    def imports(self, names: set[str]) -> list[tuple[str, list[str]]]:
        """``from module import a, b`` pairs for ``names``, sorted as isort/ruff sorts them."""
        by_module: dict[str, list[str]] = {}
        for name in names:
            by_module.setdefault(self.modules[name], []).append(name)
        return sorted((module, sorted(found, key=_isort_key)) for module, found in by_module.items())


def _isort_key(name: str) -> tuple[int, str]:
    # isort's default "force_sort_within_sections" order: CONSTANTS, Classes, functions.
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


_COMMON = {
    "KubernetesPodOperator": "airflow.providers.cncf.kubernetes.operators.pod",
    "Secret": "airflow.providers.cncf.kubernetes.secret",
}

AIRFLOW3 = Target(
    name="airflow3",
    airflow=">=3.0",
    modules={
        **_COMMON,
        "DAG": "airflow.sdk",
        "Param": "airflow.sdk",
        "timezone": "airflow.sdk",
        "EmptyOperator": "airflow.providers.standard.operators.empty",
        "ShortCircuitOperator": "airflow.providers.standard.operators.python",
        "TriggerDagRunOperator": "airflow.providers.standard.operators.trigger_dagrun",
    },
)

AIRFLOW2 = Target(
    name="airflow2",
    airflow=">=2.10,<3",
    modules={
        **_COMMON,
        "DAG": "airflow",
        "Param": "airflow.models.param",
        "timezone": "airflow.utils",
        # The standard provider is optional in 2.x; the core modules are always there.
        "EmptyOperator": "airflow.operators.empty",
        "ShortCircuitOperator": "airflow.operators.python",
        "TriggerDagRunOperator": "airflow.operators.trigger_dagrun",
    },
)

LOCAL_TARGET = Target(
    name=LOCAL,
    airflow=">=3.0",
    modules={
        "DAG": "airflow.sdk",
        "Param": "airflow.sdk",
        "timezone": "airflow.sdk",
        "BashOperator": "airflow.providers.standard.operators.bash",
        "EmptyOperator": "airflow.providers.standard.operators.empty",
        "ShortCircuitOperator": "airflow.providers.standard.operators.python",
        "TriggerDagRunOperator": "airflow.providers.standard.operators.trigger_dagrun",
    },
)

_BY_NAME = {target.name: target for target in (AIRFLOW3, AIRFLOW2, LOCAL_TARGET)}


def target(name: str) -> Target:
    """The target called ``name``; ValueError naming the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"unknown export target {name!r}; use one of {', '.join(TARGETS)} (or {LOCAL!r} to run on this machine)"
        ) from None


ALLOWED_FROM_IMPORTS: dict[str, frozenset[str]] = {}
for _target in _BY_NAME.values():
    for _name, _module in _target.modules.items():
        ALLOWED_FROM_IMPORTS[_module] = ALLOWED_FROM_IMPORTS.get(_module, frozenset()) | {_name}
ALLOWED_FROM_IMPORTS["__future__"] = frozenset({"annotations"})
ALLOWED_FROM_IMPORTS["kubernetes.client"] = frozenset({"models"})
"""Every ``from X import Y`` a generated file may contain, over all targets."""

ALLOWED_IMPORTS = frozenset({"datetime", "json", "operator"})
"""Standard-library modules a generated file may ``import``."""
