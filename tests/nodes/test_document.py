"""The document model (document.py) and the shared settings (common.py)."""

from __future__ import annotations

import pytest
from factories import node, pipeline

from dagsmith.nodes import Access, Node, PipelineSettings, Resources, RuntimeParam, slug


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My Pipeline", "my_pipeline"),
        ("  Train -- Model! ", "train_model"),
        ("2024 report", "n_2024_report"),
        ("!!!", ""),
        ("日本語", ""),
        ("a" * 300, "a" * 200),
    ],
)
def test_slug(text: str, expected: str) -> None:
    assert slug(text) == expected


def test_task_id_comes_from_label_then_id_then_a_hash() -> None:
    assert node("x1", label="Train Model").task_id() == "train_model"
    assert node("Prepare-Data").task_id() == "prepare_data"
    hashed = node("!!!").task_id()
    assert hashed.startswith("task_")
    assert len(hashed) == len("task_") + 10
    assert hashed == node("!!!").task_id()
    assert hashed != node("???").task_id()


def test_display_name_is_label_or_id() -> None:
    assert node("a", label="Train").display_name == "Train"
    assert node("a").display_name == "a"


def test_dag_id_is_explicit_or_derived_from_the_name() -> None:
    assert PipelineSettings(name="Keyword Recs").effective_dag_id() == "keyword_recs"
    assert PipelineSettings(name="Keyword Recs", dag_id="kw.v2").effective_dag_id() == "kw.v2"
    assert pipeline(name="Daily Scores").dag_id == "daily_scores"


def test_node_lookup_prefers_the_first_of_repeated_ids() -> None:
    first, second = node("a", label="first"), node("a", label="second")
    p = pipeline(first, second, node("b"))
    assert p.node("a") is first
    assert p.node("zz") is None
    assert list(p.node_map()) == ["a", "b"]
    assert p.node_map()["a"] is first


def test_documents_forbid_unknown_fields_but_keep_params_as_entered() -> None:
    with pytest.raises(ValueError, match="colour"):
        Node.model_validate({"id": "a", "type": "script", "colour": "red"})
    raw = Node.model_validate({"id": "a", "type": "script", "params": {"anything": {"nested": [1, None]}}})
    assert raw.params == {"anything": {"nested": [1, None]}}


# -- access ---------------------------------------------------------------------------------------
PRIVATE, PUBLIC = Access(level="private"), Access(level="public")


def _groups(*names: str) -> Access:
    return Access(level="groups", groups=list(names))


@pytest.mark.parametrize(
    ("reader", "artifact", "ok"),
    [
        (PRIVATE, PRIVATE, True),
        (PRIVATE, _groups("ml"), True),
        (PRIVATE, PUBLIC, True),
        (PUBLIC, PUBLIC, True),
        (PUBLIC, PRIVATE, False),
        (PUBLIC, _groups("ml"), False),
        (_groups("ml"), PUBLIC, True),
        (_groups("ml"), PRIVATE, False),
        (_groups("ml"), _groups("ml", "ads"), True),
        (_groups("ml", "ads"), _groups("ml"), False),
        (_groups(), _groups("ml"), True),
    ],
)
def test_can_read(reader: Access, artifact: Access, ok: bool) -> None:
    assert reader.can_read(artifact) is ok


@pytest.mark.parametrize(
    ("access", "text"),
    [
        (PRIVATE, "private"),
        (PUBLIC, "public"),
        (_groups("ml", "ads"), "groups ml, ads"),
        (_groups(), "groups (none named)"),
    ],
)
def test_access_describe(access: Access, text: str) -> None:
    assert access.describe() == text


# -- resources and run-time parameters ------------------------------------------------------------
def test_resources_merge_takes_unset_fields_from_defaults() -> None:
    defaults = Resources(cpu_request="1", cpu_limit="2", gpu_resource="nvidia.com/gpu")
    merged = Resources(cpu_request="500m", gpu=1).merged(defaults)
    assert (merged.cpu_request, merged.cpu_limit, merged.gpu, merged.gpu_resource) == (
        "500m",
        "2",
        1,
        "nvidia.com/gpu",
    )
    assert merged.memory_limit is None


def test_runtime_param_without_default_has_no_problem() -> None:
    assert RuntimeParam(name="x", type="integer", minimum=5).default_problem() is None
    assert RuntimeParam(name="x", type="integer", default=4, minimum=5).default_problem() == (
        "default 4 is below the minimum 5.0"
    )
