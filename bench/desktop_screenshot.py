"""The README's picture of the desktop app (assets/desktop.png): the installed package's native window.

The package (dist/dagsmith_*.deb from ``make package``, or DAGSMITH_DEB) is unpacked into a scratch prefix
and opened on the keyword example under Xvfb with JWM, a small window manager, so the picture has the
window's title bar (the pipeline's name) and its File menu. The X screen is grabbed (Pillow) and cut to the
window's frame, then reduced to 256 colours to keep the PNG small.

    .venv/bin/python bench/desktop_screenshot.py [OUT.png]      # needs Xvfb, jwm, xdotool, x11-utils
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "editor"))  # the package helpers

from packaged_app import (
    ROOT,
    all_drawn,
    close,
    evaluate,
    example_file,
    find_deb,
    install,
    kill,
    launch,
    wait_until,
    xvfb,
)
from PIL import Image, ImageGrab

SCREEN = (1440, 900)
WINDOW = {"width": 1400, "height": 840, "x": 15, "y": 15}
NAME = "Keyword recommendation"
HIDE_INSPECTOR = "[...document.querySelectorAll('button')].find(b => b.textContent.includes('vertical_split')).click()"


def x11(display: str, *command: str) -> str:
    return subprocess.run(command, env={"DISPLAY": display}, capture_output=True, text=True, check=False).stdout


def frame_box(display: str, wid: str) -> tuple[int, int, int, int]:
    """The window's frame on the screen (the window manager's window around it: title bar and borders):
    left, top, right, bottom."""
    parent = re.search(r"Parent window id: (0x[0-9a-f]+)", x11(display, "xwininfo", "-tree", "-id", wid))
    root = re.search(r"Window id: (0x[0-9a-f]+)", x11(display, "xwininfo", "-root"))
    frame = parent[1] if parent and root and parent[1] != root[1] else wid
    info = x11(display, "xwininfo", "-id", frame)
    left, top, width, height = (
        int(re.search(rf"{label}:\s+(-?\d+)", info)[1])  # type: ignore[index]
        for label in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")
    )
    return left, top, left + width, top + height


def main() -> int:
    deb = find_deb()
    if deb is None:
        print("no package: run make package first", file=sys.stderr)
        return 1
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "assets" / "desktop.png"
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        exe = install(deb, folder / "prefix")
        home = folder / "home"
        (home / "desktop").mkdir(parents=True)
        (home / "desktop" / "window.json").write_text(json.dumps(WINDOW), encoding="utf-8")
        file = folder / "keyword_recommendation.dagsmith.json"
        nodes = example_file(exe, file, NAME)
        config = folder / "jwmrc"
        config.write_text('<?xml version="1.0"?>\n<JWM><FocusModel>click</FocusModel></JWM>\n', encoding="utf-8")
        with xvfb(f"{SCREEN[0]}x{SCREEN[1]}x24") as display:
            manager = subprocess.Popen(["jwm", "-f", str(config)], env={"DISPLAY": display}, stderr=subprocess.DEVNULL)
            app = launch(exe, display, home, str(file))
            try:
                title = f"{NAME} — dagsmith"
                wid = wait_until(lambda: x11(display, "xdotool", "search", "--name", title).split(), 120, 0.5)
                page = wait_until(lambda: [p for p in app.pages() if "/pipeline/" in p.get("url", "")], 60, 0.5)
                if not wid or not page or not wait_until(lambda: evaluate(page[0], all_drawn(nodes)), 60, 0.5):
                    print(f"the window did not show the pipeline\n{app.output()}", file=sys.stderr)
                    return 1
                # A picture, not a check (so plain waits): the inspector hidden to give the canvas its width,
                # then the whole pipeline fitted into view once the canvas has resized.
                evaluate(page[0], HIDE_INSPECTOR)
                time.sleep(2)
                evaluate(page[0], "document.querySelector('.vue-flow__controls-fitview').click()")
                time.sleep(3)
                shot = ImageGrab.grab(xdisplay=display).crop(frame_box(display, wid[0]))
            finally:
                close(app)
                kill(app)
                manager.terminate()
                manager.wait(timeout=10)
    shot.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"{out}: {shot.size[0]}x{shot.size[1]}, {out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
