"""BentoML deploy step: apply a Deployment, a Service and an autoscaling/v2 HorizontalPodAutoscaler.

``build_manifests`` is pure (kubernetes client models only), so tests can check the objects.
"""

from __future__ import annotations

from typing import Any

from runtime import config, log, need, report, value  # dagsmith: not embedded


def build_manifests(cfg: dict[str, Any], image: str) -> tuple[Any, Any, Any]:
    """The Deployment, Service and HPA for one Bento image, from the node's configuration."""
    from kubernetes.client import models as k8s

    name = cfg["deployment_name"]
    namespace = cfg["namespace"]
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "dagsmith"}
    meta = k8s.V1ObjectMeta(name=name, namespace=namespace, labels=labels)
    port = cfg["port"]
    resources = cfg["resources"]
    container = k8s.V1Container(
        name="bento",
        image=image,
        ports=[k8s.V1ContainerPort(container_port=port, name="http")],
        resources=k8s.V1ResourceRequirements(
            requests=resources["requests"] or None, limits=resources["limits"] or None
        ),
        readiness_probe=k8s.V1Probe(http_get=k8s.V1HTTPGetAction(path="/readyz", port=port)),
        liveness_probe=k8s.V1Probe(http_get=k8s.V1HTTPGetAction(path="/livez", port=port)),
    )
    deployment = k8s.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=meta,
        spec=k8s.V1DeploymentSpec(
            replicas=cfg["min_replicas"],
            selector=k8s.V1LabelSelector(match_labels={"app.kubernetes.io/name": name}),
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels=labels),
                spec=k8s.V1PodSpec(containers=[container], node_selector=resources["node_selector"] or None),
            ),
        ),
    )
    service = k8s.V1Service(
        api_version="v1",
        kind="Service",
        metadata=meta,
        spec=k8s.V1ServiceSpec(
            type=cfg["service_type"],
            selector={"app.kubernetes.io/name": name},
            ports=[k8s.V1ServicePort(port=port, target_port=port, name="http")],
        ),
    )
    autoscaler = k8s.V2HorizontalPodAutoscaler(
        api_version="autoscaling/v2",
        kind="HorizontalPodAutoscaler",
        metadata=meta,
        spec=k8s.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=k8s.V2CrossVersionObjectReference(api_version="apps/v1", kind="Deployment", name=name),
            min_replicas=cfg["min_replicas"],
            max_replicas=cfg["max_replicas"],
            metrics=[
                k8s.V2MetricSpec(
                    type="Resource",
                    resource=k8s.V2ResourceMetricSource(
                        name="cpu",
                        target=k8s.V2MetricTarget(
                            type="Utilization", average_utilization=cfg["target_cpu_utilization"]
                        ),
                    ),
                )
            ],
        ),
    )
    return deployment, service, autoscaler


def _apply(create: Any, patch: Any, body: Any) -> str:
    from kubernetes.client.exceptions import ApiException

    try:
        create(namespace=body.metadata.namespace, body=body)
        return "created"
    except ApiException as exc:
        if exc.status != 409:
            raise
    patch(name=body.metadata.name, namespace=body.metadata.namespace, body=body)
    return "updated"


def main() -> None:
    """Apply the three objects in the cluster (create, or patch when they exist); report the deployment."""
    from kubernetes import client as kube
    from kubernetes import config as kube_config

    cfg = config()
    bento = value("bento")
    image = need(
        bento.get("image") if isinstance(bento, dict) else None, "the upstream BentoML build reported no image"
    )
    if not cfg["resources"]["requests"].get("cpu"):
        log("warning: no CPU request; the autoscaler's CPU utilisation target needs one")
    try:
        kube_config.load_incluster_config()
    except kube_config.ConfigException:
        kube_config.load_kube_config()
    deployment, service, autoscaler = build_manifests(cfg, image)
    apps, core, scaling = kube.AppsV1Api(), kube.CoreV1Api(), kube.AutoscalingV2Api()
    steps = (
        (apps.create_namespaced_deployment, apps.patch_namespaced_deployment, deployment),
        (core.create_namespaced_service, core.patch_namespaced_service, service),
        (
            scaling.create_namespaced_horizontal_pod_autoscaler,
            scaling.patch_namespaced_horizontal_pod_autoscaler,
            autoscaler,
        ),
    )
    for create, patch, body in steps:
        log(body.kind + " " + body.metadata.name + ": " + _apply(create, patch, body))
    report({"deployment": {"name": cfg["deployment_name"], "namespace": cfg["namespace"], "image": image}})


if __name__ == "__main__":
    main()
