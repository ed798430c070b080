"""Template escaping: user strings keep only the allowed run-time macros once Airflow renders them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import jinja2.sandbox
import pendulum
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dagsmith.codegen import MACROS, escape
from dagsmith.codegen.templating import MACRO_RE, RUN_MACROS, Tmpl, run_macro

CONTEXT: dict[str, Any] = {
    "ds": "2026-01-02",
    "ds_nodash": "20260102",
    "ts_nodash": "20260102T000000",
    "ts": "2026-01-02T00:00:00+00:00",
    "run_id": "manual__2026-01-02",
    "logical_date": "2026-01-02 00:00:00+00:00",
    "data_interval_start": "S",
    "data_interval_end": "E",
    "conf": "LEAKED",
    "var": {"value": {"secret": "LEAKED"}},
}
"""A run with a logical date (the values stand in for Airflow's; see the tests with real datetimes)."""

RUN_AFTER = dt.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC)
NO_LOGICAL_DATE: dict[str, Any] = {
    "run_id": "manual__2026-03-04T05:06:07.890123+00:00",
    "dag_run": SimpleNamespace(logical_date=None, run_after=RUN_AFTER),
    "conf": "LEAKED",
    "var": {"value": {"secret": "LEAKED"}},
}
"""Airflow 3's context of a run without a logical date: no ds, ts, logical_date, data interval."""

NO_LOGICAL_DATE_VALUES = {
    "ds": "2026-03-04",
    "ds_nodash": "20260304",
    "ts": "2026-03-04T05:06:07.890123+00:00",
    "ts_nodash": "20260304T050607",
    "run_id": NO_LOGICAL_DATE["run_id"],
    "logical_date": "2026-03-04 05:06:07.890123+00:00",
    "data_interval_start": "2026-03-04 05:06:07.890123+00:00",
    "data_interval_end": "2026-03-04 05:06:07.890123+00:00",
}
"""What each macro renders to in that run: run_after in the macro's own format."""

EMITTED = {
    "ds": "{{ ds if ds is defined else dag_run.run_after | ds }}",
    "ds_nodash": "{{ ds_nodash if ds_nodash is defined else dag_run.run_after | ds_nodash }}",
    "ts": "{{ ts if ts is defined else dag_run.run_after | ts }}",
    "ts_nodash": "{{ ts_nodash if ts_nodash is defined else dag_run.run_after | ts_nodash }}",
    "run_id": "{{ run_id }}",
    "logical_date": "{{ logical_date if logical_date is defined else dag_run.run_after }}",
    "data_interval_start": "{{ data_interval_start if data_interval_start is defined else dag_run.run_after }}",
    "data_interval_end": "{{ data_interval_end if data_interval_end is defined else dag_run.run_after }}",
}
"""The text written into a templated field for each run-time macro."""

AIRFLOW_FILTERS = {
    "ds": lambda value: value.strftime("%Y-%m-%d"),
    "ds_nodash": lambda value: value.strftime("%Y%m%d"),
    "ts": lambda value: value.isoformat(),
    "ts_nodash": lambda value: value.strftime("%Y%m%dT%H%M%S"),
}
"""Airflow's own date filters (``templater.FILTERS``, the same in Airflow 2 and 3; checked against the real ones
in ``test_airflows_own_filters_and_template_env_render_the_forms``)."""


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return f"<param {key}>"


def airflow_like_env() -> jinja2.Environment:
    """Airflow's default task template environment: sandboxed, StrictUndefined, jinja2.ext.do, its filters."""
    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.do"])
    env.filters.update(AIRFLOW_FILTERS)
    return env


class _NoXCom:
    def xcom_pull(self, **_: Any) -> None:
        return None


def rendered(text: str, context: dict[str, Any] = CONTEXT) -> str:
    """What Airflow makes of a templated string (by default in a run with a logical date)."""
    return airflow_like_env().from_string(text).render(**context, params=_Params(), ti=_NoXCom())


def expected(original: str, values: dict[str, Any] = CONTEXT) -> str:
    """The original with the allowed macros (and only those) substituted."""

    def value(match: Any) -> str:
        name = match.group("name")
        return f"<param {name[7:]}>" if name.startswith("params.") else str(values[name])

    return MACRO_RE.sub(value, original)


JINJA_BITS = st.sampled_from(
    ["{{", "}}", "{%", "%}", "{#", "#}", "{", "}", "{{ conf }}", "{% raw %}", "{{ ds }}", "{{params.x}}", "\r", "\n",
     "{{ts_nodash}}", "{{ logical_date }}", "{{ data_interval_end }}", "{{ run_id }}", "{{ ts }}"]
)  # fmt: skip
NASTY = st.lists(st.text(max_size=6) | JINJA_BITS, max_size=8).map("".join)


@given(NASTY)
@example("{{ ''.__class__.__mro__ }}")
@example("{% for x in range(3) %}{{ x }}{% endfor %}")
@example("{{ var.value.secret }}{{ conf }}")
@example("{{{ ds }}}")
@example("line\r\nbreak\n")
@example("{\n")
@example("{\r")
@example("{{\r\n")
@example("config.json")
@example("{{ ds }}.yaml")
def test_escaped_text_renders_to_itself_except_allowed_macros(text: str) -> None:
    assert rendered(escape(text)) == expected(text)
    assert rendered(escape(text), NO_LOGICAL_DATE) == expected(text, NO_LOGICAL_DATE_VALUES)
    assert rendered(escape(text, macros=False)) == text


@pytest.mark.parametrize("macro", MACROS)
@pytest.mark.parametrize("spacing", ["{{%s}}", "{{ %s }}", "{{  %s\t}}"])
def test_allowed_macros_are_written_in_the_form_that_works_without_a_logical_date(macro: str, spacing: str) -> None:
    text = spacing % macro
    assert escape(text) == EMITTED[macro]
    assert Tmpl.user(text) == run_macro(macro)
    assert escape("a " + text + " b") == "a " + EMITTED[macro] + " b"


@pytest.mark.parametrize("spacing", ["{{params.learning_rate}}", "{{ params.learning_rate }}", "{{  params.lr\t}}"])
def test_params_stay_as_written(spacing: str) -> None:
    assert escape(spacing) == spacing


def test_the_mapping_covers_every_macro_and_ts() -> None:
    assert set(RUN_MACROS) == {*MACROS, "ts"}
    assert {name: run_macro(name).final() for name in RUN_MACROS} == EMITTED


def _airflow_context(logical_date: dt.datetime) -> dict[str, Any]:
    """The date keys Airflow 3 (task_runner) and Airflow 2 (taskinstance) put in a run's context."""
    as_pendulum = pendulum.instance(logical_date)
    return {
        "logical_date": as_pendulum,
        "ds": as_pendulum.strftime("%Y-%m-%d"),
        "ds_nodash": as_pendulum.strftime("%Y%m%d"),
        "ts": as_pendulum.isoformat(),
        "ts_nodash": as_pendulum.strftime("%Y%m%dT%H%M%S"),
        "data_interval_start": as_pendulum,
        "data_interval_end": pendulum.instance(logical_date + dt.timedelta(days=1)),
        "run_id": "scheduled__x",
        "dag_run": SimpleNamespace(logical_date=logical_date, run_after=RUN_AFTER),
    }


@pytest.mark.parametrize(
    "logical_date",
    [dt.datetime(2026, 1, 2, tzinfo=dt.UTC), dt.datetime(2026, 12, 31, 23, 59, 58, 123456, tzinfo=dt.UTC)],
)
@pytest.mark.parametrize("name", sorted(RUN_MACROS))
def test_with_a_logical_date_every_form_renders_as_the_bare_macro(logical_date: dt.datetime, name: str) -> None:
    context = _airflow_context(logical_date)
    bare = rendered("{{ " + name + " }}", context)
    assert rendered(EMITTED[name], context) == bare
    if name in MACROS:  # user text may use it
        assert rendered(escape("a/{{ " + name + " }}/b"), context) == f"a/{bare}/b"


@pytest.mark.parametrize("name", sorted(set(RUN_MACROS) - {"run_id"}))
def test_without_a_logical_date_the_bare_date_macros_fail_and_the_forms_render_run_after(name: str) -> None:
    with pytest.raises(jinja2.UndefinedError):
        rendered("{{ " + name + " }}", NO_LOGICAL_DATE)
    assert rendered(EMITTED[name], NO_LOGICAL_DATE) == NO_LOGICAL_DATE_VALUES[name]


def test_run_id_renders_with_and_without_a_logical_date() -> None:
    assert rendered(EMITTED["run_id"], NO_LOGICAL_DATE) == NO_LOGICAL_DATE["run_id"]
    assert rendered(EMITTED["run_id"]) == CONTEXT["run_id"]


@pytest.mark.parametrize(
    "text",
    ["{{ conf }}", "{{ var.value.x }}", "{% if 1 %}x{% endif %}", "{# c #}", "{{ ''.__class__ }}", "{{- ds }}"],
)
def test_other_jinja_stays_literal(text: str) -> None:
    assert escape(text) != text
    assert rendered(escape(text)) == text


@pytest.mark.parametrize("ending", ["x.json", "y.yaml", "z.yml", "{{ ds }}.json", "plainjson"])
def test_template_file_endings_are_broken_up(ending: str) -> None:
    assert not escape(ending).endswith(("json", "yaml", "yml"))


def test_airflow_does_not_load_an_escaped_string_as_a_template_file(airflow_home: Path, tmp_path: Path) -> None:
    """A templated field ending in a template_ext entry is read as a file unless escaped."""
    from airflow.sdk import DAG, BaseOperator

    class Fielded(BaseOperator):
        template_fields = ("value", "values")
        template_ext = (".json", ".yaml", ".yml")

        def __init__(self, *, value: str, values: list[str], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.value = value
            self.values = values

    with DAG(dag_id="ext", schedule=None, template_searchpath=[str(tmp_path)]) as dag:
        raw = Fielded(task_id="raw", value="config.json", values=[])
        safe = Fielded(task_id="safe", value=escape("config.json"), values=[escape("a {{ ds }}.yaml")])
    env = dag.get_template_env()
    with pytest.raises(jinja2.TemplateNotFound):
        raw.render_template_fields({"ds": "2026-01-02"}, env)
    safe.render_template_fields({"ds": "2026-01-02"}, env)
    assert safe.value == "config.json"
    assert safe.values == ["a 2026-01-02.yaml"]


def test_airflows_own_filters_and_template_env_render_the_forms(airflow_home: Path) -> None:
    """The stand-in filters above are Airflow's, and Airflow's task template env renders every form."""
    from airflow.sdk import DAG
    from airflow.sdk.definitions._internal.templater import FILTERS

    env = DAG(dag_id="filters", schedule=None).get_template_env()
    moments = [RUN_AFTER, dt.datetime(2026, 1, 2, tzinfo=dt.UTC), pendulum.datetime(2026, 7, 8, 9, 10, 11, tz="UTC")]
    for name, stand_in in AIRFLOW_FILTERS.items():
        for moment in moments:
            assert env.filters[name](moment) == FILTERS[name](moment) == stand_in(moment)
    for name, form in EMITTED.items():
        assert env.from_string(form).render(**NO_LOGICAL_DATE) == NO_LOGICAL_DATE_VALUES[name]
        with_date = _airflow_context(dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
        assert env.from_string(form).render(**with_date) == env.from_string("{{ " + name + " }}").render(**with_date)


def test_tmpl_joins_escaped_user_text_with_macros() -> None:
    path = Tmpl.literal("s3://b/{x}{") + Tmpl.macro("run_id") + Tmpl.literal("/{{ conf }}")
    assert rendered(path.final()) == "s3://b/{x}{manual__2026-01-02/{{ conf }}"
    assert Tmpl.user("a {{ ds }} {{ conf }}").final() == escape("a {{ ds }} {{ conf }}")


def test_templating_keeps_exactly_the_references_validation_checks() -> None:
    from dagsmith.codegen.templating import MACRO_RE
    from dagsmith.nodes.param_refs import param_refs

    for text in ["{{ params.a }}", "{{params.b_2}}", "{{ params['x'] }}", "{{ params.a | upper }}", "{{ params._x }}"]:
        kept = [m.group("name") for m in MACRO_RE.finditer(text)]
        assert [name.removeprefix("params.") for name in kept] == param_refs(text)
