"""The BentoML deploy node's form: its monitoring settings are one section, edited like any other."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.pages.inspector import Inspector
from dagsmith.editor.session import EditorSession
from dagsmith.nodes import Node, Pipeline


async def _inspector(user: User) -> Inspector:
    pipeline = Pipeline(
        nodes=[Node(id="deploy", type="bentoml_deploy", label="Deploy", params={"deployment_name": "keyword-api"})]
    )
    holder: dict[str, Inspector] = {}

    @ui.page("/")
    def page() -> None:
        holder["inspector"] = Inspector(EditorSession(pipeline))

    await user.open("/")
    holder["inspector"].select("deploy")
    return holder["inspector"]


def _widget(inspector: Inspector, field: str) -> Any:
    for form in inspector.forms:
        found = form.widget(field)
        if found is not None:
            return found
    raise AssertionError(f"no widget for {field}")


async def test_the_monitoring_section_sets_the_deploy_nodes_monitoring(user: User) -> None:
    inspector = await _inspector(user)
    _widget(inspector, "monitoring").set_value(True)  # the user opens "Monitoring"
    assert _widget(inspector, "monitoring.alert_error_ratio").props["placeholder"] == "default: 0.05"
    _widget(inspector, "monitoring.metrics").set_value("annotations")
    _widget(inspector, "monitoring.alerts").set_value(False)
    node = inspector.session.pipeline.node("deploy")
    assert node is not None
    assert (node.params["monitoring"]["metrics"], node.params["monitoring"]["alerts"]) == ("annotations", False)
    assert _widget(inspector, "monitoring.prometheus_labels") is not None
