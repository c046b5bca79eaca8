"""Prometheus metrics for `/metrics`: of the whole hub, open to scrape, so no label names
a partnership or a member."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()
LIVE_CONNECTIONS = Gauge("hub_live_connections", "Open live sockets", registry=REGISTRY)
REQUESTS = Counter("hub_http_requests_total", "HTTP requests", ["method", "status"], registry=REGISTRY)
LATENCY = Histogram("hub_http_request_seconds", "HTTP request time", ["method"], registry=REGISTRY)
EVENTS = Gauge("hub_events_published", "Events applied to the views since start", registry=REGISTRY)
