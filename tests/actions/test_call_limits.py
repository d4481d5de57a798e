"""Per-key call limits hold across replicas: the bucket is on Redis, so two processes serving
the same key share it; the operator is never limited; with Redis down, calls go on and the
log says so once."""

from __future__ import annotations

import logging

import pytest

from app.callers import Caller, CallLimits
from bus.redis import RedisBus
from events.keys import KeyRecord
from tests.conftest import free_port
from worker_runtime.actions import ActionFailed

DECK = KeyRecord(id="k1", name="stream-deck", events="", created_at="", actions="chat.*")


async def test_two_replicas_share_one_keys_bucket(redis_url: str) -> None:
    replicas = [RedisBus(redis_url), RedisBus(redis_url)]
    for bus in replicas:
        await bus.connect()
    try:
        limits = [CallLimits(rate=0.001, burst=3), CallLimits(rate=0.001, burst=3)]
        caller = Caller("key stream-deck", DECK)
        outcomes = []
        for n in range(5):  # alternate replicas, as a proxy would
            try:
                await limits[n % 2].take(caller, replicas[n % 2])
                outcomes.append("ok")
            except ActionFailed as error:
                outcomes.append(error.code)
                assert error.public()["retry_after_s"] > 0
        assert outcomes == ["ok", "ok", "ok", "rate_limited", "rate_limited"]
        for _ in range(10):
            await limits[0].take(Caller("dashboard"), replicas[0])  # the operator: no limit
    finally:
        for bus in replicas:
            await bus.close()


async def test_with_redis_down_calls_go_on_and_it_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = RedisBus(f"redis://127.0.0.1:{free_port()}/0")
    limits = CallLimits(rate=0.001, burst=1)
    caller = Caller("key stream-deck", DECK)
    try:
        with caplog.at_level(logging.WARNING, "streamcore.actions"):
            for _ in range(3):
                await limits.take(caller, bus)
    finally:
        await bus.close()
    said = [r for r in caplog.records if "not rate-limited" in r.getMessage()]
    assert len(said) == 1
