"""The installable desktop package (``make package``'s .deb), checked as a user gets it.

Installed into a scratch prefix, it launches under Xvfb with a ``.dagsmith.json`` file as its argument
(what a double-click in the file manager runs); the window must show that pipeline's page with its nodes
drawn (DevTools endpoint and a screenshot), and closing the app must leave no process behind. Runs when
DAGSMITH_PACKAGE_TEST=1 (``make package-test``) or when a built .deb is there (DAGSMITH_DEB or dist/).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from packaged_app import (
    all_drawn,
    close,
    evaluate,
    example_file,
    find_deb,
    install,
    kill,
    launch,
    run_again,
    screenshot,
    wait_until,
    xvfb,
)

pytestmark = pytest.mark.slow
DEB = find_deb()

if not (os.environ.get("DAGSMITH_PACKAGE_TEST") == "1" or DEB is not None):
    pytest.skip("no desktop package built (make package-test builds one and runs this)", allow_module_level=True)


@pytest.fixture(scope="module")
def exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert DEB is not None and DEB.is_file(), "no .deb in dist/: run make package (or set DAGSMITH_DEB)"
    assert shutil.which("Xvfb"), "install xvfb (apt-get install xvfb)"
    prefix = tmp_path_factory.mktemp("prefix")
    return install(DEB, prefix)


def test_the_package_installs_the_app_and_its_desktop_integration(exe: Path) -> None:
    prefix = exe.parents[2]
    assert (prefix / "usr" / "bin" / "dagsmith").readlink() == Path("/opt/dagsmith/dagsmith")
    entry = (prefix / "usr" / "share" / "applications" / "dagsmith.desktop").read_text()
    assert "Exec=dagsmith desktop %f" in entry
    assert "MimeType=application/x-dagsmith+json;application/x-elyra-pipeline;" in entry
    mime = (prefix / "usr" / "share" / "mime" / "packages" / "dagsmith.xml").read_text()
    assert '<glob pattern="*.dagsmith.json"' in mime and '<glob pattern="*.pipeline"' in mime
    assert (prefix / "usr" / "share" / "icons" / "hicolor" / "scalable" / "apps" / "dagsmith.svg").is_file()
    # The designer's package carries none of the run-only packages.
    bundled = {path.name.split(".")[0] for path in (exe.parent / "_internal").iterdir()}
    assert not bundled & {"airflow", "mlflow", "bentoml", "feast", "pandas", "pyarrow"}
    # What "Set up local runs" installs into the run environment: the pinned lock and a wheel of dagsmith.
    assert (exe.parent / "_internal" / "requirements.lock").is_file()
    assert list((exe.parent / "_internal" / "wheels").glob("dagsmith-*-py3-none-any.whl"))
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "desktop" in result.stdout


def test_a_double_clicked_pipeline_opens_in_the_window_and_closes_cleanly(exe: Path, tmp_path: Path) -> None:
    file = tmp_path / "double-click.dagsmith.json"
    nodes = example_file(exe, file, "Opened by double-click")
    with xvfb() as display:
        app = launch(exe, display, tmp_path / "home", str(file))
        try:
            assert wait_until(app.answers, timeout=90), app.output()

            def pipeline_page() -> dict[str, str] | None:
                """The window's page once it shows the pipeline (the token traded for the cookie, so out of the URL)."""
                shown = [page for page in app.pages() if re.search(r"/pipeline/\d+$", page.get("url", ""))]
                return shown[0] if shown else None

            page = wait_until(pipeline_page, timeout=60, interval=0.5)
            assert page, f"the window shows {app.pages()}\n{app.output()}"
            drawn = wait_until(
                lambda: evaluate(page, all_drawn(nodes)) is True,
                timeout=60,
                interval=0.5,
            )
            assert drawn, evaluate(page, "document.body.innerText")
            assert "Opened by double-click" in evaluate(page, "document.body.innerText")
            shot = screenshot(page, tmp_path / "window.png")
            from PIL import Image

            with Image.open(shot) as image:
                width, height = image.size
                colors = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
            assert width >= 800 and height >= 500, (width, height)
            assert len(colors) > 50, "the window is blank"
            assert app.process.poll() is None
            # A second double-click: that launch hands its file to the running app and exits.
            other = tmp_path / "second.dagsmith.json"
            example_file(exe, other, "Second double-click")
            second = run_again(exe, display, tmp_path / "home", "desktop", str(other))
            assert second.returncode == 0 and "already open" in second.stdout, second.stderr
            shown = wait_until(
                lambda: any(page.get("title") == "Second double-click — dagsmith" for page in app.pages()),
                timeout=60,
                interval=0.5,
            )
            assert shown, app.pages()
            left = close(app)
            assert app.process.poll() is not None, "the app did not quit"
            assert left == [], f"processes left behind: {left}"
        finally:
            kill(app)
