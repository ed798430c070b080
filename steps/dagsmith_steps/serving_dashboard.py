"""The Grafana dashboard of a served Bento, built with Grafana's foundation SDK, in a ConfigMap for the sidecar.

One dashboard per deployment: request rate, 5xx ratio, p50/p95/p99 latency, in-flight requests, the
autoscaler's replicas (kube-state-metrics), CPU and memory per pod (cAdvisor). Its uid is derived from the
namespace and the name, so a re-deploy updates it; its data source is the dashboard variable ``datasource``.
The ConfigMap carries the label ``grafana_dashboard: "1"`` that Grafana's dashboard sidecar watches.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dagsmith_steps.serving_queries import Queries, legend, object_meta, settings  # dagsmith: not embedded

PANELS = (
    # title, unit, grid (x, y, width, height of 24 columns), description
    ("Request rate", "reqps", (0, 0, 12, 8), "Requests per second, by endpoint"),
    ("5xx error ratio", "percentunit", (12, 0, 12, 8), "Share of the requests answered with a 5xx"),
    ("Latency", "s", (0, 8, 12, 8), "Request duration percentiles (BentoML's histogram)"),
    ("In-flight requests", "short", (12, 8, 12, 8), "Requests being served now, by pod"),
    ("Replicas", "short", (0, 16, 8, 8), "From kube-state-metrics: the autoscaler's current, desired and max"),
    ("CPU per pod", "short", (8, 16, 8, 8), "CPU cores used by the bento container"),
    ("Memory per pod", "bytes", (16, 16, 8, 8), "Working set of the bento container"),
)
"""The dashboard's panels, in order; their queries come from ``panel_queries``."""


def panel_queries(cfg: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """Each panel's queries as (PromQL, legend), in the order of ``PANELS`` (Grafana's rate window)."""
    queries = Queries(cfg, window="$__rate_interval")
    return [
        [(queries.request_rate("endpoint"), legend("endpoint"))],
        [(queries.error_ratio(), "5xx")],
        [(queries.latency(q), "p" + str(round(q * 100))) for q in (0.5, 0.95, 0.99)],
        [(queries.in_progress(), legend("pod"))],
        [(queries.replicas(which), which) for which in ("current", "desired", "max")],
        [(queries.cpu(), legend("pod"))],
        [(queries.memory(), legend("pod"))],
    ]


def dashboard_uid(cfg: dict[str, Any]) -> str:
    """A uid stable for a deployment (so a re-deploy updates its dashboard) and within Grafana's 40 characters."""
    digest = hashlib.sha256((cfg["namespace"] + "/" + cfg["deployment_name"]).encode()).hexdigest()
    return "dagsmith-" + digest[:24]


def dashboard(cfg: dict[str, Any]) -> dict[str, Any]:
    """The Grafana dashboard of one deployment, built with Grafana's foundation SDK, as its JSON model.

    Its Prometheus data source is the dashboard variable ``datasource``, so it works with whichever
    Prometheus data source the Grafana has.
    """
    from grafana_foundation_sdk.builders import common, prometheus, timeseries
    from grafana_foundation_sdk.builders import dashboard as board
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common as common_model
    from grafana_foundation_sdk.models import dashboard as model

    name, namespace = cfg["deployment_name"], cfg["namespace"]
    source = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
    shown = common.VizLegendOptions().show_legend(True).display_mode(common_model.LegendDisplayMode.LIST)
    shown = shown.placement(common_model.LegendPlacement.BOTTOM)
    built = (
        board.Dashboard("BentoML " + namespace + "/" + name)
        .uid(dashboard_uid(cfg))
        .description("Requests, errors, latency and replicas of the BentoML deployment " + namespace + "/" + name)
        .tags(["dagsmith", "bentoml", namespace])
        .editable()
        .timezone("browser")
        .time("now-6h", "now")
        .refresh("30s")
        .with_variable(board.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )
    for index, ((title, unit, grid, text), targets) in enumerate(zip(PANELS, panel_queries(cfg), strict=True)):
        x, y, w, h = grid
        panel = timeseries.Panel().id(index + 1).title(title).description(text).unit(unit).legend(shown)
        panel = panel.datasource(source).grid_pos(model.GridPos(x=x, y=y, w=w, h=h))
        if unit == "percentunit":
            panel = panel.min(0)
        for ref, (expr, legend_format) in enumerate(targets):
            query = prometheus.Dataquery().ref_id(chr(ord("A") + ref)).expr(expr).legend_format(legend_format)
            panel = panel.with_target(query.datasource(source))
        built = built.with_panel(panel)
    found: dict[str, Any] = json.loads(json.dumps(built.build(), cls=JSONEncoder))
    return found


def dashboard_config_map(cfg: dict[str, Any]) -> dict[str, Any]:
    """The dashboard as a ConfigMap that Grafana's sidecar loads (label ``grafana_dashboard: "1"``)."""
    name, namespace = cfg["deployment_name"], cfg["namespace"]
    where = settings(cfg).get("dashboard_namespace") or namespace
    map_name = name + "-dashboard" if where == namespace else namespace + "-" + name + "-dashboard"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(cfg, map_name, where, {"grafana_dashboard": "1"}),
        "data": {namespace + "-" + name + ".json": json.dumps(dashboard(cfg), indent=1, sort_keys=True)},
    }
