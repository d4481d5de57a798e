"""Metrics that parts record as they work: end-to-end latency histograms.

Counters live in the components (gateway, workers, broadcaster) as plain numbers, the
"liveness is data" rule, and `app.metrics` reads them at scrape time. Latency is the
exception: it is observed where the time is known (`observe_latency`, `latency_stage`), so it
is kept here, on the ground floor every part may import, and `app.metrics` renders it with
the rest.

The histograms are plain bucket counts exported through a prometheus_client collector rather
than its `Histogram`: the fan-out observes every event it sends, and `Histogram.observe` (a
lock, a loop over the buckets, exemplar checks) cost about as much as building the event's
frame. Everything here runs on the event loop's thread, so the counts need no lock.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

__all__ = ["LATENCY_BUCKETS", "LatencyStage", "latency_stage", "observe_latency", "render_latency"]

#: Upper bounds, in seconds, of the latency buckets (+Inf is implied).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LATENCY_NAME = "streamcore_event_latency_seconds"
LATENCY_HELP = "End-to-end event latency by stage"


class LatencyStage:
    """One stage's histogram: how many observations fell in each bucket, and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        if seconds < 0.0:
            seconds = 0.0  # clocks of different hosts: never a negative latency
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        running, out = 0, []
        for bound, count in zip((*map(str, LATENCY_BUCKETS), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


#: The stages by name: `twitch_to_handled` (Twitch's message_timestamp to the end of a
#: worker's handle) and `emit_to_fanout` (an event's append to the log to the broadcaster
#: fanning it out).
_STAGES: dict[str, LatencyStage] = {}


def latency_stage(name: str) -> LatencyStage:
    stage = _STAGES.get(name)
    if stage is None:
        stage = _STAGES[name] = LatencyStage()
    return stage


def observe_latency(stage: str, timestamp: str | None) -> None:
    """Record now minus an RFC 3339 timestamp; ignores missing or unparsable ones."""
    if not timestamp:
        return
    try:
        then = datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return
    latency_stage(stage).observe(time.time() - then)


class _LatencyCollector(Collector):
    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(LATENCY_NAME, LATENCY_HELP, labels=["stage"])
        for name, stage in sorted(_STAGES.items()):
            family.add_metric([name], stage.cumulative(), stage.total)
        yield family


LATENCY_REGISTRY = CollectorRegistry()
LATENCY_REGISTRY.register(_LatencyCollector())


def render_latency() -> bytes:
    """The latency histograms in the Prometheus text format."""
    return generate_latest(LATENCY_REGISTRY)
