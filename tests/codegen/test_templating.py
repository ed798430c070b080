"""Template escaping: user strings keep only the allowed run-time macros once Airflow renders them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dagsmith.codegen import MACROS, escape
from dagsmith.codegen.templating import MACRO_RE, Tmpl

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


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return f"<param {key}>"


def airflow_like_env() -> jinja2.Environment:
    """Airflow's default task template environment: sandboxed, StrictUndefined, jinja2.ext.do."""
    return jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.do"])


class _NoXCom:
    def xcom_pull(self, **_: Any) -> None:
        return None


def rendered(text: str) -> str:
    """What Airflow makes of a templated string."""
    return airflow_like_env().from_string(text).render(**CONTEXT, params=_Params(), ti=_NoXCom())


def expected(original: str) -> str:
    """The original with the allowed macros (and only those) substituted."""

    def value(match: Any) -> str:
        name = match.group(0).strip("{} \t\n\r\f\v")
        return f"<param {name[7:]}>" if name.startswith("params.") else str(CONTEXT[name])

    return MACRO_RE.sub(value, original)


JINJA_BITS = st.sampled_from(
    ["{{", "}}", "{%", "%}", "{#", "#}", "{", "}", "{{ conf }}", "{% raw %}", "{{ ds }}", "{{params.x}}", "\r", "\n"]
)
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
    assert rendered(escape(text, macros=False)) == text


@pytest.mark.parametrize("macro", [*MACROS, "params.learning_rate"])
@pytest.mark.parametrize("spacing", ["{{%s}}", "{{ %s }}", "{{  %s\t}}"])
def test_allowed_macros_stay_live(macro: str, spacing: str) -> None:
    text = spacing % macro
    assert escape(text) == text


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


def test_tmpl_joins_escaped_user_text_with_macros() -> None:
    path = Tmpl.literal("s3://b/{x}{") + Tmpl.macro("run_id") + Tmpl.literal("/{{ conf }}")
    assert rendered(path.final()) == "s3://b/{x}{manual__2026-01-02/{{ conf }}"
    assert Tmpl.user("a {{ ds }} {{ conf }}").final() == escape("a {{ ds }} {{ conf }}")
