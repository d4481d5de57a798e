"""Templates for `streamcore workers new <name>`: a commented worker and its test."""

from __future__ import annotations

from worker_runtime.contract import WORKER_NAME
from worker_runtime.discovery import CONTRACT_MODULE
from worker_runtime.errors import WorkerContractError

#: Names in workers/ that are not worker files: the contract module and the models package.
TAKEN_MODULE_NAMES = frozenset({CONTRACT_MODULE, "models"})

WORKER_TEMPLATE = '''"""{title}: say what this worker does, what it emits and which scopes it needs.

Emits `{name}.live` {{"started_at": ...}} when the stream goes online (change it to yours).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from workers.base import BaseWorker
from workers.models import StreamOnline


class LiveNotice(BaseModel):
    """The data of `{name}.live`; its JSON schema is published at GET /events/schema."""

    started_at: str


class {class_name}(BaseWorker):
    # Ask only for the scopes your subscriptions and Helix calls need. Twitch lists each
    # type's scopes at https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/
    # (and docs/twitch-protocol.md has the ones StreamCore uses). stream.online needs none.
    required_scopes = []
    # Every event this worker emits, with the model its data must match (or None).
    emits = {{"{name}.live": LiveNotice}}
    # Optional: max_retries = 3, handle_timeout_s = 30.0, retry_delay_s = 1.0

    def get_subscriptions(self, broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
        # moderator_id is TWITCH_MODERATOR_ID when set, otherwise the broadcaster's id.
        return [
            {{
                "type": "stream.online",
                "version": "1",
                "condition": {{"broadcaster_user_id": broadcaster_id}},
            }}
        ]

    async def handle(self, event_type: str, payload: dict[str, Any]) -> None:
        # payload is {{"subscription": ..., "event": ...}}; self.parse() gives a typed model.
        # Raising retries the event (max_retries), then dead-letters it; returning acks it.
        # Also on self: self.state (persisted JSON values), self.config (WORKER_{upper}_* vars),
        # self.twitch (Helix: await self.twitch.send_chat_message("hi")), self.logger.
        event = self.parse(payload)
        if isinstance(event, StreamOnline):
            await self.emit("{name}.live", LiveNotice(started_at=event.started_at))
'''

TEST_TEMPLATE = '''"""The {name} worker, driven by a simulated event, emits what overlays expect."""

from __future__ import annotations

from simulator.events import generate_event
from tests.workers.testkit import append_event, captured_events, eventually, running_workers
from workers.{name} import {class_name}


async def test_stream_online_emits_{name}_live(memory_bus, sqlite_store):
    event = generate_event("stream.online", condition={{"broadcaster_user_id": "1000001"}})
    async with (
        captured_events(memory_bus) as events,
        running_workers(memory_bus, sqlite_store, [{class_name}]),
    ):
        await append_event(memory_bus, "stream.online", event)
        await eventually(lambda: len(events) == 1, what="the emitted event")
    assert events[0]["event"] == "{name}.live"
    assert events[0]["data"] == {{"started_at": event["started_at"]}}
'''


def class_name_for(name: str) -> str:
    """`shout_out` -> `ShoutOutWorker` (which derives back to the name `shout_out`)."""
    return "".join(part.capitalize() for part in name.split("_")) + "Worker"


def check_new_worker_name(name: str) -> str:
    if not WORKER_NAME.match(name):
        raise WorkerContractError(
            f"invalid worker name {name!r}: use lowercase letters, digits and '_', starting "
            "with a letter (e.g. `streamcore workers new shout_out`)"
        )
    if name in TAKEN_MODULE_NAMES:
        raise WorkerContractError(
            f"{name!r} is taken in workers/ by the worker contract or its models; pick another"
        )
    return name


def render_worker(name: str) -> str:
    check_new_worker_name(name)
    return WORKER_TEMPLATE.format(
        name=name,
        title=name.replace("_", " ").capitalize(),
        class_name=class_name_for(name),
        upper=name.upper(),
    )


def render_test(name: str) -> str:
    check_new_worker_name(name)
    return TEST_TEMPLATE.format(name=name, class_name=class_name_for(name))
