"""Environment variables from Airflow Variables and Connections, and the MLflow server of every step."""

from __future__ import annotations

from typing import Any

import pytest
from sample_pipelines import node, pipeline

from dagsmith.codegen import ExportError, render
from dagsmith.codegen.artifacts import step_env
from dagsmith.nodes import PodSettings, validate
from dagsmith.nodes.document import PipelineSettings


def _script(env: list[dict[str, Any]], **settings: Any) -> Any:
    pod = {"env": env}
    return pipeline("env sources", [node("train", "script", inputs=[], pod=pod)], [], **settings)


def _errors(doc: Any) -> list[tuple[str | None, str]]:
    return [(issue.field, issue.message) for issue in validate(doc) if issue.is_error]


def test_a_variable_and_a_connection_field_become_airflow_templates_built_from_the_names() -> None:
    text = render(
        _script(
            [
                {"name": "BUCKET", "source": "variable", "variable": "feature.bucket-1"},
                {"name": "DB_URI", "source": "connection", "connection": "warehouse_db", "connection_field": "uri"},
                {"name": "DB_PORT", "source": "connection", "connection": "warehouse_db", "connection_field": "port"},
            ]
        )
    )
    assert '"BUCKET": "{{ var.value[\'feature.bucket-1\'] }}",' in text
    assert "\"DB_URI\": \"{{ conn['warehouse_db'].get_uri() or '' }}\"," in text
    assert "\"DB_PORT\": \"{{ conn['warehouse_db'].port or '' }}\"," in text


def test_a_plain_value_still_loads_and_stays_escaped() -> None:
    """Files written before the typed choice (name and value only) mean what they meant."""
    text = render(_script([{"name": "NOTE", "value": "{{ var.value.secret }} on {{ ds }}"}]))
    assert "{{ var.value.secret }}" not in text  # free Jinja is escaped, as before
    assert '"NOTE": "{{ \'{\' }}{ var.value.secret }} on {{ ds if ds is defined' in text


@pytest.mark.parametrize(
    ("entry", "field", "words"),
    [
        ({"source": "variable", "variable": "x'] }}{{ 7*7"}, "variable", "not an Airflow Variable key"),
        ({"source": "variable", "variable": "_private"}, "variable", "starting with a letter or digit"),
        ({"source": "connection", "connection": "db", "connection_field": "__class__"}, "connection_field", ""),
        ({"source": "connection", "connection": "db"}, None, "pick 'connection_field'"),
        ({"source": "variable"}, None, "enter its key in 'variable'"),
        ({"source": "variable", "variable": "x", "value": "typed"}, None, "'value' is not used"),
        ({"source": "jinja", "value": "{{ conf }}"}, "source", ""),
    ],
)
def test_a_source_is_a_validated_name_never_free_jinja(entry: dict[str, Any], field: str | None, words: str) -> None:
    doc = _script([{"name": "X", **entry}])
    errors = _errors(doc)
    where = "pod.env.0" + (f".{field}" if field else "")
    assert any(found is not None and found.endswith(where) and words in message for found, message in errors), errors
    with pytest.raises(ExportError):
        render(doc)


def test_every_step_gets_the_mlflow_server_and_credentials_by_secret_reference() -> None:
    settings = PipelineSettings.model_validate(
        {
            "mlflow": {
                "tracking_uri": "https://mlflow.example.com",
                "registry_uri": "databricks-uc",
                "credentials_secret": "mlflow-auth",
                "username_key": "user",
                "password_key": "pass",
            }
        }
    )
    env, secrets = step_env(settings, PodSettings(), {})
    assert {name: value.text for name, value in env.items()} == {  # type: ignore[union-attr]
        "MLFLOW_TRACKING_URI": "{{ var.value.get('dagsmith_mlflow_tracking_uri', 'https://mlflow.example.com') }}",
        "MLFLOW_REGISTRY_URI": "{{ var.value.get('dagsmith_mlflow_registry_uri', 'databricks-uc') }}",
    }
    assert [(ref.env_var, ref.secret_name, ref.key) for ref in secrets] == [
        ("MLFLOW_TRACKING_USERNAME", "mlflow-auth", "user"),
        ("MLFLOW_TRACKING_PASSWORD", "mlflow-auth", "pass"),
    ]
    # A step's own variable or secret of the same name wins.
    own = PodSettings.model_validate(
        {
            "env": [{"name": "MLFLOW_TRACKING_URI", "value": "http://other:5000"}],
            "secrets": [{"env_var": "MLFLOW_TRACKING_PASSWORD", "secret_name": "mine", "key": "p"}],
        }
    )
    env, secrets = step_env(settings, own, {})
    assert env["MLFLOW_TRACKING_URI"] == "http://other:5000"
    assert [(ref.env_var, ref.secret_name) for ref in secrets] == [
        ("MLFLOW_TRACKING_PASSWORD", "mine"),
        ("MLFLOW_TRACKING_USERNAME", "mlflow-auth"),
    ]


def test_without_settings_the_uri_is_the_airflow_variable_as_before() -> None:
    env, secrets = step_env(PipelineSettings(), PodSettings(), {})
    assert env["MLFLOW_TRACKING_URI"].text == "{{ var.value.get('dagsmith_mlflow_tracking_uri', '') }}"  # type: ignore[union-attr]
    assert secrets == []


@pytest.mark.parametrize(
    ("mlflow", "field", "words"),
    [
        ({"tracking_uri": "https://bob:hunter2@mlflow.example.com"}, "tracking_uri", "holds credentials"),
        ({"tracking_uri": "http://x/'}}{{ 7*7 }}"}, "tracking_uri", "not an MLflow URI"),
        ({"token_key": "token"}, None, "no 'credentials_secret'"),
        ({"credentials_secret": "mlflow-auth"}, None, "but no key"),
        ({"credentials_secret": "mlflow-auth", "username_key": "u"}, None, "both 'username_key'"),
    ],
)
def test_mlflow_settings_keep_credentials_out_of_the_file(
    mlflow: dict[str, Any], field: str | None, words: str
) -> None:
    doc = _script([], mlflow=mlflow)
    where = "settings.mlflow" + (f".{field}" if field else "")
    errors = _errors(doc)
    assert any(found == where and words in message for found, message in errors), errors
