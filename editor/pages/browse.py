"""Browse Feast and MLflow from the inspector: pick feature services, features, views, models and aliases.

The inspector shows a "Browse Feast" button on feature nodes and a "Browse MLflow" button on nodes that
name a registered model, an alias or an experiment. The dialog reads the catalog off the event loop
(``editor/integrations/``) and writes picks through the session, like the forms do. A component that
cannot be read shows its message in the dialog: browsing never breaks the editor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nicegui import run, ui

from dagsmith.nodes import CATALOG

from ..forms.spec import label_for
from ..integrations import (
    ComponentUnavailable,
    Configured,
    FeastCatalog,
    MlflowCatalog,
    RunsHome,
    feast_catalog,
    feast_location,
    health_location,
    mlflow_catalog,
    mlflow_location,
)

if TYPE_CHECKING:
    from ..session import EditorSession

FEAST_NODES = ("feature_retrieval", "feature_materialize")
Roots = Callable[[], list[Path]]
"""Gives the folders a relative ``feast_repo`` is resolved against."""
RunWorkspace = Callable[[], RunsHome | Path]
"""Gives where the project's local runs live (``LocalRuns.runs_home``: the Run button's workspace, where
their MLflow is, and on a team server no shared fallback); a bare folder is a local editor's workspace."""


class BrowseHost(Protocol):
    """What the dialog needs of the inspector that holds it (``inspector.Inspector``, which imports this module)."""

    session: EditorSession
    project_roots: Roots | None
    node_id: str | None

    def render(self) -> None:
        """Draw the selected node's form again."""
        ...


@dataclass(frozen=True, slots=True)
class MlflowFields:
    """Which of a node type's parameters a pick in the MLflow catalog sets."""

    model: str | None = None
    """Set by clicking a registered model."""
    aliases: tuple[str, ...] = ()
    """Each can be set by clicking one of a model's aliases."""
    experiment: str | None = None
    """Set by clicking an experiment."""


MLFLOW_NODES: dict[str, MlflowFields] = {
    "register_model": MlflowFields("model_name", ("alias",)),
    "model_gate": MlflowFields(None, ("candidate_alias", "champion_alias")),
    "batch_predict": MlflowFields("model_name", ("model_alias",)),
    "bentoml_build": MlflowFields("model_name", ("model_alias",)),
    "monitor": MlflowFields("model_name", ("model_alias",)),
    "hyperparameter_search": MlflowFields(experiment="experiment"),
}


def project_roots(inspector: BrowseHost) -> list[Path]:
    """Folders a relative ``feast_repo`` is resolved against (the page sets them: the project's checkout)."""
    return list(inspector.project_roots()) if inspector.project_roots is not None else []


def _marker(*parts: str) -> str:
    return "browse-" + "-".join("_".join(part.split()) for part in parts)


class Browser:
    """The catalog dialog of the inspector: one at a time, for the selected node."""

    def __init__(self, inspector: BrowseHost) -> None:
        self.inspector = inspector
        self.node_id: str | None = None
        self.component = ""
        self.location: Configured | None = None
        self.catalog: FeastCatalog | MlflowCatalog | None = None
        self.error: str | None = None
        self.run_workspace: RunWorkspace | None = None
        """Set by the page: the project's run workspace (its MLflow database is browsed when it exists)."""
        self._request = 0
        with ui.dialog().mark("browse-dialog") as self.dialog, ui.card().style("min-width: 460px; max-width: 760px"):
            with ui.row().classes("w-full items-center no-wrap"):
                self.title = ui.label().classes("text-h6").mark("browse-title")
                ui.space()
                ui.button(icon="refresh", on_click=self.reload).props("flat round").mark("browse-reload").tooltip(
                    "Read again"
                )
                ui.button(icon="close", on_click=self.dialog.close).props("flat round").mark("browse-close")
            self.where = ui.label().classes("text-caption").mark("browse-location")
            self.filter = (
                ui.input(placeholder="Filter by name", on_change=lambda: self.draw())
                .props("dense clearable")
                .classes("w-full")
                .mark("browse-filter")
            )
            with ui.scroll_area().classes("w-full").style("height: 60vh"):
                self.body = ui.column().classes("w-full gap-1").mark("browse-body")

    @property
    def session(self) -> EditorSession:
        return self.inspector.session

    # -- the inspector's buttons ---------------------------------------------------------------------------
    def buttons(self, node_id: str, node_type: str) -> None:
        """The browse buttons for a node of ``node_type`` (none for other types), in the current container."""
        if node_type in FEAST_NODES:
            ui.button("Browse Feast", icon="travel_explore", on_click=lambda: self.open(node_id, "Feast")).props(
                "flat dense"
            ).mark("browse-feast").tooltip("Pick feature services, features or views from the Feast repository")
        if node_type in MLFLOW_NODES:
            ui.button("Browse MLflow", icon="travel_explore", on_click=lambda: self.open(node_id, "MLflow")).props(
                "flat dense"
            ).mark("browse-mlflow").tooltip("Pick registered models, aliases or experiments from MLflow")

    # -- loading -------------------------------------------------------------------------------------------
    async def open(self, node_id: str, component: str) -> None:
        """Open the dialog for ``node_id`` and read ``component`` ('Feast' or 'MLflow')."""
        self.node_id = node_id
        self.component = component
        self.title.set_text(f"Browse {component}")
        self.filter.value = ""
        self.dialog.open()
        await self.reload()

    async def reload(self) -> None:
        """Read the catalog again (off the event loop); the message of what went wrong instead of it."""
        self._request += 1
        request = self._request
        self.catalog, self.error, self.location = None, None, None
        self.where.set_text("")
        self.draw(loading=True)
        try:
            self.location = self._locate()
            self.where.set_text(f"{self.location.location} (from {self.location.source})")
            read: Callable[[str], Any] = feast_catalog if self.component == "Feast" else mlflow_catalog
            catalog = await run.io_bound(read, self.location.location)
            if catalog is None:  # the app is shutting down
                return
            result: FeastCatalog | MlflowCatalog | str = catalog
        except ComponentUnavailable as exc:
            result = exc.message
        except Exception as exc:  # whatever goes wrong in Feast or MLflow must not break the page
            result = f"{self.component} cannot be read: {str(exc) or type(exc).__name__}"
        if request != self._request:
            return  # another node or a reload asked meanwhile
        if isinstance(result, str):
            self.error = result
        else:
            self.catalog = result
        self.draw()

    def _locate(self) -> Configured:
        node = self.session.pipeline.node(self.node_id or "")
        if node is None:
            raise ComponentUnavailable("the node was deleted; select another node")
        if self.component == "Feast":
            return feast_location(node.params.get("feast_repo"), project_roots(self.inspector))
        found = self.run_workspace() if self.run_workspace is not None else None
        home = found if isinstance(found, RunsHome) else RunsHome(found)
        if home.own_only:  # a team server: the project's own workspace, else the pipeline's own setting
            return health_location(self.session.pipeline, home.workspace, own_only=True)
        return mlflow_location(self.session.pipeline.dag_id, workspace=home.workspace)

    # -- picking -------------------------------------------------------------------------------------------
    def value(self, field: str) -> Any:
        """The node's current value of ``field`` (its default when unset)."""
        node = self.session.pipeline.node(self.node_id or "")
        if node is None:
            return None
        if field in node.params:
            return node.params[field]
        node_type = CATALOG.get(node.type)
        info = node_type.model_fields.get(field) if node_type else None
        return info.get_default(call_default_factory=True) if info else None

    def pick(self, field: str, value: Any) -> None:
        """Set a parameter of the node through the session (one undo step), and show it in the form."""
        if self.node_id is None or self.session.pipeline.node(self.node_id) is None:
            ui.notify("The node was deleted; select another node", type="warning")
            return
        self.session.set_param(self.node_id, (field,), value)
        if self.inspector.node_id == self.node_id:
            self.inspector.render()  # the form shows the new value
        self.draw()

    def toggle(self, field: str, item: str) -> None:
        """Add ``item`` to a list parameter, or remove it when it is there."""
        current = [str(v) for v in self.value(field) or []]
        self.pick(field, [v for v in current if v != item] if item in current else [*current, item])

    # -- drawing -------------------------------------------------------------------------------------------
    def _matches(self, *names: str) -> bool:
        text = (self.filter.value or "").strip().lower()
        return not text or any(text in name.lower() for name in names)

    def draw(self, *, loading: bool = False) -> None:
        """Show the loading state, the message, or the catalog."""
        self.body.clear()
        with self.body:
            if loading:
                with ui.row().classes("items-center"):
                    ui.spinner()
                    ui.label(f"Reading {self.component}… (the first time can take a few seconds)").mark(
                        "browse-loading"
                    )
            elif self.error is not None:
                ui.icon("error_outline", color="negative", size="md")
                ui.label(self.error).classes("text-negative").style("white-space: pre-wrap").mark("browse-error")
                ui.button("Try again", icon="refresh", on_click=self.reload).props("flat dense")
            elif isinstance(self.catalog, FeastCatalog):
                self._draw_feast(self.catalog)
            elif isinstance(self.catalog, MlflowCatalog):
                self._draw_mlflow(self.catalog)

    def _node_type(self) -> str:
        node = self.session.pipeline.node(self.node_id or "")
        return node.type if node else ""

    def _draw_feast(self, catalog: FeastCatalog) -> None:
        retrieval = self._node_type() == "feature_retrieval"
        ui.label(f"Project {catalog.project}").classes("text-caption")
        if retrieval:
            ui.label("Feature services").classes("text-subtitle2 q-mt-sm")
            chosen = self.value("feature_service")
            services = [s for s in catalog.feature_services if self._matches(s.name, *s.features)]
            if not services:
                ui.label("none" if not catalog.feature_services else "none match the filter").classes("text-caption")
            for service in services:
                with ui.row().classes("w-full items-center no-wrap gap-2"):
                    ui.button(
                        service.name,
                        icon="check" if service.name == chosen else None,
                        on_click=lambda name=service.name: self.pick("feature_service", name),
                    ).props(f"dense no-caps {'' if service.name == chosen else 'outline'}").mark(
                        _marker("service", service.name)
                    ).tooltip("Use this feature service")
                    ui.label(", ".join(service.features)).classes("text-caption ellipsis")
        ui.label("Feature views").classes("text-subtitle2 q-mt-sm")
        if retrieval:
            ui.label("Click features to add them as references 'view:feature'").classes("text-caption")
        else:
            ui.label("Click views to materialize (none chosen: all)").classes("text-caption")
        views = [v for v in catalog.feature_views if self._matches(v.name, *v.features)]
        if not views:
            ui.label("none" if not catalog.feature_views else "none match the filter").classes("text-caption")
        chosen_refs = {str(v) for v in self.value("features") or []} if retrieval else set()
        chosen_views = {str(v) for v in self.value("feature_views") or []} if not retrieval else set()
        for view in views:
            with ui.card().classes("w-full q-pa-sm").props("flat bordered"):
                with ui.row().classes("w-full items-center gap-2"):
                    if retrieval:
                        ui.label(view.name).classes("text-bold")
                    else:
                        picked = view.name in chosen_views
                        button = ui.button(
                            view.name,
                            icon="check" if picked else None,
                            on_click=lambda name=view.name: self.toggle("feature_views", name),
                        )
                        button.props(f"dense no-caps {'' if picked else 'outline'}").mark(_marker("view", view.name))
                        button.set_enabled(view.materializable)
                    entities = ", ".join(view.entities) or "no entities"
                    ui.label(f"{view.kind} · {entities}").classes("text-caption")
                with ui.row().classes("gap-1"):
                    for feature, reference in zip(view.features, view.references, strict=True):
                        if retrieval:
                            selected = reference in chosen_refs
                            ui.chip(
                                feature,
                                icon="check" if selected else None,
                                color="primary" if selected else None,
                                text_color="white" if selected else None,
                                on_click=lambda ref=reference: self.toggle("features", ref),
                            ).props("dense").mark(_marker("feature", reference)).tooltip(reference)
                        else:
                            ui.chip(feature).props("dense outline")

    def _draw_mlflow(self, catalog: MlflowCatalog) -> None:
        fields = MLFLOW_NODES.get(self._node_type(), MlflowFields())
        if catalog.truncated:
            ui.label("Only the first items are listed: use the filter").classes("text-caption text-warning")
        ui.label("Registered models").classes("text-subtitle2 q-mt-sm")
        models = [m for m in catalog.registered_models if self._matches(m.name, *m.aliases)]
        if not models:
            ui.label("none" if not catalog.registered_models else "none match the filter").classes("text-caption")
        chosen_model = self.value(fields.model) if fields.model else None
        for model in models:
            with ui.card().classes("w-full q-pa-sm").props("flat bordered"):
                with ui.row().classes("w-full items-center gap-2"):
                    if fields.model:
                        field = fields.model
                        picked = model.name == chosen_model
                        ui.button(
                            model.name,
                            icon="check" if picked else None,
                            on_click=lambda name=model.name, f=field: self.pick(f, name),
                        ).props(f"dense no-caps {'' if picked else 'outline'}").mark(_marker("model", model.name))
                    else:
                        ui.label(model.name).classes("text-bold")
                    latest = ", ".join(f"v{v}" for v in model.latest_versions) or "none"
                    ui.label(f"latest versions: {latest}").classes("text-caption")
                if not model.aliases:
                    ui.label("no aliases").classes("text-caption")
                    continue
                for field in fields.aliases or ("",):
                    with ui.row().classes("items-center gap-1"):
                        if field:
                            ui.label(f"{label_for(field)}:").classes("text-caption")
                        current = self.value(field) if field else None
                        for alias, version in model.aliases.items():
                            text = f"{alias} → v{version}"
                            if not field:
                                ui.chip(text).props("dense outline")
                                continue
                            selected = alias == current
                            ui.chip(
                                text,
                                icon="check" if selected else None,
                                color="primary" if selected else None,
                                text_color="white" if selected else None,
                                on_click=lambda a=alias, f=field: self.pick(f, a),
                            ).props("dense").mark(_marker("alias", field, model.name, alias))
        ui.label("Experiments").classes("text-subtitle2 q-mt-sm")
        experiments = [e for e in catalog.experiments if self._matches(e.name)]
        if not experiments:
            ui.label("none" if not catalog.experiments else "none match the filter").classes("text-caption")
        chosen_experiment = self.value(fields.experiment) if fields.experiment else None
        with ui.row().classes("gap-1"):
            for experiment in experiments:
                if fields.experiment:
                    field = fields.experiment
                    selected = experiment.name == chosen_experiment
                    ui.chip(
                        experiment.name,
                        icon="check" if selected else None,
                        color="primary" if selected else None,
                        text_color="white" if selected else None,
                        on_click=lambda name=experiment.name, f=field: self.pick(f, name),
                    ).props("dense").mark(_marker("experiment", experiment.name))
                else:
                    ui.chip(experiment.name).props("dense outline").mark(_marker("experiment", experiment.name))
