"""Value checks shared by the document model: Kubernetes quantities, names, images, cron, templates.

Each check is a plain function that raises ``PydanticCustomError`` with a message saying what to do.
They run only when a model is validated with ``CHECKED`` as context, so that loading a document never
fails on a value the user is still typing; ``validate()`` applies them.
"""

from __future__ import annotations

import difflib
import importlib.util
import keyword
import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

from pydantic import AfterValidator, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

CHECKED: dict[str, bool] = {"checked": True}
"""Validation context that switches the value checks on."""

SCHEDULE_PRESETS = (
    "@once",
    "@continuous",
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
    "@annually",
)

PLACEHOLDERS = (
    "dag_id",
    "ds",
    "ds_nodash",
    "logical_date",
    "node",
    "output",
    "pipeline",
    "run_id",
    "task_id",
    "ts_nodash",
    "version",
)
"""Placeholders allowed in artifact path templates and naming formats."""

RESERVED_ENV_PREFIX = "DAGSMITH_"

MAX_DURATION_SECONDS = 365 * 24 * 60 * 60
"""The longest timeout or delay a field takes: 365 days (Python's timedelta, which Airflow uses, would
overflow near 2.7 million years; a year is far past any sane step and keeps every value an int32)."""
MAX_DURATION_MINUTES = MAX_DURATION_SECONDS // 60
DURATION_NOTE = "365 days"
MAX_SEED = 2**32 - 1
"""The largest sampling seed (numpy's ``RandomState`` and most samplers take an unsigned 32-bit seed)."""

_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN_RE = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")
_LABEL_NAME_RE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)")
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_IMAGE_DOMAIN = (
    r"(?:localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
)
_IMAGE_RE = re.compile(
    rf"(?:{_IMAGE_DOMAIN}/)?{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
_URI_RE = re.compile(r"(?:s3|s3a|gs|gcs|abfs|abfss|az|hdfs|file|oss|cos)://[^\s]+")
# Kubernetes' quantity grammar (apimachinery resource.Quantity); the Python parser alone also takes
# ' 2', '1_000', 'Infinity' and 'NaN', which the API server rejects.
_QUANTITY_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[eE][+-]?[0-9]+|[numkMGTPE])?")


def _load_quantity_module() -> ModuleType:
    """Load ``kubernetes.utils.quantity`` without importing the whole kubernetes client (2 s).

    The module only needs ``decimal``; importing it through its package would run
    ``kubernetes/__init__`` and its generated client, which the CLI's start-up cannot afford.
    A frozen desktop build has no source file to load, so it imports the module the usual way.
    """
    spec = importlib.util.find_spec("kubernetes")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / "utils" / "quantity.py" if locations else None
    if path is None or not path.is_file():
        from kubernetes.utils import quantity

        return quantity
    qspec = importlib.util.spec_from_file_location("_dagsmith_k8s_quantity", path)
    if qspec is None or qspec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(qspec)
    qspec.loader.exec_module(module)
    return module


_parse_quantity: Callable[[str], Decimal] = _load_quantity_module().parse_quantity


def fail(kind: str, message: str) -> PydanticCustomError:
    """Build the error a check raises (no ``Value error,`` prefix, unlike ``ValueError``).

    The message is final text: no context is passed, so braces in it stay as written.
    """
    return PydanticCustomError(kind, message)


def closest(word: str, candidates: list[str] | tuple[str, ...], n: int = 3) -> list[str]:
    """Close matches for ``word`` among ``candidates``, best first (for 'did you mean')."""
    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.6)


def did_you_mean(word: str, candidates: list[str] | tuple[str, ...]) -> str:
    """A ' Did you mean ...?' sentence, or '' when nothing is close."""
    matches = closest(word, candidates)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(repr(m) for m in matches) + "?"


@lru_cache(maxsize=4096)
def parse_quantity(value: str) -> Decimal:
    """Parse a Kubernetes quantity with the kubernetes library's own parser; ValueError if invalid."""
    return _parse_quantity(value)


@lru_cache(maxsize=8192)
def check_quantity(value: str) -> str:
    """A Kubernetes quantity such as ``500m``, ``2``, ``16Gi``."""
    try:
        if not _QUANTITY_RE.fullmatch(value):
            raise ValueError(value)
        amount = parse_quantity(value)
    except (ValueError, ArithmeticError, TypeError):
        raise fail(
            "quantity",
            f"{value!r} is not a Kubernetes quantity; write a number with an optional unit, "
            "such as '500m' or '2' for CPU and '512Mi' or '16Gi' for memory",
        ) from None
    if amount < 0:
        raise fail("quantity", f"{value!r} is negative; quantities must be zero or more")
    return value


@lru_cache(maxsize=8192)
def check_image(value: str) -> str:
    """A container image reference: ``[registry[:port]/]path[:tag][@digest]``."""
    if not _IMAGE_RE.fullmatch(value) or len(value) > 512:
        raise fail(
            "image",
            f"{value!r} is not a container image reference; write e.g. "
            "'registry.example.com/team/trainer:1.4' (lowercase path, optional tag or digest)",
        )
    return value


@lru_cache(maxsize=8192)
def check_env_name(value: str) -> str:
    """An environment variable name that a container accepts and dagsmith does not reserve."""
    if not _ENV_RE.fullmatch(value):
        raise fail(
            "env_name",
            f"{value!r} is not a valid environment variable name; use letters, digits and "
            "underscores, not starting with a digit (e.g. 'BATCH_SIZE')",
        )
    if value.upper().startswith(RESERVED_ENV_PREFIX):
        raise fail(
            "env_name",
            f"{value!r} starts with 'DAGSMITH_', which dagsmith reserves for artifact paths; rename it",
        )
    return value


@lru_cache(maxsize=8192)
def check_dns_subdomain(value: str) -> str:
    """A Kubernetes object name (secret, PVC, namespace, service account): RFC 1123 subdomain."""
    if len(value) > 253 or not _DNS_SUBDOMAIN_RE.fullmatch(value):
        raise fail(
            "k8s_name",
            f"{value!r} is not a valid Kubernetes name; use lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 253 characters (e.g. 'ml-data')",
        )
    return value


@lru_cache(maxsize=8192)
def check_dns_label(value: str) -> str:
    """A Kubernetes name limited to one DNS label (63 characters, no dots), e.g. a Deployment name."""
    if len(value) > 63 or not re.fullmatch(_DNS_LABEL, value):
        raise fail(
            "k8s_name",
            f"{value!r} is not a valid Kubernetes resource name; use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters (e.g. 'keyword-api')",
        )
    return value


@lru_cache(maxsize=8192)
def check_label_key(value: str) -> str:
    """A label or annotation key: optional DNS-subdomain prefix and a name of at most 63 characters."""
    prefix, slash, name = value.rpartition("/")
    prefix_ok = not slash or (0 < len(prefix) <= 253 and _DNS_SUBDOMAIN_RE.fullmatch(prefix))
    if not prefix_ok or len(name) > 63 or not _LABEL_NAME_RE.fullmatch(name):
        raise fail(
            "label_key",
            f"{value!r} is not a valid Kubernetes label key; use an optional prefix such as "
            "'example.com/' and a name of letters, digits, '-', '_' and '.' (at most 63 characters)",
        )
    return value


@lru_cache(maxsize=8192)
def check_label_value(value: str) -> str:
    """A label value: empty, or at most 63 characters of letters, digits, '-', '_' and '.'."""
    if value and (len(value) > 63 or not _LABEL_NAME_RE.fullmatch(value)):
        raise fail(
            "label_value",
            f"{value!r} is not a valid Kubernetes label value; use at most 63 letters, digits, "
            "'-', '_' and '.', starting and ending with a letter or digit",
        )
    return value


@lru_cache(maxsize=8192)
def check_schedule(value: str) -> str:
    """A cron expression (five fields) or an Airflow preset such as ``@daily``."""
    if value.startswith("@"):
        if value not in SCHEDULE_PRESETS:
            raise fail(
                "schedule",
                f"{value!r} is not a schedule preset; use one of "
                + ", ".join(SCHEDULE_PRESETS)
                + "."
                + did_you_mean(value, SCHEDULE_PRESETS),
            )
        return value
    from croniter import croniter

    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise fail(
            "schedule",
            f"{value!r} is not a valid cron expression; write five fields 'minute hour day month "
            "weekday', e.g. '0 3 * * *' for 03:00 every day, or a preset such as '@daily'",
        )
    return value


_DAG_ID_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}")


def dag_id_problem(dag_id: str) -> str | None:
    """Why ``dag_id`` cannot be used, or None: the one rule of validation and the exporter.

    Airflow takes up to 250 letters, digits, '_', '.' and '-'. The dag_id also names the exported
    files (``dags/<dag_id>.py``) and fills ``{dag_id}`` in artifact paths, so it is ASCII and does not
    start with '.': neither '.', '..' nor a hidden file.
    """
    if _DAG_ID_RE.fullmatch(dag_id):
        return None
    return (
        f"the dag_id {dag_id!r} cannot name a file or an Airflow DAG; use 1 to 250 ASCII letters, digits, "
        "'_', '.' and '-', not starting with '.'"
    )


def template_fields(template: str) -> list[str]:
    """The placeholder names used in ``template``; raises ValueError on malformed braces."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


@lru_cache(maxsize=8192)
def check_template(value: str) -> str:
    """A path template or naming format using only the known ``{placeholders}``."""
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError:
        raise fail(
            "template",
            f"{value!r} has an unmatched '{{' or '}}'; write placeholders as '{{run_id}}' and a "
            "literal brace doubled, as '{{' or '}}'",
        ) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            raise fail(
                "template",
                f"{value!r} uses the unknown placeholder {name!r}; use one of "
                + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                + "."
                + did_you_mean(name, PLACEHOLDERS),
            )
        if spec or conversion:
            raise fail(
                "template",
                f"{value!r}: placeholder {name!r} has a format specification; write it plainly as '{{" + name + "}'",
            )
    if ".." in value.replace("\\", "/").split("/"):
        raise fail("template", f"{value!r} contains '..'; artifact paths must stay under the root")
    return value


@lru_cache(maxsize=8192)
def check_uri(value: str) -> str:
    """An artifact root: an absolute local path or a URI such as ``s3://bucket/prefix``."""
    if not (value.startswith("/") or _URI_RE.fullmatch(value)):
        raise fail(
            "uri",
            f"{value!r} is not an artifact root; write an absolute path ('/data/artifacts') or a URI "
            "such as 's3://bucket/ml' or 'gs://bucket/ml'",
        )
    return value


@lru_cache(maxsize=8192)
def check_identifier(value: str) -> str:
    """A Python identifier that is not a keyword (run-time parameter names)."""
    if not value.isidentifier() or keyword.iskeyword(value) or not value.isascii():
        raise fail(
            "identifier",
            f"{value!r} is not a valid parameter name; use ASCII letters, digits and underscores, "
            "not starting with a digit and not a Python keyword (e.g. 'learning_rate')",
        )
    return value


_POOL_RE = re.compile(r"[A-Za-z0-9_.-]{1,256}")


@lru_cache(maxsize=1024)
def check_pool_name(value: str) -> str:
    """An Airflow pool name: 1 to 256 ASCII letters, digits, '_', '.' and '-'."""
    if not _POOL_RE.fullmatch(value):
        raise fail(
            "pool_name",
            f"{value!r} is not a valid Airflow pool name; use 1 to 256 ASCII letters, digits, '_', '.' and '-' "
            "(e.g. 'gpu'), and create the pool in Airflow",
        )
    return value


def _checked(check: Callable[[Any], Any]) -> AfterValidator:
    def run(value: Any, info: ValidationInfo) -> Any:
        context = info.context
        if context is not None and context.get("checked"):
            return check(value)
        return value

    return AfterValidator(run)


@dataclass(frozen=True, slots=True)
class Bounds:
    """Numeric bounds, as ``Annotated[int, Bounds(ge=0, le=100)]``, checked like the other value checks.

    Unlike ``Field(ge=...)`` they do not stop a document from loading: an out-of-range number the
    user entered is kept and reported by ``validate()``. The JSON Schema still states them.
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    note: str = ""
    """What the maximum means, for the message (e.g. '365 days')."""

    def allowed(self) -> str:
        """The allowed range in words: 'from 0 to 31536000 (365 days)', 'above 0', '1 or more'."""
        low = f"from {self.ge!r}" if self.ge is not None else f"above {self.gt!r}" if self.gt is not None else ""
        high = f"{self.le!r}" + (f" ({self.note})" if self.note else "") if self.le is not None else ""
        if low and high:
            return f"{low} to {high}" if self.ge is not None else f"{low} and at most {high}"
        return low or (f"at most {high}" if high else "any number")

    def check(self, value: Any) -> Any:
        """The value, or an error saying which bound it breaks and the allowed range."""
        if value is None:
            return value
        if isinstance(value, float) and not math.isfinite(value):
            raise fail("range", f"{value!r} is not a finite number; enter a number {self.allowed()}")
        if self.ge is not None and value < self.ge:
            raise fail("range", f"{value!r} is below the minimum {self.ge!r}; enter a number {self.allowed()}")
        if self.gt is not None and value <= self.gt:
            raise fail("range", f"{value!r} is too small; enter a number {self.allowed()}")
        if self.le is not None and value > self.le:
            raise fail(
                "range", f"{_short_number(value)} is above the maximum {self.le!r}; enter a number {self.allowed()}"
            )
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        def run(value: Any, info: ValidationInfo) -> Any:
            return self.check(value) if info.context and info.context.get("checked") else value

        return core_schema.with_info_after_validator_function(run, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        result = handler(schema)
        for key, bound in (("minimum", self.ge), ("exclusiveMinimum", self.gt), ("maximum", self.le)):
            if bound is not None:
                result[key] = bound
        return result


def _short_number(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} digits)"


DURATION_SECONDS = Bounds(ge=0, le=MAX_DURATION_SECONDS, note=DURATION_NOTE)
"""A delay in seconds: zero up to 365 days."""
TIMEOUT_SECONDS = Bounds(gt=0, le=MAX_DURATION_SECONDS, note=DURATION_NOTE)
"""A timeout in seconds: above zero, at most 365 days."""
TIMEOUT_MINUTES = Bounds(gt=0, le=MAX_DURATION_MINUTES, note=DURATION_NOTE)
"""A timeout in minutes: above zero, at most 365 days."""

Quantity = Annotated[str, _checked(check_quantity)]
ImageRef = Annotated[str, _checked(check_image)]
EnvName = Annotated[str, _checked(check_env_name)]
K8sName = Annotated[str, _checked(check_dns_subdomain)]
K8sShortName = Annotated[str, _checked(check_dns_label)]
LabelKey = Annotated[str, _checked(check_label_key)]
LabelValue = Annotated[str, _checked(check_label_value)]
Schedule = Annotated[str, _checked(check_schedule)]
Template = Annotated[str, _checked(check_template)]
ArtifactRoot = Annotated[str, _checked(check_uri)]
Identifier = Annotated[str, _checked(check_identifier)]
PoolName = Annotated[str, _checked(check_pool_name)]
