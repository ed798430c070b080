"""The alerts' and the dashboard's PromQL against what a real BentoML server exports on ``/metrics``.

One ``bentoml serve`` (a small service that fails on one input) serves the module. After a few requests,
one of them a 500, its ``/metrics`` is parsed with ``prometheus_client`` and every BentoML metric that a
query selects must be there, with every label the query matches or groups by, and each matcher must
select real samples (``http_response_code=~"5.."`` the 500). ``namespace`` and ``pod`` are the labels
Prometheus attaches to the scraped target; the other metrics come from kube-state-metrics, cAdvisor or
Prometheus itself and are listed as such.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from promql_check import parse
from test_deploy_step import DEPLOY
from test_serving_monitoring import _queries, watched

pytestmark = pytest.mark.slow

TARGET_LABELS = {"namespace", "pod"}
"""Labels Prometheus attaches to a target's series (a ServiceMonitor's and the annotation job's relabelling)."""

ELSEWHERE = {
    "kube_horizontalpodautoscaler_status_current_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_status_desired_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_spec_max_replicas": "kube-state-metrics",
    "kube_deployment_status_replicas_available": "kube-state-metrics",
    "container_cpu_usage_seconds_total": "cAdvisor (kubelet)",
    "container_memory_working_set_bytes": "cAdvisor (kubelet)",
    "up": "Prometheus (one per scraped target)",
}
"""The metrics the queries use that no Bento exports, and where a kube-prometheus-stack cluster gets them."""

SERVICE = """
import bentoml


@bentoml.service
class Echo:
    @bentoml.api
    def echo(self, text: str) -> str:
        if text == "boom":
            raise RuntimeError("boom")
        return text
"""


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()
    except OSError:
        return 0, ""


def _post(url: str, payload: dict[str, Any]) -> int:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real ``bentoml serve`` of ``SERVICE``; stopped (its process group) at the end."""
    folder = tmp_path_factory.mktemp("bento-metrics")
    (folder / "service.py").write_text(SERVICE, encoding="utf-8")
    env = {**os.environ, "BENTOML_HOME": str(folder / "home"), "BENTOML_DO_NOT_TRACK": "true"}
    port = _free_port()
    log = folder / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", "service:Echo", "--host", "127.0.0.1", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a start takes ~10 s; the limit only ends a hung start
        while _get(url + "/readyz")[0] != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("bentoml serve did not become ready:\n" + log.read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def scraped(served: str) -> dict[str, list[dict[str, str]]]:
    """The label sets of each sample name in ``/metrics`` after three answered requests and one 500."""
    from prometheus_client.parser import text_string_to_metric_families

    assert [_post(served + "/echo", {"text": text}) for text in ("a", "b", "c", "boom")] == [200, 200, 200, 500]
    code, text = _get(served + "/metrics")
    assert code == 200
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(dict(sample.labels))
    return samples


def _matches(operator: str, wanted: str, value: str) -> bool:
    found = re.fullmatch(wanted, value) is not None if operator in ("=~", "!~") else value == wanted
    return found if operator in ("=", "=~") else not found


def test_every_bentoml_metric_and_label_the_queries_use_is_served(scraped: dict[str, list[dict[str, str]]]) -> None:
    checked: set[str] = set()
    for query in _queries(watched()):
        parsed = parse(query)
        for selector in parsed.selectors:
            if selector.metric in ELSEWHERE:
                continue
            assert selector.metric in scraped, f"{selector.metric} (in {query}) is not in the Bento's /metrics"
            samples = scraped[selector.metric]
            for label, operator, wanted in selector.matchers:
                if label in TARGET_LABELS:
                    continue
                assert all(label in sample for sample in samples), f"{selector.metric} has no label {label}"
                assert any(_matches(operator, wanted, sample[label]) for sample in samples), (query, label)
            checked.add(selector.metric)
        for grouping, selectors in parsed.groupings:
            for selector in selectors:
                for label in set(grouping) - TARGET_LABELS:
                    if selector.metric not in ELSEWHERE:
                        assert all(label in sample for sample in scraped[selector.metric]), (query, label)
    assert checked == {
        "bentoml_service_request_total",
        "bentoml_service_request_duration_seconds_bucket",
        "bentoml_service_request_in_progress",
    }
    assert {sample["http_response_code"] for sample in scraped["bentoml_service_request_total"]} == {"200", "500"}


def test_the_bento_sets_no_label_that_prometheus_attaches_to_its_target(
    scraped: dict[str, list[dict[str, str]]],
) -> None:
    """Else Prometheus would rename the Bento's own label to ``exported_*`` and the queries would miss."""
    bento = [labels for name, found in scraped.items() if name.startswith("bentoml_") for labels in found]
    assert bento
    assert not any(TARGET_LABELS & labels.keys() for labels in bento)


def test_the_other_metrics_are_the_ones_listed_with_their_source() -> None:
    used = {selector.metric for query in _queries(watched()) for selector in parse(query).selectors}
    assert {name for name in used if not name.startswith("bentoml_")} == set(ELSEWHERE)


def test_the_latency_alert_reads_the_served_histogram(scraped: dict[str, list[dict[str, str]]]) -> None:
    rule = next(rule for rule in DEPLOY["alert_rules"](watched()) if rule["alert"] == "BentoHighLatencyP95")
    (selector,) = parse(rule["expr"]).selectors
    buckets = scraped[selector.metric]
    assert {"+Inf"} <= {sample["le"] for sample in buckets}
    assert selector.metric.removesuffix("_bucket") + "_count" in scraped
