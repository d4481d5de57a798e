"""Engagement events: hype trains (v2), polls, predictions and goals."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from simulator import events_data as data
from simulator.event_context import (
    EventContext,
    rng,
    timestamp_in,
    user_fields,
)


def _contributions() -> list[dict[str, Any]]:
    people = rng.sample(data.VIEWERS, k=2)
    return [
        {**user_fields("", people[0]), "type": "bits", "total": rng.choice((500, 1000, 2500))},
        {
            **user_fields("", people[1]),
            "type": "subscription",
            "total": rng.choice((500, 1000, 2500)),
        },
    ]


def _hype_common(ctx: EventContext) -> dict[str, Any]:
    level = rng.randint(1, 5)
    return {
        "id": str(uuid.uuid4()),
        **ctx.base,
        "total": rng.randint(200, 9000),
        "top_contributions": _contributions(),
        "level": level,
        "shared_train_participants": None,
        "started_at": timestamp_in(-120),
        "type": rng.choice(("regular", "regular", "treasure", "golden_kappa")),
        "is_shared_train": False,
    }


def hype_progress(ctx: EventContext) -> dict[str, Any]:
    event = _hype_common(ctx)
    goal = rng.randint(1600, 12000)
    event.update(
        {"progress": rng.randint(0, goal - 1), "goal": goal, "expires_at": timestamp_in(300)}
    )
    return event


def hype_begin(ctx: EventContext) -> dict[str, Any]:
    event = hype_progress(ctx)
    event.update(
        {
            "all_time_high_level": event["level"] + rng.randint(0, 3),
            "all_time_high_total": event["total"] + rng.randint(0, 20000),
        }
    )
    return event


def hype_end(ctx: EventContext) -> dict[str, Any]:
    return {**_hype_common(ctx), "cooldown_ends_at": timestamp_in(3600), "ended_at": timestamp_in()}


def poll(phase: str) -> Callable[[EventContext], dict[str, Any]]:
    def build(ctx: EventContext) -> dict[str, Any]:
        title, options = rng.choice(data.POLL_TITLES)
        counted = phase != "begin"
        choices = []
        for option in options:
            points = rng.randint(0, 20) * 100 if counted else 0
            votes = rng.randint(0, 60) if counted else 0
            choices.append(
                {
                    "id": str(uuid.uuid4()),
                    "title": option,
                    "bits_votes": 0,
                    "channel_points_votes": points,
                    "votes": votes + points // 100,
                }
            )
        event = {
            "id": str(uuid.uuid4()),
            **ctx.base,
            "title": title,
            "choices": choices,
            "bits_voting": {"is_enabled": False, "amount_per_vote": 0},
            "channel_points_voting": {"is_enabled": True, "amount_per_vote": 100},
            "started_at": timestamp_in(-60),
        }
        if phase == "end":
            event.update({"status": "completed", "ended_at": timestamp_in()})
        else:
            event["ends_at"] = timestamp_in(120)
        return event

    return build


def prediction(phase: str) -> Callable[[EventContext], dict[str, Any]]:
    def build(ctx: EventContext) -> dict[str, Any]:
        title, (first, second) = rng.choice(data.PREDICTION_TITLES)
        outcomes = []
        for outcome_title, color in ((first, "blue"), (second, "pink")):
            predictors = []
            if phase != "begin":
                for person in rng.sample(data.VIEWERS, k=rng.randint(1, 3)):
                    used = rng.choice((100, 500, 1000, 5000))
                    won = None if phase in ("progress", "lock") else 0
                    predictors.append(
                        {
                            **user_fields("", person),
                            "channel_points_won": won,
                            "channel_points_used": used,
                        }
                    )
            outcomes.append(
                {
                    "id": str(uuid.uuid4()),
                    "title": outcome_title,
                    "color": color,
                    "users": len(predictors),
                    "channel_points": sum(p["channel_points_used"] for p in predictors),
                    "top_predictors": predictors,
                }
            )
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            **ctx.base,
            "title": title,
            "outcomes": outcomes,
            "started_at": timestamp_in(-90),
        }
        if phase in ("begin", "progress"):
            event["locks_at"] = timestamp_in(60)
        elif phase == "lock":
            event["locked_at"] = timestamp_in()
        else:
            winner = outcomes[0]
            for predictor in winner["top_predictors"]:
                predictor["channel_points_won"] = predictor["channel_points_used"] * 2
            event.update(
                {
                    "winning_outcome_id": winner["id"],
                    "status": "resolved",
                    "ended_at": timestamp_in(),
                }
            )
        return event

    return build


def goal(phase: str) -> Callable[[EventContext], dict[str, Any]]:
    def build(ctx: EventContext) -> dict[str, Any]:
        target = rng.choice((100, 500, 1000))
        current = rng.randint(0, target)
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            **ctx.base,
            "type": rng.choice(
                (
                    "follow",
                    "subscription",
                    "subscription_count",
                    "new_subscription",
                    "new_subscription_count",
                    "new_bit",
                    "new_cheerer",
                )
            ),
            "description": rng.choice(data.GOAL_DESCRIPTIONS),
            "current_amount": current,
            "target_amount": target,
            "started_at": timestamp_in(-86400),
        }
        if phase == "end":
            event.update({"is_achieved": current >= target, "ended_at": timestamp_in()})
        return event

    return build
