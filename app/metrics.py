"""`GET /metrics` in the Prometheus text format.

Counters live in the components (gateway, workers, broadcaster) as plain numbers, the
"liveness is data" rule; a custom collector reads them at scrape time, so no component
depends on prometheus_client. The latency histograms come from `core.metrics`, where the
parts record them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from app.services import Services
from core.metrics import render_latency

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RuntimeCollector(Collector):
    """Reads the components' counters at scrape time (it needs the async worker status, so
    `collect_async` gathers first and `collect` replays the result)."""

    def __init__(self) -> None:
        self._families: list[CounterMetricFamily | GaugeMetricFamily] = []

    async def gather(self, services: Services) -> None:
        families: list[CounterMetricFamily | GaugeMetricFamily] = []
        system = services.system
        gateway = system.gateway.status() if system.gateway is not None else {}
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
        handovers = CounterMetricFamily(
            "streamcore_gateway_handovers",
            "Planned moves to a new EventSub session (session_reconnect), not outages",
        )
        handovers.add_metric([], gateway.get("handovers", 0))
        families.append(handovers)
        connected = GaugeMetricFamily(
            "streamcore_gateway_connected", "1 when the EventSub socket is up"
        )
        connected.add_metric([], 1 if gateway.get("state") == "connected" else 0)
        families.append(connected)

        workers = await system.workers.status() if system.workers is not None else []
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

        clients = services.broadcaster.status() if services.broadcaster is not None else {}
        gauge = GaugeMetricFamily("streamcore_clients_connected", "Connected /ws/events clients")
        gauge.add_metric([], clients.get("connected", 0))
        slow = CounterMetricFamily(
            "streamcore_clients_slow_disconnects", "Clients disconnected for being too slow"
        )
        slow.add_metric([], clients.get("slow_disconnects", 0))
        trimmed = CounterMetricFamily(
            "streamcore_events_trimmed_unread",
            "Events trimmed from the event log before this replica delivered them "
            "(clients were sent system.events_lost; raise EVENTS_RETENTION_COUNT)",
        )
        trimmed.add_metric([], clients.get("trimmed_unread", 0))
        families += [gauge, slow, trimmed]
        running = GaugeMetricFamily("streamcore_running", "1 while the system is started")
        running.add_metric([], 1 if system.running else 0)
        families.append(running)
        loop = services.loop_watch.stats
        stalls = CounterMetricFamily(
            "streamcore_event_loop_stalls", "Times the event loop was blocked (>= 0.5 s)"
        )
        stalls.add_metric([], loop.stalls)
        stalled = CounterMetricFamily(
            "streamcore_event_loop_stalled_seconds", "Seconds the event loop was blocked"
        )
        stalled.add_metric([], loop.stalled_seconds)
        families += [stalls, stalled]
        calls = CounterMetricFamily(
            "streamcore_action_calls",
            "Action calls, by action and outcome (ok or the error code)",
            labels=["action", "outcome"],
        )
        counts = services.actions.counts if services.actions is not None else {}
        for (action, outcome), value in sorted(counts.items()):
            calls.add_metric([action, outcome], value)
        families.append(calls)
        self._families = families

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield from self._families


async def render(services: Services) -> bytes:
    collector = RuntimeCollector()
    await collector.gather(services)
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry) + render_latency()
