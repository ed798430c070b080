"""The start page: the pipelines by project, new ones from templates or runnable examples, files, git."""

from __future__ import annotations

import asyncio

from nicegui import events, ui

from dagsmith.nodes import Pipeline, PipelineSettings, Resources

from ..run_services import RUNNABLE_EXAMPLES
from ..services import TEMPLATE_TITLES, EditorServices, UserError
from .home_list import PipelineList
from .theme import remembering_dark_mode

MAX_UPLOAD_BYTES = 16 * 2**20
"""The largest file the start page accepts (a 10,000-node Elyra file is about 9 MiB)."""
TOO_LARGE = f"The file is larger than {MAX_UPLOAD_BYTES // 2**20} MiB; open it with `dagsmith import` instead"


def home_page(services: EditorServices) -> None:
    """List pipelines by project; create from a template or a runnable example; open a file."""
    try:
        project = services.local_project()
    except UserError as exc:  # a team server's user with no project yet (an SSO newcomer, an admin): say so
        ui.label(str(exc)).classes("q-pa-md text-warning").mark("no-project")
        if services.is_org_admin():  # who may then make a project for themselves on /admin
            ui.link("Admin: projects, members and users", "/admin").classes("q-px-md").mark("admin-link")
        return
    remembering_dark_mode()  # the mode chosen in the editor
    with ui.header().classes("items-center"):
        ui.label("dagsmith").classes("text-h6")
        ui.label(f"new pipelines go to: {project.name}").classes("text-caption")
        if services.is_org_admin():  # a team server's organisation admin: projects, members and users
            ui.space()
            ui.link("Admin", "/admin").classes("text-white text-bold").mark("admin-link")
    with ui.row().classes("w-full q-pa-md gap-8 items-start"):
        with ui.column().classes("gap-2").style("min-width: 420px"):
            ui.label("Pipelines").classes("text-h6")
            PipelineList(services)
        with ui.column().classes("gap-2"):
            ui.label("New pipeline").classes("text-h6")

            def create(template: str | None) -> None:
                info = services.create_from_template(project.id, template)
                ui.navigate.to(f"/pipeline/{info.id}")

            ui.button("Blank pipeline", icon="add", on_click=lambda: _new_pipeline(services, project.id)).mark(
                "new-blank"
            )
            for name, title in TEMPLATE_TITLES.items():
                ui.button(title, icon="content_copy", on_click=lambda n=name: create(n)).props("outline").mark(
                    f"new-{name}"
                )
            _runnable_examples(services)
            ui.label("Open a file").classes("text-h6 q-mt-md")
            ui.label("A dagsmith pipeline (.dagsmith.json) or an Elyra pipeline (.pipeline)").classes("text-caption")

            async def uploaded(event: events.UploadEventArguments) -> None:
                if event.file.size() > MAX_UPLOAD_BYTES:  # the browser checks too; this holds for any client
                    ui.notify(f"{event.file.name}: {TOO_LARGE}", type="negative", multi_line=True)
                    return
                content = await event.file.read()
                try:
                    # Parsing and importing a large file takes a while: off the event loop, other pages stay fast.
                    imported = await asyncio.to_thread(services.read_upload, event.file.name, content)
                    info = services.create(project.id, imported.pipeline)
                except UserError as exc:
                    ui.notify(str(exc), type="negative", multi_line=True)
                    return
                for line in imported.unmapped:
                    ui.notify(f"Not mapped: {line}", type="warning", multi_line=True)
                for line in imported.warnings:
                    ui.notify(line, type="warning", multi_line=True)
                ui.navigate.to(f"/pipeline/{info.id}")

            # A plain button opens the file chooser; the uploader itself (whose header only shows "0.0B / 0.00%")
            # stays hidden.
            upload = (
                ui.upload(
                    on_upload=uploaded,
                    on_rejected=lambda: ui.notify(TOO_LARGE, type="negative", multi_line=True),
                    max_file_size=MAX_UPLOAD_BYTES,
                    auto_upload=True,
                )
                .props('accept=".json,.pipeline"')
                .classes("hidden")
                .mark("open-file")
            )
            ui.button("Open a file…", icon="folder_open", on_click=lambda: upload.run_method("pickFiles")).props(
                "outline"
            ).mark("open-file-button")
        with ui.column().classes("gap-2"):
            _git_settings(services)


NEW_PIPELINE_FIELDS = {
    "image": ("Default image", "the image of every step that sets none", "e.g. python:3.11-slim"),
    "gpu_resource": ("GPU resource name", "what a step with GPUs requests", "e.g. nvidia.com/gpu"),
    "gpu_product_label": ("GPU product label", "the node label that names the GPU", "e.g. nvidia.com/gpu.product"),
}
"""The defaults a new pipeline asks for: field, then label, help text and example."""


def project_defaults(services: EditorServices, project_id: int) -> dict[str, str]:
    """The project's defaults for a new pipeline: each from the most recently changed pipeline that sets it."""
    found: dict[str, str] = {}
    for info in sorted(services.listing(project_id), key=lambda info: info.updated_at, reverse=True):
        try:
            settings = services.open_draft(info.id)[1].settings
        except UserError:
            continue  # a draft that cannot be read has nothing to offer
        values = {
            "image": settings.default_image,
            "gpu_resource": settings.default_resources.gpu_resource,
            "gpu_product_label": settings.default_resources.gpu_product_label,
        }
        for field, value in values.items():
            if value:
                found.setdefault(field, value)
        if len(found) == len(values):
            break
    return found


def _new_pipeline(services: EditorServices, project_id: int) -> None:
    """Ask for the new pipeline's name, default image and GPU settings (pre-filled from the project), then open it."""
    defaults = project_defaults(services, project_id)
    with ui.dialog() as dialog, ui.card().classes("q-pa-md").style("min-width: 420px").mark("new-dialog"):
        ui.label("New pipeline").classes("text-h6")
        name = ui.input("Name", value="New pipeline").props("autofocus").classes("w-full").mark("new-name")
        ui.label(
            "Pipeline defaults, taken from this project's pipelines where they set them; every step inherits them "
            "(change them later in the pipeline settings)"
        ).classes("text-caption").style("max-width: 420px")
        inputs = {
            field: ui.input(label, value=defaults.get(field, ""), placeholder=example)
            .props(f'hint="{hint}"')
            .classes("w-full")
            .mark(f"new-{field.replace('_', '-')}")
            for field, (label, hint, example) in NEW_PIPELINE_FIELDS.items()
        }

        def create() -> None:
            values = {field: (widget.value or "").strip() or None for field, widget in inputs.items()}
            settings = PipelineSettings(
                name=(name.value or "").strip() or "New pipeline",
                default_image=values["image"],
                default_resources=Resources(
                    gpu_resource=values["gpu_resource"], gpu_product_label=values["gpu_product_label"]
                ),
            )
            try:  # the values are kept as typed: the editor's validation marks what is wrong with them
                info = services.create(project_id, Pipeline(settings=settings))
            except UserError as exc:
                ui.notify(str(exc), type="negative", multi_line=True)
                return
            ui.navigate.to(f"/pipeline/{info.id}")

        name.on("keydown.enter", create)
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button("Create", on_click=create).mark("new-create")
    dialog.on_value_change(lambda e: None if e.value else dialog.delete())
    dialog.open()


def _runnable_examples(services: EditorServices) -> None:
    """Buttons that create a project with a runnable workload and open its pipeline."""
    ui.label("Runnable examples").classes("text-h6 q-mt-md")
    ui.label("A project with the workload's step code and small data: press Run in the editor").classes("text-caption")

    def create_example(name: str) -> None:
        try:
            ids = services.runs.create_example(name)
        except (OSError, UserError) as exc:
            ui.notify(f"Could not create the example: {exc}", type="negative", multi_line=True)
            return
        ui.navigate.to(f"/pipeline/{ids[0]}")

    for name, (title, _) in RUNNABLE_EXAMPLES.items():
        ui.button(title, icon="play_circle", on_click=lambda n=name: create_example(n)).props("outline").mark(
            f"example-{name}"
        )


def _git_settings(services: EditorServices) -> None:
    """Where each project's exports are committed (pick the project, then its repository and branch)."""
    projects = {project.id: project for project in services.projects()}
    ui.label("Git export").classes("text-h6")
    first = next(iter(projects.values()))
    chosen = (
        ui.select({i: p.name for i, p in projects.items()}, label="Project", value=first.id)
        .style("min-width: 240px")  # room for the label and the longest project name
        .mark("git-project")
    )
    repo = ui.input("Repository path", value=first.git_repo or "").mark("git-repo")
    # A project without a repository has no chosen branch yet (the stored 'main' is only a default): leave
    # it empty, so that saving takes the branch checked out in the repository.
    branch = (
        ui.input("Branch", value=first.git_branch if first.git_repo else "")
        .props('placeholder="the checked-out branch"')
        .mark("git-branch")
    )
    note = ui.label(services.branch_note(first)).classes("text-caption").style("max-width: 360px").mark("git-note")

    def show() -> None:
        project = projects[chosen.value]
        repo.set_value(project.git_repo or "")
        branch.set_value(project.git_branch if project.git_repo else "")
        note.set_text(services.branch_note(project))

    chosen.on_value_change(show)

    def save_git() -> None:
        try:
            projects[chosen.value] = services.set_git(chosen.value, repo.value or "", branch.value or "")
        except UserError as exc:
            ui.notify(str(exc), type="negative")
            return
        project = projects[chosen.value]
        branch.set_value(project.git_branch if project.git_repo else "")
        note.set_text(services.branch_note(project))
        differs = project.git_repo and services.checked_out_branch(project.git_repo) not in (None, project.git_branch)
        ui.notify(
            f"Git settings of {project.name} saved" + (f": {note.text}" if note.text else ""),
            type="warning" if differs else "positive",
            multi_line=True,
        )

    ui.button("Save", on_click=save_git).mark("git-save")
