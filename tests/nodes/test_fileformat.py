"""The *.dagsmith.json format (fileformat.py): round trip, migration, refusals, atomic save, schema."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from factories import edge, node, pipeline, source, valid_pipeline

from dagsmith.nodes import (
    FORMAT,
    VERSION,
    Code,
    Comment,
    DocumentError,
    Pipeline,
    RuntimeParam,
    dumps,
    example_names,
    fileformat,
    json_schema,
    load,
    load_example,
    parse,
    save,
    validate,
)
from dagsmith.nodes.fileformat import migrate


def _rich() -> Pipeline:
    p = valid_pipeline("batch_predict")
    p.nodes.append(
        node(
            "x",
            label="Préparer les données",
            params={"script": "prep.py", "pod": {"resources": {"gpu": 1, "gpu_resource": "nvidia.com/gpu"}}},
            outputs={"output": {"path": "{pipeline}/{node}", "access": {"level": "groups", "groups": ["ml"]}}},
            access={"level": "groups", "groups": ["ml"]},
            position={"x": 10.5, "y": -3},
            unmapped={"elyra_key": [1, 2]},
        )
    )
    p.comments.append(Comment(id="c1", text="note ✓", nodes=["x"]))
    p.settings.params.append(RuntimeParam(name="lr", type="number", default=0.1, minimum=0))
    p.settings.schedule = "0 3 * * *"
    return p


def _doc(**body: Any) -> str:
    return json.dumps({"format": FORMAT, "version": VERSION, **body})


# -- round trip and marker ------------------------------------------------------------------------
def test_round_trip_is_lossless_and_stable() -> None:
    p = _rich()
    text = dumps(p)
    again = parse(text)
    assert again == p
    assert dumps(again) == text


def test_dump_starts_with_the_format_marker_and_version() -> None:
    text = dumps(pipeline(node("a")))
    data = json.loads(text)
    assert list(data)[:2] == ["format", "version"]
    assert (data["format"], data["version"]) == ("dagsmith.pipeline", 2) == (FORMAT, VERSION)
    assert text.endswith("}\n")
    assert text.startswith('{\n  "format": "dagsmith.pipeline",\n  "version": 2,\n')


def test_dump_keeps_non_ascii_text() -> None:
    assert "Préparer les données" in dumps(_rich())


def test_save_and_load(tmp_path: Path) -> None:
    target = tmp_path / "p.dagsmith.json"
    save(_rich(), target)
    assert load(target) == _rich()
    assert load(str(target)) == _rich()
    assert target.read_text(encoding="utf-8") == dumps(_rich())


@pytest.mark.parametrize("name", example_names())
def test_examples_load_validate_and_round_trip(name: str) -> None:
    p = load_example(name)
    assert p.nodes
    assert [i for i in validate(p) if i.is_error] == []
    assert parse(dumps(p)) == p


# -- the user's work is never lost ----------------------------------------------------------------
def test_invalid_values_load_and_are_reported_by_validate() -> None:
    params = {"script": "x.py", "pod": {"image": "Upper/Case", "resources": {"cpu_request": "2x"}}}
    text = _doc(
        settings={"schedule": "@dialy", "retries": 101, "namespace": "Bad_Name", "path_template": "{x}"},
        nodes=[{"id": "a", "type": "scirpt"}, {"id": "b", "type": "script", "params": params}],
        edges=[{"id": "e", "source": "a", "source_port": "?", "target": "zz", "target_port": "?"}],
    )
    p = parse(text)
    assert (p.settings.schedule, p.settings.retries, p.settings.namespace) == ("@dialy", 101, "Bad_Name")
    assert p.nodes[1].params == params
    assert [(i.code, i.field) for i in validate(p) if i.node != "a" and i.edge is None][:4] == [
        (Code.INVALID_VALUE, "settings.schedule"),
        (Code.INVALID_VALUE, "settings.retries"),
        (Code.INVALID_VALUE, "settings.namespace"),
        (Code.INVALID_VALUE, "settings.path_template"),
    ]
    assert parse(dumps(p)) == p


# -- migration ------------------------------------------------------------------------------------
V1 = {
    "format": FORMAT,
    "version": 1,
    "name": "Old pipeline",
    "schedule": "@daily",
    "default_image": "python:3.11",
    "nodes": [
        {"id": "a", "type": "script", "params": {"script": "a.py"}},
        {"id": "b", "type": "script", "params": {"script": "b.py"}},
        {"id": "c", "type": "script", "params": {"script": "c.py"}},
    ],
    "links": [{"from": "a:output", "to": "b:upstream"}, {"id": "mine", "from": "b:output", "to": "c:upstream"}],
    "comments": [{"id": "n1", "text": "hi", "nodes": ["a"]}],
}


def test_version_1_is_migrated() -> None:
    p = parse(json.dumps(V1))
    assert (p.settings.name, p.settings.schedule, p.settings.default_image) == ("Old pipeline", "@daily", "python:3.11")
    assert p.edges == [edge("a", "b", edge_id="e1"), edge("b", "c", edge_id="mine")]
    assert [c.id for c in p.comments] == ["n1"]
    assert validate(p) == []
    assert json.loads(dumps(p))["version"] == VERSION


def test_migrate_returns_current_version_without_touching_its_input() -> None:
    before = json.loads(json.dumps(V1))
    migrated = migrate(before)
    assert before == V1
    assert migrated["version"] == VERSION
    assert "links" not in migrated
    assert migrated["settings"]["name"] == "Old pipeline"


@pytest.mark.parametrize("links", [["a:output"], 5, [{"from": "a:output"}, None]])
def test_malformed_version_1_links_are_a_document_error(links: Any) -> None:
    with pytest.raises(DocumentError, match='cannot migrate from format version 1: "links" must be a list'):
        parse(json.dumps({**V1, "links": links}), source="old.json")


def test_newer_version_is_refused_with_upgrade_advice() -> None:
    with pytest.raises(
        DocumentError, match=r"format version 3, newer than this dagsmith reads \(2\); upgrade dagsmith"
    ):
        parse(json.dumps({"format": FORMAT, "version": VERSION + 1}))


@pytest.mark.parametrize("version", [0, -1, "2", 2.0, True, None])
def test_version_must_be_a_positive_integer(version: Any) -> None:
    with pytest.raises(DocumentError, match='"version" must be a positive integer'):
        parse(json.dumps({"format": FORMAT, "version": version}))


@pytest.mark.parametrize("data", [{}, {"format": "elyra"}, {"doc_type": "pipeline", "version": "3.0", "pipelines": []}])
def test_not_a_dagsmith_file(data: dict[str, Any]) -> None:
    with pytest.raises(DocumentError, match=r"not a dagsmith pipeline .*use 'dagsmith import'"):
        parse(json.dumps(data))


# -- bad input ------------------------------------------------------------------------------------
def test_truncated_json_names_line_and_column() -> None:
    text = dumps(pipeline(node("a")))[:-40]
    with pytest.raises(DocumentError, match="malformed JSON") as exc:
        parse(text, source="p.dagsmith.json")
    lines = text.splitlines()
    assert (exc.value.line, exc.value.column) == (len(lines), len(lines[-1]) + 1)
    assert str(exc.value).startswith(f"p.dagsmith.json:{exc.value.line}:{exc.value.column}: malformed JSON")
    assert exc.value.source == "p.dagsmith.json"


def test_bad_json_without_source_says_line_and_column() -> None:
    with pytest.raises(DocumentError, match=r"^line 2, column 1: malformed JSON"):
        parse('{"format": 1,\n}')


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"nodes": [{"id": "a", "type": "script", "position": {"x": "left"}}]}, r"nodes\[0\] \('a'\)\.position\.x: "),
        ({"nodes": [{"id": "a", "type": "script"}, {"id": 7, "type": "x"}]}, r"nodes\[1\]\.id: Input should be"),
        ({"edges": [{"id": "e", "source": "a"}]}, r"edges\[0\] \('e'\)\.source_port: Field required"),
        ({"settings": {"catchup": "sometimes"}}, r"settings\.catchup: Input should be a valid boolean"),
        ({"nodes": "abc"}, r"nodes: Input should be a valid list"),
    ],
)
def test_wrong_types_name_the_location(body: dict[str, Any], match: str) -> None:
    with pytest.raises(DocumentError, match="the document does not fit the pipeline format:\n  " + match):
        parse(_doc(**body))


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"nodes": [{"id": "a", "type": "script", "colour": "red"}]}, r"nodes\[0\] \('a'\)\.colour: "),
        ({"settings": {"shedule": "@daily"}}, r"settings\.shedule: "),
        ({"extra": 1}, r"extra: "),
    ],
)
def test_unknown_fields_are_refused(body: dict[str, Any], match: str) -> None:
    with pytest.raises(DocumentError, match=match + "Extra inputs are not permitted; remove it"):
        parse(_doc(**body))


def test_many_errors_are_summarised() -> None:
    nodes = [{"id": f"n{i}", "type": "script", "bad": i} for i in range(25)]
    with pytest.raises(DocumentError, match=r"\.\.\. and 5 more$") as exc:
        parse(_doc(nodes=nodes))
    assert str(exc.value).count("remove it") == 20


@pytest.mark.parametrize(("text", "found"), [("[]", "list"), ('"x"', "str"), ("3", "int"), ("null", "NoneType")])
def test_top_level_must_be_an_object(text: str, found: str) -> None:
    with pytest.raises(DocumentError, match=f"expected a JSON object at the top, found {found}"):
        parse(text)


def test_undecodable_bytes() -> None:
    with pytest.raises(DocumentError, match="cannot read the file as JSON"):
        parse(b"\xff\xfe\x00")


def test_huge_text_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    text = dumps(pipeline(node("a")))
    monkeypatch.setattr(fileformat, "MAX_BYTES", len(text) - 1)
    with pytest.raises(DocumentError, match=r"over the .* limit; split the pipeline"):
        parse(text)
    monkeypatch.setattr(fileformat, "MAX_BYTES", len(text))
    assert parse(text).nodes[0].id == "a"


def test_huge_file_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "big.dagsmith.json"
    save(pipeline(node("a")), target)
    monkeypatch.setattr(fileformat, "MAX_BYTES", 10)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read a file over the limit"))
    with pytest.raises(DocumentError, match=f"^{re.escape(str(target))}: the file is .* over the .* limit"):
        load(target)


def test_missing_file(tmp_path: Path) -> None:
    target = tmp_path / "nope.dagsmith.json"
    with pytest.raises(DocumentError, match="cannot read the file: No such file or directory") as exc:
        load(target)
    assert exc.value.source == str(target)


def test_directory_instead_of_a_file(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="cannot read the file"):
        load(tmp_path)


# -- atomic save ----------------------------------------------------------------------------------
def test_save_writes_a_temp_file_then_replaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "p.dagsmith.json"
    replaced: list[tuple[Path, Path, str]] = []
    real_replace = Path.replace

    def spy(self: Path, other: Path) -> Path:
        replaced.append((self, Path(other), self.read_text(encoding="utf-8")))
        return real_replace(self, other)

    monkeypatch.setattr(Path, "replace", spy)
    save(pipeline(node("a")), target)
    [(tmp, dest, text)] = replaced
    assert tmp.parent == tmp_path
    assert tmp != target
    assert dest == target
    assert text == dumps(pipeline(node("a")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.dagsmith.json"]


def test_failed_save_leaves_the_previous_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "p.dagsmith.json"
    save(pipeline(node("a")), target)
    before = target.read_bytes()

    def crash(self: Path, other: Path) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save(pipeline(node("a"), node("b"), edges=[edge("a", "b")]), target)
    assert target.read_bytes() == before


# -- JSON Schema ----------------------------------------------------------------------------------
import jsonschema  # noqa: E402  (in the dev environment through the lock file)


def test_json_schema_is_valid_and_describes_the_format() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["format"] == {"const": FORMAT}
    assert schema["properties"]["version"] == {"const": VERSION}
    assert schema["required"][:2] == ["format", "version"]
    json.dumps(schema)


@pytest.mark.parametrize("p", [_rich(), pipeline(), pipeline(source("a", "model"))], ids=["rich", "empty", "one"])
def test_dumped_documents_validate_against_the_schema(p: Pipeline) -> None:
    jsonschema.validate(json.loads(dumps(p)), json_schema())


@pytest.mark.parametrize(
    "change",
    [{"version": 1}, {"format": "other"}, {"extra": True}, {"nodes": [{"id": "a"}]}, {"settings": {"retries": "x"}}],
)
def test_schema_rejects_what_the_loader_rejects(change: dict[str, Any]) -> None:
    data = {**json.loads(dumps(pipeline(node("a")))), **change}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, json_schema())
    with pytest.raises(DocumentError):
        parse(json.dumps(data))
