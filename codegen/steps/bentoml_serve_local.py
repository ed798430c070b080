"""BentoML deploy step, local target: serve the Bento on 127.0.0.1 in the background, ready when it ends.

``bentoml serve`` runs in its own process group, on a free port, with its output in
``<serving dir>/<deployment>.log``; ``<serving dir>/<deployment>.json`` records its process and URL
(the serving dir is ``DAGSMITH_SERVING_DIR``). A new deployment of the same name replaces the previous
server only once the new one is ready (the local form of a rollout); when it does not become ready, it
is stopped and the previous server keeps serving, and the task fails. Replicas, autoscaling and
resources are Kubernetes settings: not used here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dagsmith_steps.runtime import config, fail, log, need, report, value  # dagsmith: not embedded
from local_runtime import stop_server  # dagsmith: not embedded


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ready(url: str) -> bool:
    """True when the server answers its readiness probe."""
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def main() -> None:
    """Start ``bentoml serve`` for the upstream Bento and wait until it is ready; report the deployment."""
    cfg = config()
    bento = value("bento")
    tag = need(bento.get("tag") if isinstance(bento, dict) else None, "the upstream BentoML build reported no tag")
    name = cfg["deployment_name"]
    folder = Path(os.environ.get("DAGSMITH_SERVING_DIR") or "dagsmith-serving").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    record_path = folder / (name + ".json")
    port = free_port()
    url = "http://127.0.0.1:" + str(port)
    log_path = folder / (name + ".log")
    with log_path.open("ab") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", tag, "--host", "127.0.0.1", "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(folder),
            start_new_session=True,
        )
    record = {"name": name, "bento": tag, "url": url, "port": port, "pid": server.pid, "pgid": server.pid}
    record["started"] = time.time()
    record["log"] = str(log_path)
    starting = folder / (name + ".starting")  # not *.json: not a serving record until it is ready
    starting.write_text(json.dumps(record, indent=2), encoding="utf-8")
    deadline = time.monotonic() + float(os.environ.get("DAGSMITH_SERVE_TIMEOUT") or 300)
    while not ready(url):
        if server.poll() is not None or time.monotonic() > deadline:
            stop_server(record)
            starting.unlink(missing_ok=True)
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
            kept = " the previous server keeps serving;" if record_path.exists() else ""
            fail("the server of " + name + " did not become ready;" + kept + " last log lines:\n" + "\n".join(tail))
        time.sleep(0.5)
    if record_path.exists():
        previous = json.loads(record_path.read_text(encoding="utf-8"))
        if stop_server(previous):
            log("stopped the previous server of " + name + " (" + str(previous.get("bento")) + ")")
    starting.replace(record_path)
    log("serving " + name + " (" + tag + ") at " + url + "; stop it with: dagsmith run FILE --stop")
    report({"deployment": {"name": name, "namespace": "local", "image": tag, "url": url}})


if __name__ == "__main__":
    main()
