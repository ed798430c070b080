"""Files that try to break the loader: infinite numbers, endless integers, lone surrogates, pipes, devices.

Each must be refused with a DocumentError that says what is wrong and where, never a bare ValueError,
a hang, or an unbounded read.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from factories import valid_pipeline

from dagsmith.nodes import DocumentError, dumps, fileformat, load, parse
from dagsmith.nodes.fileformat import MAX_INT_DIGITS, parse_json, read_limited


def _doc_with(params: dict[str, Any]) -> str:
    data = json.loads(dumps(valid_pipeline("script")))
    data["nodes"][0]["params"].update(params)
    return json.dumps(data)


def _node_id() -> str:
    return valid_pipeline("script").nodes[0].id


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1" * 400 + ".5", "2.5e308"])
def test_a_number_too_large_for_a_float_is_refused_with_its_location(number: str) -> None:
    text = _doc_with({"learning_rate": 0}).replace('"learning_rate": 0', f'"learning_rate": {number}')
    with pytest.raises(DocumentError, match=r"params\.learning_rate") as caught:
        parse(text, source="p.dagsmith.json")
    message = str(caught.value)
    assert message.startswith("p.dagsmith.json: nodes[0] (" + repr(_node_id()) + ")")
    assert "finite" in message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused_with_their_location(constant: str) -> None:
    text = _doc_with({"weird": 0}).replace('"weird": 0', f'"weird": {constant}')
    with pytest.raises(DocumentError, match=rf"nodes\[0\].*params\.weird: {constant} is not a JSON number"):
        parse(text)


def test_an_integer_with_thousands_of_digits_is_refused_with_its_location() -> None:
    text = _doc_with({"seed": 0}).replace('"seed": 0', '"seed": ' + "9" * 5000)
    with pytest.raises(DocumentError, match=r"params\.seed: an integer of 5000 digits") as caught:
        parse(text.encode())
    assert f"at most {MAX_INT_DIGITS}" in str(caught.value)


def test_an_integer_within_the_digit_limit_loads() -> None:
    big = int("9" * MAX_INT_DIGITS)
    pipeline = parse(_doc_with({"seed": 0}).replace('"seed": 0', f'"seed": {big}'))
    assert pipeline.nodes[0].params["seed"] == big


def test_settings_numbers_are_located_too() -> None:
    data = json.loads(dumps(valid_pipeline("script")))
    data["settings"]["retries"] = 0
    text = json.dumps(data).replace('"retries": 0', '"retries": 1e400')
    with pytest.raises(DocumentError, match=r"settings\.retries: the number 1e400"):
        parse(text)


@pytest.mark.parametrize("escaped", ["\\ud800", "a\\udfffb", "\\uDBFF"])
def test_a_lone_surrogate_in_a_string_is_refused_with_its_location(escaped: str) -> None:
    text = _doc_with({"script": "x"}).replace('"script": "x"', f'"script": "{escaped}"')
    with pytest.raises(DocumentError, match=r"nodes\[0\] .*params\.script: .*lone surrogate"):
        parse(text)


def test_a_lone_surrogate_in_a_key_is_refused() -> None:
    text = _doc_with({"k": 1}).replace('"k": 1', '"\\ud800": 1')
    with pytest.raises(DocumentError, match=r"params: the key .* lone surrogate"):
        parse(text)


def test_a_surrogate_pair_is_an_ordinary_character() -> None:
    text = _doc_with({"script": "x"}).replace('"script": "x"', '"script": "\\ud83d\\ude00.py"')
    assert parse(text).nodes[0].params["script"] == "\U0001f600.py"


def test_a_raw_surrogate_in_a_python_string_is_refused() -> None:
    text = _doc_with({"script": "x"}).replace('"script": "x"', '"script": "\ud800"')
    with pytest.raises(DocumentError, match="lone surrogate"):
        parse(text)


def test_parse_json_reports_the_json_path_without_a_document() -> None:
    with pytest.raises(DocumentError, match=r"^a\[1\]\.b: the number 1e999"):
        parse_json('{"a": [0, {"b": 1e999}]}')
    assert parse_json('{"a": [1.5, "\\ud83d\\ude00"]}') == {"a": [1.5, "\U0001f600"]}


@pytest.mark.timeout(60)
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "p.dagsmith.json"
    os.mkfifo(fifo)
    result: list[BaseException] = []

    def attempt() -> None:
        try:
            load(fifo)
        except BaseException as exc:  # collected for the assertion below
            result.append(exc)

    # A hanging load would block the test forever; a thread lets the test fail instead.
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():  # unblock the reader so the daemon thread can end
        with fifo.open("wb"):
            pass
    assert result, "loading a named pipe hung"
    assert isinstance(result[0], DocumentError)
    assert "not a regular file" in str(result[0])
    assert str(fifo) in str(result[0])


@pytest.mark.timeout(30)
def test_a_device_is_refused_without_reading_it() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero on this system")
    with pytest.raises(DocumentError, match=r"/dev/zero: .*not a regular file"):
        load("/dev/zero")


@pytest.mark.timeout(30)
def test_read_limited_refuses_a_device_and_a_directory(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="a directory, not a regular file"):
        read_limited(tmp_path)
    if Path("/dev/zero").exists():
        with pytest.raises(DocumentError, match="a device"):
            read_limited("/dev/zero")


def test_a_file_that_grows_past_the_limit_is_cut_at_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.dagsmith.json"
    path.write_text(" " * 200)
    real_fstat = os.fstat

    def small_fstat(fd: int) -> os.stat_result:  # the size reported when opened, before the file grew
        st = real_fstat(fd)
        values = list(st)
        values[6] = 10  # st_size
        return os.stat_result(values)

    monkeypatch.setattr(fileformat, "MAX_BYTES", 100)
    monkeypatch.setattr(fileformat.os, "fstat", small_fstat)
    with pytest.raises(DocumentError, match="over the"):
        read_limited(path)
