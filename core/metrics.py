"""Metrics that parts record as they work: end-to-end latency histograms.

Counters live in the components (gateway, workers, broadcaster) as plain numbers, the
"liveness is data" rule, and `app.metrics` reads them at scrape time. Latency is the
exception: it is observed where the time is known (`observe_latency`), so it is kept here, on
the ground floor every part may import, and `app.metrics` renders it with the rest.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest

LATENCY_REGISTRY = CollectorRegistry()
#: End-to-end latency by stage: `twitch_to_handled` (Twitch's message_timestamp to the end of
#: a worker's handle) and `emit_to_fanout` (an envelope's ts to the broadcaster fanning it out).
EVENT_LATENCY = Histogram(
    "streamcore_event_latency_seconds",
    "End-to-end event latency by stage",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=LATENCY_REGISTRY,
)


#: The histogram of each stage, looked up once (labels() costs more than the observation).
_STAGES: dict[str, Any] = {}


def observe_latency(stage: str, timestamp: str | None) -> None:
    """Record now minus an RFC 3339 timestamp; ignores missing or unparsable ones."""
    if not timestamp:
        return
    try:
        then = datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return
    child = _STAGES.get(stage)
    if child is None:
        child = _STAGES[stage] = EVENT_LATENCY.labels(stage)
    child.observe(max(0.0, time.time() - then))


def render_latency() -> bytes:
    """The latency histograms in the Prometheus text format."""
    return generate_latest(LATENCY_REGISTRY)
