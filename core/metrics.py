"""`GET /metrics` in the Prometheus text format.

Counters already live in the components (gateway, workers, broadcaster) as plain numbers, the
"liveness is data" rule; a custom collector reads them at scrape time, so no component
depends on prometheus_client. Latency histograms are the exception: they are observed where
the time is known (`observe_latency`) and kept in this module's registry.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from core.runtime import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_REGISTRY = CollectorRegistry()
#: End-to-end latency by stage: `twitch_to_handled` (Twitch's message_timestamp to the end of
#: a worker's handle) and `emit_to_fanout` (an envelope's ts to the broadcaster fanning it out).
EVENT_LATENCY = Histogram(
    "streamcore_event_latency_seconds",
    "End-to-end event latency by stage",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=_LATENCY_REGISTRY,
)


def observe_latency(stage: str, timestamp: str | None) -> None:
    """Record now minus an RFC 3339 timestamp; ignores missing or unparsable ones."""
    if not timestamp:
        return
    try:
        then = datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return
    EVENT_LATENCY.labels(stage).observe(max(0.0, time.time() - then))


class RuntimeCollector(Collector):
    """Reads the components' counters at scrape time (it needs the async worker status, so
    `collect_async` gathers first and `collect` replays the result)."""

    def __init__(self) -> None:
        self._families: list[CounterMetricFamily | GaugeMetricFamily] = []

    async def gather(self, runtime: Runtime) -> None:
        families: list[CounterMetricFamily | GaugeMetricFamily] = []
        gateway = runtime.gateway.status() if runtime.gateway is not None else {}
        for key, help_text in (
            ("received", "EventSub notifications received, by type"),
            ("deduplicated", "EventSub notifications dropped as duplicates, by type"),
            ("dropped", "EventSub messages dropped (stale, unknown, malformed), by type or reason"),
        ):
            family = CounterMetricFamily(f"streamcore_eventsub_{key}", help_text, labels=["type"])
            for label, value in sorted(gateway.get(key, {}).items()):
                family.add_metric([label], value)
            families.append(family)
        reconnects = CounterMetricFamily(
            "streamcore_gateway_reconnects", "EventSub reconnects, by reason", labels=["reason"]
        )
        for label, value in sorted(gateway.get("reconnects", {}).items()):
            reconnects.add_metric([label], value)
        families.append(reconnects)
        connected = GaugeMetricFamily(
            "streamcore_gateway_connected", "1 when the EventSub socket is up"
        )
        connected.add_metric([], 1 if gateway.get("state") == "connected" else 0)
        families.append(connected)

        workers = await runtime.workers.status() if runtime.workers is not None else []
        handled = CounterMetricFamily(
            "streamcore_worker_handled", "Entries handled", labels=["worker"]
        )
        failed = CounterMetricFamily(
            "streamcore_worker_failed", "Failed attempts", labels=["worker"]
        )
        lag = GaugeMetricFamily(
            "streamcore_worker_lag", "Entries not yet delivered", labels=["worker"]
        )
        dead = GaugeMetricFamily(
            "streamcore_worker_dead_letters", "Dead letters", labels=["worker"]
        )
        for worker in workers:
            name = [str(worker["name"])]
            handled.add_metric(name, worker.get("handled", 0))
            failed.add_metric(name, worker.get("failed", 0))
            lag.add_metric(name, worker.get("lag") or 0)
            dead.add_metric(name, worker.get("dead_letters", 0))
        families += [handled, failed, lag, dead]

        clients = runtime.broadcaster.status() if runtime.broadcaster is not None else {}
        gauge = GaugeMetricFamily("streamcore_clients_connected", "Connected /ws/events clients")
        gauge.add_metric([], clients.get("connected", 0))
        slow = CounterMetricFamily(
            "streamcore_clients_slow_disconnects", "Clients disconnected for being too slow"
        )
        slow.add_metric([], clients.get("slow_disconnects", 0))
        families += [gauge, slow]
        running = GaugeMetricFamily("streamcore_running", "1 while the system is started")
        running.add_metric([], 1 if runtime.running else 0)
        families.append(running)
        self._families = families

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield from self._families


async def render(runtime: Runtime) -> bytes:
    collector = RuntimeCollector()
    await collector.gather(runtime)
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry) + generate_latest(_LATENCY_REGISTRY)
