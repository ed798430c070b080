"""The bentoml_deploy step against an in-process fake Kubernetes API server, and its objects against the schema.

The step runs as embedded (runtime + step program) with the real ``kubernetes`` client; only the client's
REST layer is replaced by ``FakeApiServer``, which stores objects, answers reads, records every request
and plays a scripted rollout. So the tests see what the client really sends: method, path, field manager,
``force``, content type and body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest
from sample_pipelines import mlops_loop

from dagsmith.codegen.plan import build_plan
from dagsmith.codegen.steps import source
from dagsmith.nodes import Pipeline
from dagsmith.nodes.bundled import example_names, load_example

K8S_VERSION = "1.33.0"
"""The Kubernetes version whose OpenAPI schema (shipped with kubernetes-validate) the applied objects must pass."""

OLD_IMAGE = "registry/keyword-api:1"
NEW_IMAGE = "registry/keyword-api:2"
PATHS = {
    "deployments": ("apps/v1", "Deployment"),
    "services": ("v1", "Service"),
    "horizontalpodautoscalers": ("autoscaling/v2", "HorizontalPodAutoscaler"),
}


def load_step(step: str) -> dict[str, Any]:
    """The step's names, from its embedded program (``main`` does not run on import)."""
    namespace: dict[str, Any] = {"__name__": f"dagsmith_step_{step}"}
    exec(compile(source("runtime") + "\n\n\n" + source(step), step, "exec"), namespace)
    return namespace


DEPLOY = load_step("bentoml_deploy")


def config(**changes: Any) -> dict[str, Any]:
    """A deploy step configuration as the DAG passes it."""
    base = {
        "deployment_name": "keyword-api",
        "namespace": "ml",
        "min_replicas": 2,
        "max_replicas": 12,
        "target_cpu_utilization": 60,
        "port": 3000,
        "service_type": "ClusterIP",
        "rollout_timeout_seconds": 60,
        "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "2Gi"}, "node_selector": {}},
    }
    return base | changes


class _Response:
    def __init__(self, status: int, payload: Any) -> None:
        self.status = status
        self.reason = {200: "OK", 201: "Created", 403: "Forbidden", 404: "Not Found"}.get(status, "Error")
        self.data = json.dumps(payload).encode()

    def getheaders(self) -> dict[str, str]:
        return {"content-type": "application/json"}

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.getheaders().get(name.lower(), default)


def status(updated: int, available: int, total: int | None = None, *, observed: bool = True) -> dict[str, Any]:
    """A Deployment status in a rollout script (``observed``: the controller saw the new generation)."""
    total = updated if total is None else total
    found = {"updatedReplicas": updated, "availableReplicas": available, "replicas": total, "observed": observed}
    return found


DEADLINE = {"conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}


class FakeApiServer:
    """The API server as the client's REST layer sees it: objects by path, a request log, a rollout script.

    A server-side apply keeps what it was not sent (``spec.replicas`` stays as the autoscaler set it);
    a changed pod template bumps ``metadata.generation``. Each read of the Deployment after the first
    apply takes the next entry of ``rollout`` (the last one repeats).
    """

    def __init__(self, rollout: list[dict[str, Any]], *, refuse: dict[str, int] | None = None) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.rollout = list(rollout)
        self.refuse = refuse or {}
        self.pods: list[dict[str, Any]] = []
        self.applied = False

    def add(self, body: dict[str, Any], **status_fields: Any) -> None:
        """An object that exists before the step runs."""
        kind = next(plural for plural, (_, k) in PATHS.items() if k == body["kind"])
        meta = body["metadata"]
        stored = json.loads(json.dumps(body))
        stored["metadata"] |= {"generation": 1, "annotations": {"deployment.kubernetes.io/revision": "4"}}
        if body["kind"] == "Deployment":
            stored["status"] = status_fields
        self.objects[f"{meta['namespace']}/{kind}/{meta['name']}"] = stored

    def request(self, method: str, url: str, **options: Any) -> _Response:
        path = url.split("://", 1)[1].split("/", 1)[1]
        self.requests.append({"method": method, "path": path, **options})
        found = re.fullmatch(r"apis?/(?:[a-z0-9.]+/)?v\d+/namespaces/([^/]+)/([a-z]+)(?:/([^/]+))?", path)
        assert found, path
        namespace, plural, name = found.groups()
        if plural == "pods":
            return _Response(200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": self.pods})
        key = f"{namespace}/{plural}/{name}"
        if method == "GET":
            return self._read(key, plural)
        assert method == "PATCH", method
        if plural in self.refuse:
            return self._error(self.refuse[plural], "deployments.apps is forbidden: User cannot patch")
        return _Response(200, self._apply(key, options["body"]))

    def GET(self, url: str, **options: Any) -> _Response:
        return self.request("GET", url, **options)

    def PATCH(self, url: str, **options: Any) -> _Response:
        return self.request("PATCH", url, **options)

    def _error(self, code: int, message: str) -> Any:
        from kubernetes.client.exceptions import ApiException

        raise ApiException(http_resp=_Response(code, {"kind": "Status", "message": message, "code": code}))

    def _read(self, key: str, plural: str) -> _Response:
        if key not in self.objects:
            return self._error(404, "not found")
        live = self.objects[key]
        if plural == "deployments" and self.applied and self.rollout:
            step = self.rollout.pop(0) if len(self.rollout) > 1 else self.rollout[0]
            observed = live["metadata"]["generation"] if step.get("observed", True) else 0
            fields = {name: value for name, value in step.items() if name != "observed"}
            live["status"] = fields | {"observedGeneration": observed}
        return _Response(200, live)

    def _apply(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        live = self.objects.get(key)
        merged = json.loads(json.dumps(body))
        merged["metadata"] = (live or {}).get("metadata", {}) | merged["metadata"]
        if body["kind"] == "Deployment":
            self.applied = True
            merged["metadata"].setdefault("generation", 0)
            kept = (live or {}).get("spec", {}).get("replicas", 1)
            merged["spec"].setdefault("replicas", kept)
            if live is None or live["spec"]["template"] != merged["spec"]["template"]:
                merged["metadata"]["generation"] += 1
            merged["status"] = (live or {}).get("status", {})
        self.objects[key] = merged
        return merged

    def applies(self, plural: str = "") -> list[dict[str, Any]]:
        """The apply requests, optionally of one kind (``deployments``, ...)."""
        wanted = f"/{plural}/" if plural else "/"
        return [item for item in self.requests if item["method"] == "PATCH" and wanted in item["path"]]


class Clock:
    """Monotonic time that only the step's sleeps advance (no real waiting)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run_deploy(server: FakeApiServer, cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the step's ``deploy`` against ``server`` through a real ``kubernetes.client.ApiClient``."""
    from kubernetes.client import ApiClient, Configuration

    api = ApiClient(Configuration(host="https://cluster.invalid"))
    api.rest_client = server
    clock = Clock()
    result: dict[str, Any] = DEPLOY["deploy"](
        cfg or config(), NEW_IMAGE, DEPLOY["Cluster"](api), sleep=clock.sleep, clock=clock
    )
    return result


def existing(server: FakeApiServer, *, replicas: int) -> None:
    """The objects a previous deploy of ``OLD_IMAGE`` left, the autoscaler having scaled to ``replicas``."""
    deployment, service, autoscaler = DEPLOY["build_manifests"](config(port=8080), OLD_IMAGE)
    deployment["spec"]["replicas"] = replicas
    server.add(deployment, replicas=replicas, updatedReplicas=replicas, availableReplicas=replicas)
    server.add(service)
    server.add(autoscaler)


def image_of(body: dict[str, Any]) -> str:
    return str(body["spec"]["template"]["spec"]["containers"][0]["image"])


def test_objects_are_server_side_applied_as_dagsmith_and_the_rollout_is_awaited() -> None:
    server = FakeApiServer([status(0, 0, observed=False), status(1, 0), status(1, 1)])
    assert run_deploy(server) == {"name": "keyword-api", "namespace": "ml", "image": NEW_IMAGE}
    applies = server.applies()
    assert [item["path"] for item in applies] == [
        "apis/apps/v1/namespaces/ml/deployments/keyword-api",
        "api/v1/namespaces/ml/services/keyword-api",
        "apis/autoscaling/v2/namespaces/ml/horizontalpodautoscalers/keyword-api",
    ]
    for item in applies:
        assert item["headers"]["Content-Type"] == "application/apply-patch+yaml"
        assert dict(item["query_params"]) == {"fieldManager": "dagsmith", "force": True}
    assert "replicas" not in applies[0]["body"]["spec"]
    assert image_of(applies[0]["body"]) == NEW_IMAGE
    reads = [item for item in server.requests if item["method"] == "GET" and "/deployments/" in item["path"]]
    assert len(reads) == 1 + 3  # the read before applying, then until the rollout was done


def test_a_deploy_never_sends_the_replicas_the_autoscaler_owns() -> None:
    server = FakeApiServer([status(10, 10, 12), status(10, 10)])
    existing(server, replicas=10)
    run_deploy(server)
    assert all("replicas" not in item["body"]["spec"] for item in server.applies("deployments"))
    live = server.objects["ml/deployments/keyword-api"]
    assert live["spec"]["replicas"] == 10
    assert image_of(live) == NEW_IMAGE


def test_a_failed_rollout_is_rolled_back_and_fails_with_the_reason_and_the_pods_reasons() -> None:
    server = FakeApiServer([status(1, 0, 11), DEADLINE | status(1, 0, 11), status(10, 10)])
    existing(server, replicas=10)
    waiting = {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}}
    server.pods = [
        {
            "metadata": {"name": "keyword-api-new-1"},
            "status": {
                "containerStatuses": [
                    {"name": "bento", "image": NEW_IMAGE, "imageID": "", "ready": False, "restartCount": 0}
                    | {"state": waiting}
                ]
            },
        }
    ]
    with pytest.raises(DEPLOY["DeployError"]) as failed:
        run_deploy(server)
    message = str(failed.value)
    assert "progress deadline" in message
    assert "keyword-api-new-1/bento: ImagePullBackOff (pull access denied)" in message
    assert "Rolled back to the previous revision (4); the rollback completed" in message
    deployment_applies = [item["body"] for item in server.applies("deployments")]
    assert [image_of(body) for body in deployment_applies] == [NEW_IMAGE, OLD_IMAGE]
    assert all("replicas" not in body["spec"] for body in deployment_applies)
    restored_service = server.applies("services")[-1]["body"]
    assert restored_service["spec"]["ports"][0]["port"] == 8080  # the previous Service, as it was
    live = server.objects["ml/deployments/keyword-api"]
    assert (image_of(live), live["spec"]["replicas"]) == (OLD_IMAGE, 10)


def test_a_rollout_that_does_not_finish_in_time_is_rolled_back() -> None:
    server = FakeApiServer([status(1, 0, 11)] * 40 + [status(10, 10)])
    existing(server, replicas=10)
    with pytest.raises(DEPLOY["DeployError"]) as failed:
        run_deploy(server, config(rollout_timeout_seconds=60))
    assert "did not finish within 60 s (1 of 10 new replicas updated)" in str(failed.value)
    assert [image_of(item["body"]) for item in server.applies("deployments")] == [NEW_IMAGE, OLD_IMAGE]


def test_a_first_deployment_that_fails_is_left_for_inspection() -> None:
    server = FakeApiServer([DEADLINE | status(0, 0)])
    with pytest.raises(DEPLOY["DeployError"]) as failed:
        run_deploy(server)
    assert "no previous revision" in str(failed.value)
    assert len(server.applies("deployments")) == 1


def test_a_refused_apply_is_rolled_back_and_named() -> None:
    server = FakeApiServer([status(10, 10)], refuse={"horizontalpodautoscalers": 403})
    existing(server, replicas=10)
    with pytest.raises(DEPLOY["DeployError"]) as failed:
        run_deploy(server)
    message = str(failed.value)
    assert "cannot apply HorizontalPodAutoscaler ml/keyword-api: 403 Forbidden" in message
    assert "rollback to the previous revision failed too" in message  # the HPA is refused again
    assert [image_of(item["body"]) for item in server.applies("deployments")] == [NEW_IMAGE, OLD_IMAGE]


@pytest.mark.parametrize(
    ("live", "state"),
    [
        ({"metadata": {"generation": 2}, "status": {"observedGeneration": 1}}, "waiting"),
        ({"metadata": {"generation": 2}, "spec": {"replicas": 3}, "status": {"observedGeneration": 2}}, "waiting"),
        (
            {"metadata": {"generation": 2}, "spec": {"replicas": 2}}
            | {"status": {"observedGeneration": 2, "updatedReplicas": 2, "replicas": 3, "availableReplicas": 3}},
            "waiting",
        ),
        (
            {"metadata": {"generation": 2}, "spec": {"replicas": 2}}
            | {"status": {"observedGeneration": 2, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2}},
            "done",
        ),
        ({"metadata": {"generation": 2}, "status": {"observedGeneration": 2} | DEADLINE}, "failed"),
    ],
)
def test_rollout_state_follows_kubectl_rollout_status(live: dict[str, Any], state: str) -> None:
    assert DEPLOY["rollout_state"](live)[0] == state


def _deploy_configs(pipeline: Pipeline) -> list[dict[str, Any]]:
    plan = build_plan(pipeline, version=1)
    pods = [task.pod for task in plan.tasks if task.pod and plan.programs.get(task.pod.step or "") == "bentoml_deploy"]
    return [json.loads(pod.env["DAGSMITH_CONFIG"].text) for pod in pods]  # type: ignore[union-attr]


DEPLOYING: dict[str, Callable[[], Pipeline]] = {
    name: (lambda name=name: load_example(name))  # type: ignore[misc]
    for name in example_names()
    if any(node.type == "bentoml_deploy" for node in load_example(name).nodes)
}
DEPLOYING["sample loop (GPU replicas)"] = mlops_loop


def test_the_examples_that_deploy_are_covered() -> None:
    assert len(DEPLOYING) >= 3  # keyword and article recommendation, and the sample loop


@pytest.mark.parametrize("name", sorted(DEPLOYING))
def test_every_applied_object_passes_the_kubernetes_schema(name: str) -> None:
    configs = _deploy_configs(DEPLOYING[name]())
    assert configs
    for cfg in configs:
        for body in DEPLOY["build_manifests"](cfg, NEW_IMAGE):
            kubernetes_validate.validate(body, K8S_VERSION, strict=True)
        assert cfg["rollout_timeout_seconds"] >= 30


def test_the_schema_check_catches_a_wrong_object() -> None:
    deployment = DEPLOY["build_manifests"](config(), NEW_IMAGE)[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "3000"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
