"""The toolkit on `self`: state, config, twitch, typed models and checked emits."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from events.errors import EventDataError, InvalidEventName
from tests.workers.testkit import append_event, captured_events, eventually, running_workers
from worker_runtime.discovery import discover_workers
from worker_runtime.toolkit import StoredState, worker_environment
from workers.base import (
    BaseWorker,
    TwitchUnavailable,
    WorkerConfig,
    WorkerEmitError,
    WorkerNotBound,
    WorkerStateError,
)
from workers.models import ChannelFollow

FOLLOW = {
    "type": "channel.follow",
    "version": "2",
    "condition": {"broadcaster_user_id": "1", "moderator_user_id": "1"},
}


class Toolkit(BaseWorker):
    abstract = True

    def get_subscriptions(self, broadcaster_id, moderator_id):
        return [FOLLOW]

    async def handle(self, event_type, payload):
        pass


async def test_state_persists_json_values_per_worker(store):
    state = StoredState(store, "counter")
    assert await state.get("missing", 7) == 7
    await state.set("last", {"user": "ada", "n": [1, 2]})
    assert await state.incr("follows") == 1
    assert await state.incr("follows", 2) == 3
    assert await StoredState(store, "counter").get("last") == {"user": "ada", "n": [1, 2]}
    assert await StoredState(store, "other").get("follows") is None  # one namespace per worker
    assert await state.items() == {"last": {"user": "ada", "n": [1, 2]}, "follows": 3}
    with pytest.raises(WorkerStateError, match=r"'bad'.*not JSON"):
        await state.set("bad", object())
    with pytest.raises(WorkerStateError, match="not a number"):
        await state.incr("last")


def test_config_reads_only_this_workers_variables_from_the_given_environment(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("WORKER_GREETER_MESSAGE=from file\nWORKER_GREETER_DELAY=5\nOTHER=x\n")
    environ = worker_environment({"WORKER_GREETER_MESSAGE": "hello", "PATH": "/bin"}, env_file)
    assert environ == {"WORKER_GREETER_MESSAGE": "hello", "WORKER_GREETER_DELAY": "5"}
    config = WorkerConfig.for_worker("greeter", {**environ, "WORKER_ALERTS_X": "y"})
    assert dict(config) == {"message": "hello", "delay": "5"}
    assert config.get_int("delay", 1) == 5
    assert config.get_bool("enabled", True) is True
    assert "hello" not in repr(config)  # values may be secrets


async def test_worker_sees_config_state_and_a_clear_error_without_twitch(memory_bus, sqlite_store):
    seen: dict[str, Any] = {}

    class Greeter(Toolkit):
        name = "greeter"

        async def handle(self, event_type, payload):
            seen["message"] = self.config.get("message")
            seen["count"] = await self.state.incr("follows")
            seen["model"] = self.parse(payload)
            seen["logger"] = self.logger.name
            try:
                await self.twitch.send_chat_message("hi")
            except TwitchUnavailable as error:
                seen["twitch"] = str(error)

    event = {
        "user_id": "42",
        "user_login": "ada",
        "user_name": "Ada",
        "broadcaster_user_id": "1",
        "broadcaster_user_login": "me",
        "broadcaster_user_name": "Me",
        "followed_at": "2026-01-01T00:00:00.123456789Z",
    }
    environ = {"WORKER_GREETER_MESSAGE": "welcome"}
    async with running_workers(memory_bus, sqlite_store, [Greeter], environ=environ):
        await append_event(memory_bus, "channel.follow", event, version="2")
        await eventually(lambda: "twitch" in seen, what="the handler")
    assert seen["message"] == "welcome"
    assert seen["count"] == 1
    assert isinstance(seen["model"], ChannelFollow)
    assert seen["model"].user_name == "Ada"
    assert seen["logger"] == "streamcore.workers.greeter"
    assert "no Twitch connection" in seen["twitch"] and "greeter" in seen["twitch"]


class FollowAlert(BaseModel):
    user: str


async def test_emit_checks_names_json_and_the_declared_model(memory_bus, sqlite_store):
    errors: dict[str, Exception] = {}

    class Checked(Toolkit):
        name = "checked"
        emits = {"alert.follow": FollowAlert, "note": None}

        async def handle(self, event_type, payload):
            for key, name, data in [
                ("model", "alert.follow", {"user": 5}),
                ("undeclared", "other", {}),
                ("json", "note", {"when": object()}),
                ("name", "bad name!", {}),
            ]:
                try:
                    await self.emit(name, data)
                except Exception as error:
                    errors[key] = error
            await self.emit("alert.follow", FollowAlert(user="Ada"))

    async with (
        captured_events(memory_bus) as events,
        running_workers(memory_bus, sqlite_store, [Checked]),
    ):
        await append_event(memory_bus, "channel.follow", {}, version="2")
        await eventually(lambda: len(events) == 1, what="the valid emit")
    assert events[0]["data"] == {"user": "Ada"}
    assert isinstance(errors["model"], WorkerEmitError)
    assert "'checked'" in str(errors["model"]) and "data.user" in str(errors["model"])
    assert isinstance(errors["undeclared"], WorkerEmitError)
    assert isinstance(errors["json"], EventDataError)
    assert "checked" in str(errors["json"]) and "data.when" in str(errors["json"])
    assert isinstance(errors["name"], InvalidEventName)


async def test_a_worker_outside_a_runtime_says_so():
    class Loose(Toolkit):
        name = "loose"

    with pytest.raises(WorkerNotBound, match="outside a WorkerRuntime"):
        await Loose().emit("x", {})


def test_event_schemas_publish_the_declared_models():
    schemas = discover_workers().event_schemas()
    redemption, chat = schemas["redemption"], schemas["chat.message"]
    assert redemption is not None and redemption["title"] == "Redemption"
    assert chat is not None and chat["properties"]["emotes"]
