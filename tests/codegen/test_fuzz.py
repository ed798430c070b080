"""Arbitrary text in every free-text field: the file parses, stays on the allow-list, and every value reads
back exactly, as a literal, or (in Airflow-templated fields) after Airflow-style Jinja rendering."""

from __future__ import annotations

import ast
import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_templating import expected, rendered

from dagsmith.codegen import check_source, read_header, render
from dagsmith.codegen.builders import USER_IMAGE_BOOT
from dagsmith.nodes import Pipeline, validate

SPECIALS = st.sampled_from(
    ["{{", "}}", "{%", "%}", "{#", "{{ conf }}", "{{ ds }}", "{{ params.mode }}", "__import__('os')", "'", '"',
     "\\", "\n", "\r", "\x00", "\t", "é", "✓", "\u2028", "\U0001f600", ".json", "{{ ''.__class__ }}", "\"\"\""]
)  # fmt: skip
TEXT = st.lists(st.text(max_size=5) | SPECIALS, max_size=6).map("".join)


def _document(t: list[str]) -> dict[str, Any]:
    """A valid document with fuzzed text in every free-text field (``t`` supplies the texts)."""
    ids = [f"{t[0]}#a", f"{t[0]}#b", f"{t[0]}#c"]
    pod = {
        "env": [{"name": "FUZZ_ENV", "value": t[1]}],
        "annotations": {"example.com/note": t[2]},
        "secrets": [{"env_var": "TOKEN", "secret_name": "creds", "key": t[3] or "k"}],
        "volumes": [{"pvc": "data", "mount_path": "/" + t[4], "sub_path": t[5]}],
        "tolerations": [{"key": t[6], "operator": "Equal", "value": t[7]}],
    }
    return {
        "settings": {
            "name": t[8],
            "dag_id": "fuzz",
            "description": t[9],
            "owner": t[10],
            "tags": [t[11][:100]],
            "default_image": "img:1",
            # A store root is a validated path (issue 10: no ':', '+', '..' or empty segments), not free text.
            "artifact_root": "/artifacts/" + "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in t[12]),
            "params": [{"name": "mode", "type": "string", "default": t[13], "enum": [t[13]], "description": t[14]}],
        },
        "nodes": [
            {
                "id": ids[0],
                "type": "script",
                "label": t[15] + " one",
                "params": {
                    "script": t[16] or "x.py",
                    "arguments": [t[17], t[18]],
                    "outputs": [
                        {"name": "run", "type": "mlflow_run", "description": t[19]},
                        {"name": "data", "type": "dataset", "description": t[19]},
                    ],
                    "pod": pod,
                },
            },
            {
                "id": ids[1],
                "type": "register_model",
                "label": t[15] + " two",
                "params": {"model_name": t[20] or "m", "tags": {t[21]: t[22]}},
            },
            {
                "id": ids[2],
                "type": "monitor",
                "label": t[15] + " three",
                "params": {"metric": t[23] or "m", "threshold": 0.5, "retrain_dag_id": "r"}
                | {"retrain_conf": {t[24]: t[25]}},
            },
        ],
        "edges": [
            {"id": t[26] + "1", "source": ids[0], "source_port": "run", "target": ids[1], "target_port": "run"},
            {"id": t[26] + "2", "source": ids[1], "source_port": "model", "target": ids[2], "target_port": "model"},
        ],
    }  # fmt: skip


def _literal(node: ast.expr, constants: dict[str, Any]) -> Any:
    """``literal_eval``, plus ``{**NAME, ...}`` for the file's own literal constants."""
    if isinstance(node, ast.Dict) and None in node.keys:
        merged: dict[str, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                assert isinstance(value, ast.Name)
                merged.update(constants[value.id])
            else:
                merged[ast.literal_eval(key)] = _literal(value, constants)
        return merged
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # ARTIFACTS_RUN + "/n0/output"
        return _literal(node.left, constants) + _literal(node.right, constants)
    if isinstance(node, ast.Name) and isinstance(constants.get(node.id), str):
        return constants[node.id]
    if isinstance(node, ast.List):  # cmds=["python", "-c", DAGSMITH_STEPS_BOOT, ...]
        return [_literal(item, constants) for item in node.elts]
    return ast.literal_eval(node)


def _calls(tree: ast.Module, name: str) -> list[dict[str, Any]]:
    """The literal keyword arguments of every call to ``name`` (non-literal ones are left out)."""
    constants: dict[str, Any] = {}
    profiles: dict[str, dict[str, ast.expr]] = {}  # POD_DEFAULTS, <IMAGE>_POD: shared pod keyword arguments
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Dict | ast.Constant):
            target = statement.targets[0].id  # type: ignore[attr-defined]
            with contextlib.suppress(ValueError):  # a profile holding Secret(...) calls is no literal
                constants[target] = ast.literal_eval(statement.value)
            if isinstance(statement.value, ast.Dict):
                entries: dict[str, ast.expr] = {}
                for key, value in zip(statement.value.keys, statement.value.values, strict=True):
                    if key is None:
                        assert isinstance(value, ast.Name)
                        entries.update(profiles[value.id])
                    else:
                        entries[ast.literal_eval(key)] = value
                profiles[target] = entries
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == name:
            kwargs = {}
            arguments: list[tuple[str, ast.expr]] = []
            for keyword in node.keywords:
                if keyword.arg is None:
                    assert isinstance(keyword.value, ast.Name)
                    arguments.extend(profiles[keyword.value.id].items())
                else:
                    arguments.append((keyword.arg, keyword.value))
            for arg, value in arguments:
                try:
                    kwargs[arg] = _literal(value, constants)
                except ValueError:
                    continue
            found.append(kwargs)
    return found


def _live(value: Any) -> Any:
    """What Airflow hands the task for a templated value (dict keys are not rendered)."""
    if isinstance(value, str):
        return rendered(value)
    if isinstance(value, list):
        return [_live(item) for item in value]
    if isinstance(value, dict):
        return {key: _live(item) for key, item in value.items()}
    return value


def _meant(value: Any) -> Any:
    """The value the user meant: allowed macros filled in, everything else as typed."""
    if isinstance(value, str):
        return expected(value)
    if isinstance(value, list):
        return [_meant(item) for item in value]
    if isinstance(value, dict):
        return {key: _meant(item) for key, item in value.items()}
    return value


def _resolve(config: Any, env: dict[str, str]) -> Any:
    """The step runtime's view of DAGSMITH_CONFIG."""
    if isinstance(config, dict):
        if set(config) == {"$dagsmith_env"}:
            return env[config["$dagsmith_env"]]
        return {key: _resolve(item, env) for key, item in config.items()}
    if isinstance(config, list):
        return [_resolve(item, env) for item in config]
    return config


@settings(max_examples=60, print_blob=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(TEXT, min_size=27, max_size=27))
def test_fuzzed_text_reads_back_exactly(texts: list[str]) -> None:
    document = _document(texts)
    pipeline = Pipeline.model_validate(document)
    assert not [issue for issue in validate(pipeline) if issue.is_error]
    for target in ("airflow3", "airflow2"):
        text = render(pipeline, target=target)
        tree = check_source(text)
        header = read_header(text)
        assert header is not None and header.dag_id == "fuzz"

    settings_ = document["settings"]
    (dag,) = _calls(tree, "DAG")
    assert dag.get("description", "") == settings_["description"]
    assert dag["doc_md"].startswith(settings_["description"].strip())
    assert settings_["tags"][0] in dag["tags"]
    (param,) = _calls(tree, "Param")
    assert param.get("description", "") == settings_["params"][0]["description"]
    constants = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    assert settings_["params"][0]["default"] in constants
    assert settings_["owner"] in constants

    pods = {call["task_id"]: call for call in _calls(tree, "KubernetesPodOperator")}
    script, register, watch = (document["nodes"][i] for i in range(3))
    train = pods[next(task for task in pods if task.endswith("one"))]
    assert train["task_display_name"] == script["label"]
    start = ["python", "-c", USER_IMAGE_BOOT, "exec", "--"]  # the user's script runs through the step runtime
    assert _live(train["cmds"]) == [*start, "python", _meant(script["params"]["script"])]
    assert _live(train["arguments"]) == _meant(script["params"]["arguments"])
    env = _live(train["env_vars"])
    assert env["FUZZ_ENV"] == _meant(texts[1])
    assert env["DAGSMITH_NODE_ID"] == script["id"]
    assert env["DAGSMITH_ARTIFACT_ROOT"] == settings_["artifact_root"]
    assert env["DAGSMITH_OUTPUT_DATA"].startswith(settings_["artifact_root"].rstrip("/") + "/")
    assert "DAGSMITH_OUTPUT_RUN" not in env  # a value (an MLflow run) travels through XCom, not a path
    assert _live(train["annotations"]) == _meant(script["params"]["pod"]["annotations"])
    (mount,) = [m for m in _calls(tree, "k8s.V1VolumeMount") if m["name"] == "pvc-0"]
    assert mount["mount_path"] == "/" + texts[4]
    assert _live(mount.get("sub_path", "")) == _meant(texts[5])
    (toleration,) = _calls(tree, "k8s.V1Toleration")
    assert (toleration.get("key", ""), toleration.get("value", "")) == (texts[6], texts[7])
    (secret,) = _calls(tree, "Secret")
    assert secret["key"] == (texts[3] or "k")

    registered = pods[next(task for task in pods if task.endswith("two"))]
    env = _live(registered["env_vars"])
    config = _resolve(json.loads(env["DAGSMITH_CONFIG"]), env)
    assert config["model_name"] == _meant(register["params"]["model_name"])
    assert config["tags"] == _meant(register["params"]["tags"])

    (trigger,) = _calls(tree, "TriggerDagRunOperator")
    assert _live(trigger["conf"]) == _meant(watch["params"]["retrain_conf"])
