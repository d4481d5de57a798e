"""`streamcore workers new | list | replay`, as a user types them."""

from __future__ import annotations

import ast
import asyncio

from bus.base import StreamEntry
from bus.redis import RedisBus
from cli.main import main
from core.constants import WORKER_REPLAY_STREAM
from simulator.events import generate_event
from tests.workers.testkit import append_event, captured_events, eventually, running_workers
from worker_runtime.deadletters import add_dead_letter
from worker_runtime.discovery import discover_workers


async def test_new_writes_a_template_worker_that_discovers_and_emits(
    tmp_path, worker_package, memory_bus, sqlite_store
):
    workers_dir, tests_dir = tmp_path / "w", tmp_path / "t"
    argv = ["workers", "new", "shout_out", "--workers-dir", str(workers_dir)]
    assert main([*argv, "--tests-dir", str(tests_dir)]) == 0
    source = (workers_dir / "shout_out.py").read_text()
    ast.parse((tests_dir / "test_shout_out_worker.py").read_text())
    assert main([*argv, "--tests-dir", str(tests_dir)]) == 2  # never overwrites

    discovery = discover_workers(worker_package({"shout_out.py": source}))
    assert discovery.errors == []
    [worker] = discovery.workers
    assert worker.name == "shout_out"
    async with (
        captured_events(memory_bus) as events,
        running_workers(memory_bus, sqlite_store, [worker]),
    ):
        event = generate_event("stream.online", condition={"broadcaster_user_id": "1000001"})
        await append_event(memory_bus, "stream.online", event)
        await eventually(lambda: len(events) == 1, what="the template's event")
    assert events[0]["event"] == "shout_out.live"
    assert events[0]["data"] == {"started_at": event["started_at"]}


def test_new_refuses_the_contract_and_models_names_and_bad_names(tmp_path, capsys):
    tests_dir = ["--workers-dir", str(tmp_path), "--tests-dir", str(tmp_path)]
    for taken in ("base", "models"):
        assert main(["workers", "new", taken, *tests_dir]) == 2
        assert "taken in workers/" in capsys.readouterr().err
    assert main(["workers", "new", "Bad-Name", *tests_dir]) == 2
    assert list(tmp_path.iterdir()) == []


def test_list_shows_each_worker_with_types_and_scopes(capsys):
    assert main(["workers", "list"]) == 0
    out = capsys.readouterr().out
    assert "alerts" in out and "channel.follow" in out and "moderator:read:followers" in out


def test_replay_sends_dead_letters_back_to_the_worker_once(redis_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("STREAMCORE_DATA_DIR", str(tmp_path))
    entry = StreamEntry("eventsub:stream.online", "1-0", {"payload": "{}", "message_id": "m1"})

    async def dead_letter_then_read_replays() -> list[StreamEntry]:
        bus = RedisBus(redis_url)
        await bus.connect()
        try:
            await add_dead_letter(bus, "stream_status", entry, "ValueError: boom", 4)
            return await bus.read_range(WORKER_REPLAY_STREAM.format(worker="stream_status"))
        finally:
            await bus.close()

    assert asyncio.run(dead_letter_then_read_replays()) == []
    assert main(["workers", "replay", "stream_status"]) == 0
    assert main(["workers", "replay", "stream_status"]) == 0  # nothing left the second time

    async def replays() -> list[StreamEntry]:
        bus = RedisBus(redis_url)
        await bus.connect()
        try:
            return await bus.read_range(WORKER_REPLAY_STREAM.format(worker="stream_status"))
        finally:
            await bus.close()

    [replayed] = asyncio.run(replays())
    assert replayed.fields["message_id"] == "m1"
    assert "error" not in replayed.fields


def test_replay_names_unknown_workers(capsys):
    assert main(["workers", "replay", "nobody"]) == 2
    assert "no worker named 'nobody'" in capsys.readouterr().err
