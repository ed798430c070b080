"""BentoML deploy step: apply a Deployment, a Service and an HPA, wait for the rollout, roll back on failure.

The objects are applied with server-side apply under the field manager ``dagsmith`` (``force``). The
Deployment never carries ``spec.replicas``: the HorizontalPodAutoscaler owns the replica count, so a deploy
never resets an autoscaled service (a new Deployment starts at Kubernetes' default of one replica until
the autoscaler's first sync raises it to ``min_replicas``).

The step then waits, like ``kubectl rollout status``, until the controller has observed the new
generation and every replica is updated and available, for at most ``rollout_timeout_seconds``. When
the rollout fails (its progress deadline is exceeded) or times out, the objects read before applying are
re-applied as they were (the previous pod template brings back the previous ReplicaSet, as
``kubectl rollout undo`` does, and needs no revision history), and the task fails with the reason and
the pods' waiting reasons. A Deployment that did not exist before is left in place for inspection.

The monitoring objects of ``serving_monitoring`` follow the autoscaler, applied and rolled back alike; those
turned off are deleted (if dagsmith's). Without the Prometheus Operator (404) the step says what to install.

``build_manifests`` and ``rollout_state`` are pure; ``deploy`` takes the cluster, the clock and the sleep
as arguments, so tests drive it against a fake API server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dagsmith_steps.runtime import config, fail, log, need, report, value  # dagsmith: not embedded
from dagsmith_steps.serving_monitoring import (  # dagsmith: not embedded
    OPTIONAL_KINDS,
    missing_kind,
    monitoring_calls,
    monitoring_manifests,
    pod_annotations,
    unwanted,
)

FIELD_MANAGER = "dagsmith"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
POLL_SECONDS = 2.0
DEFAULT_ROLLOUT_TIMEOUT = 600


class DeployError(Exception):
    """The rollout did not complete; the message says why and what was rolled back."""


class ClusterError(Exception):
    """The Kubernetes API refused a request (the message names the object and the API's answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def _refused(action: str, kind: str, name: str, exc: Any) -> ClusterError:
    body = str(getattr(exc, "body", "") or "")[:500]
    text = action + " " + kind + " " + name + ": " + str(exc.status) + " " + str(exc.reason) + " " + body
    return ClusterError(text, int(exc.status or 0))


def build_manifests(cfg: dict[str, Any], image: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The Deployment (without ``replicas``), Service and autoscaling/v2 HPA for one Bento image."""
    name = cfg["deployment_name"]
    namespace = cfg["namespace"]
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "dagsmith"}
    meta = {"name": name, "namespace": namespace, "labels": labels}
    port = cfg["port"]
    resources = {key: cfg["resources"][key] for key in ("requests", "limits") if cfg["resources"][key]}
    container = {
        "name": "bento",
        "image": image,
        "ports": [{"containerPort": port, "name": "http"}],
        "resources": resources,
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": port}},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": port}},
    }
    pod: dict[str, Any] = {"containers": [container]}
    if cfg["resources"]["node_selector"]:
        pod["nodeSelector"] = cfg["resources"]["node_selector"]
    template: dict[str, Any] = {"labels": labels}
    if pod_annotations(cfg):  # metrics: annotations (a Prometheus that discovers pods by their annotations)
        template["annotations"] = pod_annotations(cfg)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {  # no "replicas": the HorizontalPodAutoscaler owns the count
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {"metadata": template, "spec": pod},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": cfg["service_type"],
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"port": port, "targetPort": port, "name": "http"}],
        },
    }
    target = {"type": "Utilization", "averageUtilization": cfg["target_cpu_utilization"]}
    autoscaler = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": cfg["min_replicas"],
            "maxReplicas": cfg["max_replicas"],
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": target}}],
        },
    }
    return deployment, service, autoscaler


class Cluster:
    """The Kubernetes calls the step makes, through the official client (``api``: a ``kubernetes.client.ApiClient``)."""

    def __init__(self, api: Any) -> None:
        from kubernetes import client as kube

        self.api = api
        apps, core, scaling = kube.AppsV1Api(api), kube.CoreV1Api(api), kube.AutoscalingV2Api(api)
        self.calls = {
            "Deployment": (apps.read_namespaced_deployment, apps.patch_namespaced_deployment),
            "Service": (core.read_namespaced_service, core.patch_namespaced_service),
            "HorizontalPodAutoscaler": (
                scaling.read_namespaced_horizontal_pod_autoscaler,
                scaling.patch_namespaced_horizontal_pod_autoscaler,
            ),
        }
        self.calls.update(monitoring_calls(api))  # the ConfigMap, the ServiceMonitor and the PrometheusRule
        self.core = core

    @classmethod
    def connect(cls) -> Cluster:
        """The cluster the pod runs in (its service account), else the local kubeconfig."""
        from kubernetes import client as kube
        from kubernetes import config as kube_config

        try:
            kube_config.load_incluster_config()
        except kube_config.ConfigException:
            kube_config.load_kube_config()
        return cls(kube.ApiClient())

    def read(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        """The live object as JSON (camelCase keys), or None when it does not exist."""
        from kubernetes.client.exceptions import ApiException

        try:
            found = self.calls[kind][0](name=name, namespace=namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _refused("cannot read", kind, namespace + "/" + name, exc) from None
        return self.api.sanitize_for_serialization(found)

    def apply(self, body: dict[str, Any]) -> None:
        """Server-side apply ``body`` as the field manager ``dagsmith``, taking over conflicting fields."""
        from kubernetes.client.exceptions import ApiException

        meta = body["metadata"]
        try:
            self.calls[body["kind"]][1](
                name=meta["name"],
                namespace=meta["namespace"],
                body=body,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type=APPLY_CONTENT_TYPE,
            )
        except ApiException as exc:
            raise _refused("cannot apply", body["kind"], meta["namespace"] + "/" + meta["name"], exc) from None

    def delete(self, kind: str, name: str, namespace: str) -> None:
        """Delete an object (one that is gone already is fine)."""
        from kubernetes.client.exceptions import ApiException

        try:
            self.calls[kind][2](name=name, namespace=namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise _refused("cannot delete", kind, namespace + "/" + name, exc) from None

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The pods matching a label selector, as JSON."""
        from kubernetes.client.exceptions import ApiException

        try:
            found = self.core.list_namespaced_pod(namespace=namespace, label_selector=selector)
        except ApiException:  # the reasons are a help, not a must: the deployer may not list pods
            return []
        return list(self.api.sanitize_for_serialization(found).get("items") or [])


def rollout_state(live: dict[str, Any]) -> tuple[str, str]:
    """``("done" | "waiting" | "failed", message)`` for a live Deployment, as ``kubectl rollout status`` decides."""
    meta, spec, status = live.get("metadata") or {}, live.get("spec") or {}, live.get("status") or {}
    generation = int(meta.get("generation") or 0)
    if int(status.get("observedGeneration") or 0) < generation:
        return "waiting", "waiting for the controller to observe generation " + str(generation)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return "failed", "the rollout exceeded its progress deadline: " + str(condition.get("message") or "")
    desired = int(spec.get("replicas") if spec.get("replicas") is not None else 1)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < desired:
        return "waiting", str(updated) + " of " + str(desired) + " new replicas updated"
    if total > updated:
        return "waiting", str(total - updated) + " old replicas pending termination"
    if available < updated:
        return "waiting", str(available) + " of " + str(updated) + " updated replicas available"
    return "done", str(available) + " replicas updated and available"


def wait_for_rollout(
    cluster: Any,
    name: str,
    namespace: str,
    *,
    timeout: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> tuple[bool, str]:
    """Poll the Deployment until its rollout is done, failed or ``timeout`` seconds passed: (done, reason)."""
    deadline = clock() + timeout
    said = ""
    while True:
        live = cluster.read("Deployment", name, namespace)
        if live is None:
            return False, "the Deployment " + namespace + "/" + name + " disappeared during the rollout"
        state, message = rollout_state(live)
        if message != said:
            log("rollout of " + name + ": " + message)
            said = message
        if state != "waiting":
            return state == "done", message
        if clock() >= deadline:
            return False, "the rollout did not finish within " + str(int(timeout)) + " s (" + message + ")"
        sleep(POLL_SECONDS)


def pod_reasons(cluster: Any, namespace: str, name: str) -> list[str]:
    """Why the Deployment's pods are not ready: container waiting or termination reasons, scheduling failures."""
    reasons = []
    for pod in cluster.pods(namespace, "app.kubernetes.io/name=" + name):
        pod_name = (pod.get("metadata") or {}).get("name", "?")
        status = pod.get("status") or {}
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                reasons.append(
                    pod_name + ": " + str(condition.get("reason")) + " " + str(condition.get("message") or "")
                )
        for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            for where in ("state", "lastState"):
                for kind in ("waiting", "terminated"):
                    detail = (container.get(where) or {}).get(kind)
                    if detail and detail.get("reason") not in (None, "Completed", "ContainerCreating"):
                        text = pod_name + "/" + str(container.get("name")) + ": " + str(detail.get("reason"))
                        reasons.append(text + (" (" + str(detail["message"]) + ")" if detail.get("message") else ""))
    return list(dict.fromkeys(reasons))


def restore_body(previous: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """What to apply to bring an object back as it was read before this deploy (never its replicas)."""
    meta = previous.get("metadata") or {}
    body: dict[str, Any] = {
        "apiVersion": manifest["apiVersion"],
        "kind": manifest["kind"],
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")},
    }
    if meta.get("labels"):
        body["metadata"]["labels"] = meta["labels"]
    spec = dict(previous.get("spec") or {})
    if manifest["kind"] == "Deployment":
        spec.pop("replicas", None)
    elif manifest["kind"] == "Service":  # the rest (cluster IPs, families) is allocated by the API server
        spec = {key: spec[key] for key in ("type", "selector", "ports") if key in spec}
    elif manifest["kind"] == "ConfigMap":  # a ConfigMap has data, no spec
        body["data"] = dict(previous.get("data") or {})
        return body
    body["spec"] = spec
    return body


def deploy(
    cfg: dict[str, Any],
    image: str,
    cluster: Any,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Apply, wait for the rollout, roll back and raise ``DeployError`` when it fails; the deployment value."""
    manifests = (*build_manifests(cfg, image), *monitoring_manifests(cfg))
    name, namespace = cfg["deployment_name"], cfg["namespace"]
    timeout = float(cfg.get("rollout_timeout_seconds") or DEFAULT_ROLLOUT_TIMEOUT)
    previous = [cluster.read(body["kind"], *_where(body)) for body in manifests]
    removed: list[tuple[dict[str, Any], dict[str, Any]]] = []
    try:
        for body, before in zip(manifests, previous, strict=True):
            where = _where(body)[1] + "/" + _where(body)[0]
            try:
                cluster.apply(body)
            except ClusterError as exc:
                if exc.status != 404 or body["kind"] not in OPTIONAL_KINDS:
                    raise
                log(missing_kind(body["kind"]) + " (" + where + " not applied)")
                continue
            log(body["kind"] + " " + where + ": " + ("updated" if before else "created"))
        removed = _prune(cluster, unwanted(cfg))
        done, reason = wait_for_rollout(cluster, name, namespace, timeout=timeout, sleep=sleep, clock=clock)
    except ClusterError as exc:
        done, reason = False, str(exc)
    if done:
        return {"name": name, "namespace": namespace, "image": image}
    message = "the deployment " + namespace + "/" + name + " of " + image + " failed: " + reason
    problems = pod_reasons(cluster, namespace, name)
    if problems:
        message += "; pods: " + "; ".join(problems)
    if previous[0] is None:
        raise DeployError(message + ". There was no previous revision: the Deployment is left for inspection")
    everything = (*manifests, *(body for _, body in removed))  # the deleted ones come back as they were
    before_all = [*previous, *(live for live, _ in removed)]
    raise DeployError(
        message + ". " + _roll_back(cluster, everything, before_all, timeout=timeout, sleep=sleep, clock=clock)
    )


def _prune(cluster: Any, bodies: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Delete the dagsmith objects turned off: (as they were, manifest) each; a failure only warns (no rights?)."""
    removed = []
    for body in bodies:
        name, namespace = _where(body)
        try:
            live = cluster.read(body["kind"], name, namespace)
            labels = ((live or {}).get("metadata") or {}).get("labels") or {}
            if live is None or labels.get("app.kubernetes.io/managed-by") != FIELD_MANAGER:
                continue
            cluster.delete(body["kind"], name, namespace)
        except ClusterError as exc:
            log("warning: " + str(exc) + " (it is turned off in the node's monitoring settings; delete it yourself)")
            continue
        log(body["kind"] + " " + namespace + "/" + name + ": deleted (turned off in the node's monitoring settings)")
        removed.append((live, body))
    return removed


def _where(body: dict[str, Any]) -> tuple[str, str]:  # an object's (name, namespace)
    return body["metadata"]["name"], body["metadata"]["namespace"]


def _roll_back(
    cluster: Any,
    manifests: tuple[dict[str, Any], ...],
    previous: list[dict[str, Any] | None],
    *,
    timeout: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> str:
    """Re-apply the objects as they were read before this deploy; what happened, for the failure message."""
    deployment = previous[0] or {}
    revision = ((deployment.get("metadata") or {}).get("annotations") or {}).get("deployment.kubernetes.io/revision")
    name, namespace = manifests[0]["metadata"]["name"], manifests[0]["metadata"]["namespace"]
    try:
        for body, before in zip(manifests, previous, strict=True):
            if before is not None:
                cluster.apply(restore_body(before, body))
        log("rolled back " + namespace + "/" + name + " to revision " + str(revision or "(unknown)"))
        back, back_reason = wait_for_rollout(cluster, name, namespace, timeout=timeout, sleep=sleep, clock=clock)
    except ClusterError as exc:
        return "The rollback to the previous revision failed too: " + str(exc)
    where = "Rolled back to the previous revision" + (" (" + str(revision) + ")" if revision else "")
    return where + ("; the rollback completed" if back else "; the rollback did not complete: " + back_reason)


def main() -> None:
    """Deploy the upstream Bento image; fail the task with the reason when the rollout fails."""
    cfg = config()
    bento = value("bento")
    image = need(
        bento.get("image") if isinstance(bento, dict) else None, "the upstream BentoML build reported no image"
    )
    if not cfg["resources"]["requests"].get("cpu"):
        log("warning: no CPU request; the autoscaler's CPU utilisation target needs one")
    try:
        deployment = deploy(cfg, image, Cluster.connect())
    except (DeployError, ClusterError) as exc:
        fail(str(exc))
    report({"deployment": deployment})


if __name__ == "__main__":
    main()
