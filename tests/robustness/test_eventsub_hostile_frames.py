"""Hostile EventSub frames through the gateway's session loop: each is skipped with ONE warning,
becomes no stream key and no new counter label, and the session goes on delivering.

In-process: the loop (`Gateway._read`) reads a queue that a socket would fill; the bus is the
in-process one, so the test needs no network.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from bus.memory import MemoryBus
from core.settings import load_settings
from events.publisher import EventPublisher
from gateway.connection import Closed, Frame
from gateway.loop_items import SessionQueue
from gateway.service import Gateway

NOW = datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _frame(message_id: str, subscription_type: str, timestamp: str, event: str = "{}") -> str:
    metadata = {
        "message_id": message_id,
        "message_type": "notification",
        "message_timestamp": timestamp,
        "subscription_type": subscription_type,
        "subscription_version": "1",
    }
    payload = {"subscription": {"id": "s1", "type": subscription_type}, "event": {}}
    return json.dumps({"metadata": metadata, "payload": payload}).replace(
        '"event": {}', f'"event": {event}'
    )


async def test_hostile_frames_are_skipped_once_each_and_the_session_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = MemoryBus()
    await bus.connect()
    settings = load_settings(streamcore_data_dir=str(tmp_path))
    none = cast(Any, None)  # tokens and Helix: this loop never reaches them
    gateway = Gateway(settings, bus, none, none, EventPublisher(bus), lambda b, m: [])
    gateway.protocol.socket_opened(1, now=0.0)
    junk_type = "x" * 100_000
    deep = "[" * 200_000 + "]" * 200_000  # 400 KB
    frames = [
        _frame("deep", "channel.follow", NOW, event=deep),
        _frame("junk", junk_type, NOW),
        _frame("future", "channel.follow", "2999-01-01T00:00:00Z"),
        _frame("stale", "channel.follow", "2000-01-01T00:00:00Z"),
        _frame("good", "channel.follow", NOW),
    ]
    queue: SessionQueue = asyncio.Queue()
    for text in frames:
        queue.put_nowait(Frame(1, text))
    queue.put_nowait(Closed(1, 4000, "test over"))

    caplog.set_level(logging.INFO, logger="streamcore.gateway")
    end = await asyncio.wait_for(gateway._read(queue, lambda coroutine: coroutine.close()), 10)

    assert end.label == "close_4000"  # the session ended only because the socket closed
    entries = await bus.read_range("eventsub:channel.follow")
    assert [e.fields["message_id"] for e in entries] == ["good"]
    assert await bus.read_range(f"eventsub:{junk_type}") == []
    # Counter labels (metrics labels) are validated types or fixed reasons, never frame text.
    assert dict(gateway.received) == {"channel.follow": 1}
    assert dict(gateway.dropped) == {"malformed": 2, "channel.follow": 2}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4, warnings
    assert all(len(line) < 400 for line in warnings), [len(line) for line in warnings]
    assert "nested" in warnings[0] and "subscription_type" in warnings[1]
    assert "future" in warnings[2] and "older than 10 minutes" in warnings[3]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await bus.close()
