"""The pure reconciliation plan: adopt, create, delete orphans, respect the limits."""

from __future__ import annotations

from typing import Any

from gateway.subscriptions import Wanted, distinct_wanted, plan_reconciliation

ME = "100"


def existing(sub_id: str, sub_type: str, session: str, status: str = "enabled", cost: int = 0,
             condition: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    return {"id": sub_id, "type": sub_type, "version": "1", "status": status, "cost": cost,
            "condition": condition or {"broadcaster_user_id": ME},
            "transport": {"method": "websocket", "session_id": session}}  # fmt: skip


def want(sub_type: str, user: str = ME) -> Wanted:
    return Wanted(sub_type, "1", {"broadcaster_user_id": user})


def test_identical_declarations_become_one_subscription() -> None:
    declared = [
        {"type": "channel.cheer", "version": "1", "condition": {"broadcaster_user_id": ME}},
        {"type": "channel.cheer", "version": "1", "condition": {"broadcaster_user_id": ME}},
        {"type": "channel.cheer", "version": "1", "condition": {"broadcaster_user_id": "7"}},
    ]
    assert len(distinct_wanted(declared)) == 2


def test_plan_adopts_ours_creates_missing_and_deletes_orphans() -> None:
    plan = plan_reconciliation(
        [want("channel.cheer"), want("channel.subscribe")],
        [
            existing("a", "channel.cheer", "OURS"),
            existing("b", "channel.cheer", "OLD"),
            existing("c", "channel.ban", "OURS"),
            existing("d", "channel.subscribe", "OURS", status="websocket_disconnected"),
        ],
        "OURS",
        ME,
    )
    assert plan.adopt == {want("channel.cheer").key: "a"}
    assert plan.create == [want("channel.subscribe")]
    assert sorted(i for i, _ in plan.delete) == ["b", "c", "d"]
    assert plan.skip == []


def test_plan_respects_cost_and_per_connection_limits() -> None:
    foreign = [want("stream.online", str(user)) for user in range(3)]  # cost 1 each
    plan = plan_reconciliation(foreign, [], "OURS", ME, max_total_cost=2)
    assert plan.create == foreign[:2]
    assert [w for w, _ in plan.skip] == foreign[2:]
    assert "max_total_cost" in plan.skip[0][1]
    many = [want(f"type.{n}") for n in range(5)]
    plan = plan_reconciliation(many, [], "OURS", ME, max_per_connection=3)
    assert len(plan.create) == 3 and len(plan.skip) == 2


def test_own_channel_costs_nothing() -> None:
    plan = plan_reconciliation([want("stream.online")], [], "OURS", ME, max_total_cost=0)
    assert plan.create == [want("stream.online")]


def test_excluded_keys_are_not_attempted() -> None:
    plan = plan_reconciliation(
        [want("channel.cheer")], [], "OURS", ME, exclude=[want("channel.cheer").key]
    )
    assert plan.create == [] and plan.skip == []
