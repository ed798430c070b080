"""Field errors read as plain language (issue 11, defect 10): no raw pydantic text beside the friendly messages."""

from __future__ import annotations

import pytest

from dagsmith.nodes.errors import model_issues
from dagsmith.nodes.types import Script

RAW = ("Input should", "Value error", "validation error", "type=", "pydantic")


@pytest.mark.parametrize(
    ("pod", "field", "message"),
    [
        ({"retries": "abc"}, "pod.retries", "'abc' is not a whole number; enter a whole number such as 3"),
        ({"retries": 2.5}, "pod.retries", "2.5 is not a whole number; enter a whole number without decimals, e.g. 3"),
        ({"retries": -1}, "pod.retries", "-1 is too small; enter at least 0"),
        (
            {"image_pull_policy": "Sometimes"},
            "pod.image_pull_policy",
            "'Sometimes' is not one of the choices; choose 'Always', 'IfNotPresent' or 'Never'",
        ),
    ],
)
def test_type_and_range_errors_are_plain_language(pod: dict[str, object], field: str, message: str) -> None:
    _, issues = model_issues(Script, {"script": "x", "pod": pod}, node="train")
    assert [(i.field, i.message) for i in issues] == [(field, message)]


def test_no_raw_pydantic_text_in_any_field_error() -> None:
    bad = {
        "script": 7,
        "pod": {"retries": "many", "image_pull_policy": 3, "volumes": [{"pvc": "", "mount_path": "rel"}]},
    }
    _, issues = model_issues(Script, bad, node="train")
    assert issues
    for issue in issues:
        assert not any(raw.lower() in issue.message.lower() for raw in RAW), issue.message
