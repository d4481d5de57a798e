"""ActionRunner: declared actions are validated, scoped, timed out and isolated (no I/O)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pytest
from pydantic import Field

from worker_runtime.actions import ActionFailed, ActionRunner
from workers.actions import action, actions_of
from workers.base import BaseWorker


class DemoWorker(BaseWorker):
    abstract = True  # never registered: discovery elsewhere must not see it
    name = "demo"
    handle_timeout_s = 0.2

    def get_subscriptions(self, broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
        return []

    async def handle(self, event_type: str, payload: dict[str, Any]) -> None:
        return None

    @action("demo.add", description="Add two numbers")
    async def add(self, a: int, b: Annotated[int, Field(ge=0)] = 1) -> dict[str, int]:
        return {"sum": a + b}

    @action("demo.clip", scopes=["clips:edit"])
    async def clip(self) -> str:
        return "clipped"

    @action("demo.slow")
    async def slow(self) -> None:
        await asyncio.sleep(5)

    @action("demo.broken")
    async def broken(self) -> None:
        raise RuntimeError("the printer is on fire")


def runner(scopes: list[str] | None = None) -> ActionRunner:
    async def link(extra: list[str]) -> str:
        return "https://id.twitch.tv/oauth2/authorize?scope=" + "+".join(extra)

    return ActionRunner([DemoWorker()], lambda: scopes if scopes is not None else [], link)


def test_the_schema_comes_from_the_signature() -> None:
    [add] = [spec for spec in actions_of(DemoWorker) if spec.name == "demo.add"]
    public = add.public()
    assert public["worker"] == "demo" and public["description"] == "Add two numbers"
    schema = public["schema"]
    assert schema["required"] == ["a"]
    assert schema["properties"]["b"]["minimum"] == 0
    assert schema["additionalProperties"] is False


async def test_valid_arguments_run_the_method() -> None:
    assert await runner().call("demo.add", {"a": 2, "b": 3}, "test") == {"sum": 5}


@pytest.mark.parametrize(
    ("args", "field"),
    [({}, "a"), ({"a": "two"}, "a"), ({"a": 1, "b": -1}, "b"), ({"a": 1, "c": 0}, "c")],
)
async def test_bad_arguments_are_invalid_args_with_the_field(
    args: dict[str, Any], field: str
) -> None:
    with pytest.raises(ActionFailed) as caught:
        await runner().call("demo.add", args, "test")
    assert caught.value.code == "invalid_args"
    assert [f["field"] for f in caught.value.details["fields"]] == [field]


async def test_a_missing_scope_is_auth_required_with_a_link_asking_for_it() -> None:
    with pytest.raises(ActionFailed) as caught:
        await runner(["user:read:chat"]).call("demo.clip", {}, "test")
    assert caught.value.code == "auth_required"
    assert caught.value.details["missing_scopes"] == ["clips:edit"]
    assert "clips:edit" in caught.value.details["auth_url"]
    assert await runner(["clips:edit"]).call("demo.clip", {}, "test") == "clipped"


async def test_timeouts_failures_and_unknown_names_are_answers_not_crashes() -> None:
    actions = runner()
    messages = {}
    for name, code in [
        ("demo.slow", "timeout"),
        ("demo.broken", "failed"),
        ("nope", "unknown_action"),
    ]:
        with pytest.raises(ActionFailed) as caught:
            await actions.call(name, {}, "test")
        assert caught.value.code == code
        messages[name] = caught.value.message
    assert messages["demo.broken"] == "RuntimeError: the printer is on fire"
    assert await actions.call("demo.add", {"a": 1}, "test") == {"sum": 2}
    assert actions.counts[("demo.slow", "timeout")] == 1
    assert actions.counts[("(unknown)", "unknown_action")] == 1
    assert actions.counts[("demo.add", "ok")] == 1


def test_a_name_must_be_dotted_lower_case_and_the_method_async() -> None:
    with pytest.raises(ValueError):
        action("Bad Name")
    with pytest.raises(TypeError):

        @action("demo.sync")
        def sync(self: Any) -> None:  # pragma: no cover - never runs
            return None
