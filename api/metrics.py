"""Prometheus metrics for `/metrics`: of the whole hub, open to scrape, so no label names
a partnership or a member."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()
LIVE_CONNECTIONS = Gauge("hub_live_connections", "Open live sockets", registry=REGISTRY)
REQUESTS = Counter("hub_http_requests_total", "HTTP requests", ["method", "status"], registry=REGISTRY)
LATENCY = Histogram("hub_http_request_seconds", "HTTP request time", ["method"], registry=REGISTRY)
EVENTS = Gauge("hub_events_published", "Events applied to the views since start", registry=REGISTRY)
REPLICA_VOID = Gauge(
    "hub_replica_void_records_total",
    "Records of the event topic this node's replica found void (Kafka mode; 0 is right)",
    registry=REGISTRY,
)
PARTITION_LAG = Gauge(
    "hub_event_partition_lag",
    "Committed records not yet read, per event partition",
    ["partition"],
    registry=REGISTRY,
)
PARTITION_READ = Gauge(
    "hub_event_partition_read_offset",
    "Next offset to read, per event partition",
    ["partition"],
    registry=REGISTRY,
)


def replica_metrics(state: dict[str, Any] | None) -> None:
    """Set the Kafka replica's gauges from `KafkaNodeLog.replica_state()` (None: embedded)."""
    if state is None:
        return
    REPLICA_VOID.set(state["void_records"])
    for n, at in state["partitions"].items():
        PARTITION_READ.labels(str(n)).set(at["read_to"])
        if at["lag"] is not None:
            PARTITION_LAG.labels(str(n)).set(at["lag"])
