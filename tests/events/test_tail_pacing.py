"""The tail's batching rule (events.tail_pacing): no wait at a channel's usual rates, a bounded
linger once events pour in, none after a full or a byte-heavy read, and back to none as soon as
the flow slows."""

from __future__ import annotations

from events.tail_pacing import TailPacer

LINGER = 0.02
RATE = 200.0
WINDOW = 0.1
FULL = 500
BIG = 64 * 1024


def pacer() -> TailPacer:
    return TailPacer(LINGER, RATE, WINDOW, FULL, BIG)


def feed(
    p: TailPacer, rate: float, seconds: float, start: float = 0.0, event_bytes: int = 200
) -> list[float]:
    """Reads as the broadcaster makes them when events arrive evenly at `rate`: each read
    waits for the next event unless it lingered, then returns what arrived."""
    waits, now, last_event = [], start, start
    gap = 1 / rate
    linger = 0.0
    while now < start + seconds:
        if linger:
            now += linger
            count = max(1, int((now - last_event) / gap))
            waited = 0.0001
        else:
            waited = gap
            now += gap
            count = 1
        last_event = now
        linger = p.after_read(now, waited, count, count * event_bytes)
        waits.append(linger)
    return waits


def test_events_slower_than_the_busy_rate_are_read_at_once() -> None:
    p = pacer()
    for rate in (1, 10, 100, 150):
        assert set(feed(p, rate, 2.0)) == {0.0}, rate
        assert not p.busy


def test_a_sustained_flood_lingers_and_reads_batches() -> None:
    p = pacer()
    waits = feed(p, 1000, 1.0)
    assert p.busy
    # The first window (0.1 s) reads event by event; from then on every read lingers.
    assert waits[:50] == [0.0] * 50
    assert set(waits[-20:]) == {LINGER}


def test_a_flood_of_big_events_is_read_at_once() -> None:
    p = pacer()
    # 1000/s of 4 KB: a linger's worth (80 KB) would exceed BIG in one burst per client.
    assert set(feed(p, 1000, 1.0, event_bytes=4096)) == {0.0}
    assert not p.busy
    assert set(feed(p, 1000, 1.0, start=2.0, event_bytes=2048)[-20:]) == {LINGER}


def test_one_close_pair_of_events_does_not_slow_the_next_ones() -> None:
    p = pacer()
    assert p.after_read(10.0, 5.0, 1) == 0.0  # after a quiet spell
    assert p.after_read(10.001, 0.001, 1) == 0.0  # a second alert right behind it
    assert p.after_read(13.0, 2.999, 1) == 0.0
    assert not p.busy


def test_a_full_read_never_waits_and_a_quiet_read_ends_the_linger() -> None:
    p = pacer()
    feed(p, 1000, 0.5)
    assert p.busy
    assert p.after_read(0.6, 0.0001, FULL) == 0.0  # a backlog: read the rest at once
    assert p.after_read(0.61, 0.0001, 10) == LINGER
    assert p.after_read(0.62, 0.0001, 3, BIG) == 0.0  # big events: no bigger bursts
    assert p.after_read(0.63, 0.0001, 10, 2_000) == LINGER
    assert p.after_read(1.61, 1.0, 1) == 0.0  # the flow stopped: back to reading at once
    assert not p.busy
    assert p.after_read(3.61, 2.0, 0) == 0.0  # an empty read (the block timed out)
    assert not p.busy


def test_latency_histogram_counts_each_observation_in_its_prometheus_bucket() -> None:
    from core.metrics import latency_stage, render_latency

    stage = latency_stage("test_only")  # registered: rendered with the real stages
    for seconds in (0.0005, 0.001, 0.003, 20.0, -1.0):
        stage.observe(seconds)
    cumulative = dict(stage.cumulative())
    assert cumulative["0.001"] == 3  # 0.0005, 0.001 (le is inclusive) and -1 counted as 0
    assert cumulative["0.005"] == 4
    assert cumulative["10"] == 4
    assert cumulative["+Inf"] == 5
    assert abs(stage.total - 20.0045) < 1e-9
    assert b"streamcore_event_latency_seconds_bucket" in render_latency()
