"""What happens in the simulated channels: who is live, and what apps did through Helix.

Pure state and Twitch's rules, no HTTP. The Helix routes in `helix_chat` and `helix_stream`
ask it whether an action is allowed (live, cooldowns, one poll or prediction at a time) and
record each action done, so tests can assert on it through `/control/chat` and
`/control/actions` (`control_channels`).

`clock` is the Unix time in seconds; tests replace it to step over Twitch's cooldowns
(2 minutes between shoutouts) without waiting.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator import wire

#: Send a Shoutout: the broadcaster may send one every 2 minutes, and the same broadcaster one
#: every 60 minutes (https://dev.twitch.tv/docs/api/reference/#send-a-shoutout).
SHOUTOUT_COOLDOWN_S = 2 * 60
SHOUTOUT_TARGET_COOLDOWN_S = 60 * 60
#: Send Chat Announcement: one announcement every 2 seconds
#: (https://dev.twitch.tv/docs/api/reference/#send-chat-announcement).
ANNOUNCEMENT_COOLDOWN_S = 2.0
#: The kinds of recorded actions, as `GET /control/actions?kind=` names them.
ACTION_KINDS = ("chat_message", "announcement", "shoutout", "clip", "marker", "poll", "prediction")

#: Words for clip slugs, which Twitch builds as four CamelCase words and a random suffix
#: ("FunPoisedGiraffeGingerPower-KDy2fwLNuUEHU" in https://dev.twitch.tv/docs/api/clips/).
_SLUG_WORDS = (
    "Fun", "Poised", "Giraffe", "Ginger", "Power", "Cozy", "Brave", "Otter", "Pixel", "Tea",
    "Swift", "Rage", "Sleepy", "Moss", "Lunar", "Kappa", "Happy", "Noodle", "Tiny", "Dragon",
)  # fmt: skip
_SLUG_SUFFIX = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def clip_slug() -> str:
    words = "".join(secrets.choice(_SLUG_WORDS) for _ in range(4))
    return words + "-" + "".join(secrets.choice(_SLUG_SUFFIX) for _ in range(16))


def timestamp(epoch_s: float) -> str:
    """Helix's RFC3339 timestamps with nanoseconds, as in Twitch's examples."""
    return wire.rfc3339_nano(int(epoch_s * 1_000_000_000))


@dataclass
class LiveStream:
    """A channel that is streaming: since when, and how many watch."""

    stream_id: str
    started_at: float
    viewer_count: int


@dataclass
class ActionRecord:
    """One thing an app did: a chat message, an announcement, a shoutout, a clip, ..."""

    seq: int
    kind: str
    broadcaster_id: str
    at: float
    #: The fields of the request and of Twitch's answer, as the control API shows them.
    details: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "broadcaster_id": self.broadcaster_id,
            "at": timestamp(self.at),
            **self.details,
        }


@dataclass
class Poll:
    """A poll as Twitch's Create Poll and Get Polls describe it."""

    body: dict[str, Any]
    started_at: float
    duration_s: int
    status: str = "ACTIVE"
    ended_at: float | None = None

    def refresh(self, now: float) -> None:
        """A poll ends by itself when its duration is over."""
        if self.status == "ACTIVE" and now >= self.started_at + self.duration_s:
            self.status, self.ended_at = "COMPLETED", self.started_at + self.duration_s

    def public(self) -> dict[str, Any]:
        ended = timestamp(self.ended_at) if self.ended_at is not None else None
        return {**self.body, "status": self.status, "ended_at": ended}


@dataclass
class Prediction:
    """A Channel Points Prediction: ACTIVE, LOCKED when its window closes, then RESOLVED or
    CANCELED (here only through the control API)."""

    body: dict[str, Any]
    created_at: float
    window_s: int
    status: str = "ACTIVE"
    winning_outcome_id: str | None = None
    ended_at: float | None = None

    def refresh(self, now: float) -> None:
        if self.status == "ACTIVE" and now >= self.created_at + self.window_s:
            self.status = "LOCKED"

    @property
    def running(self) -> bool:
        """Twitch refuses a new prediction until this one is resolved or canceled."""
        return self.status in ("ACTIVE", "LOCKED")

    def public(self) -> dict[str, Any]:
        locks_at = self.created_at + self.window_s
        locked = self.status == "LOCKED" or (
            self.ended_at is not None and self.ended_at >= locks_at
        )
        return {
            **self.body,
            "winning_outcome_id": self.winning_outcome_id,
            "status": self.status,
            "ended_at": timestamp(self.ended_at) if self.ended_at is not None else None,
            "locked_at": timestamp(locks_at) if locked else None,
        }


@dataclass
class ChannelActivity:
    """Live channels, the actions apps took, and the cooldowns and singletons Twitch enforces."""

    clock: Callable[[], float] = time.time
    live: dict[str, LiveStream] = field(default_factory=dict)
    records: list[ActionRecord] = field(default_factory=list)
    polls: dict[str, Poll] = field(default_factory=dict)
    predictions: dict[str, Prediction] = field(default_factory=dict)
    #: Send Chat Message answers is_sent false with this drop_reason for the next N messages.
    chat_drops: list[dict[str, str]] = field(default_factory=list)
    #: (channel, who acted, target or "", when) of shoutouts and announcements: the cooldowns
    #: outlive `clear_records`, as Twitch's do.
    cooldown_log: list[tuple[str, str, str, str, float]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- live ------------------------------------------------------------------------------

    def go_live(self, channel: str, viewer_count: int) -> tuple[LiveStream, bool]:
        """The channel streams (again); True if it was offline before."""
        stream = self.live.get(channel)
        if stream is not None:
            stream.viewer_count = viewer_count
            return stream, False
        stream_id = str(40_000_000_000 + secrets.randbelow(10_000_000_000))
        stream = LiveStream(stream_id, self.clock(), viewer_count)
        self.live[channel] = stream
        return stream, True

    def go_offline(self, channel: str) -> bool:
        """The stream ends; True if the channel was live."""
        return self.live.pop(channel, None) is not None

    def describe_live(self, channel: str) -> dict[str, Any]:
        stream = self.live.get(channel)
        if stream is None:
            return {"live": False, "stream_id": None, "started_at": None, "viewer_count": 0}
        return {
            "live": True,
            "stream_id": stream.stream_id,
            "started_at": timestamp(stream.started_at),
            "viewer_count": stream.viewer_count,
        }

    # -- records ---------------------------------------------------------------------------

    def record(self, kind: str, broadcaster_id: str, details: dict[str, Any]) -> ActionRecord:
        entry = ActionRecord(next(self._seq), kind, broadcaster_id, self.clock(), details)
        self.records.append(entry)
        if kind in ("shoutout", "announcement"):
            actor, target = details["moderator_id"], details.get("to_broadcaster_id", "")
            self.cooldown_log.append((kind, broadcaster_id, actor, target, entry.at))
        return entry

    def describe_records(
        self, kind: str | None = None, broadcaster_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The recorded actions, oldest first; polls and predictions with their status now."""
        now = self.clock()
        described = []
        for entry in self.records:
            if kind not in (None, entry.kind) or broadcaster_id not in (None, entry.broadcaster_id):
                continue
            item = entry.describe()
            current = self._current_object(entry, now)
            if current is not None:
                item.update(current)
            described.append(item)
        return described

    def _current_object(self, entry: ActionRecord, now: float) -> dict[str, Any] | None:
        if entry.kind == "poll" and entry.details["id"] in self.polls:
            poll = self.polls[entry.details["id"]]
            poll.refresh(now)
            return poll.public()
        if entry.kind == "prediction" and entry.details["id"] in self.predictions:
            prediction = self.predictions[entry.details["id"]]
            prediction.refresh(now)
            return prediction.public()
        return None

    def clear_records(self) -> int:
        """Forget what was recorded; cooldowns and running polls and predictions stay."""
        cleared = len(self.records)
        self.records.clear()
        return cleared

    def _recent(self, kind: str, channel: str, within_s: float) -> list[tuple[str, str]]:
        """(who acted, target) of the `kind` actions in `channel` within the last `within_s`."""
        since = self.clock() - within_s
        return [
            (actor, target)
            for logged, logged_channel, actor, target, at in self.cooldown_log
            if logged == kind and logged_channel == channel and at > since
        ]

    # -- cooldowns -------------------------------------------------------------------------

    def announcement_refusal(self, broadcaster_id: str, sender_id: str) -> str | None:
        recent = self._recent("announcement", broadcaster_id, ANNOUNCEMENT_COOLDOWN_S)
        if any(actor == sender_id for actor, _ in recent):
            return (
                "The sender has exceeded the number of announcements they may send to this "
                "broadcaster_id within a given window."
            )
        return None

    def shoutout_refusal(self, from_id: str, to_id: str) -> str | None:
        if self._recent("shoutout", from_id, SHOUTOUT_COOLDOWN_S):
            return (
                "The broadcaster exceeded the number of Shoutouts they may send within a given "
                "window (one every 2 minutes)."
            )
        targets = self._recent("shoutout", from_id, SHOUTOUT_TARGET_COOLDOWN_S)
        if any(target == to_id for _, target in targets):
            return (
                "The broadcaster exceeded the number of Shoutouts they may send the same "
                "broadcaster within a given window (one every 60 minutes)."
            )
        return None

    # -- polls and predictions -------------------------------------------------------------

    def running_poll(self, broadcaster_id: str) -> Poll | None:
        now = self.clock()
        for poll in self.polls.values():
            poll.refresh(now)
            if poll.body["broadcaster_id"] == broadcaster_id and poll.status == "ACTIVE":
                return poll
        return None

    def running_prediction(self, broadcaster_id: str) -> Prediction | None:
        now = self.clock()
        for prediction in self.predictions.values():
            prediction.refresh(now)
            if prediction.body["broadcaster_id"] == broadcaster_id and prediction.running:
                return prediction
        return None

    def end_poll(self, broadcaster_id: str) -> Poll | None:
        """End the running poll early, as End Poll with TERMINATED does."""
        poll = self.running_poll(broadcaster_id)
        if poll is not None:
            poll.status, poll.ended_at = "TERMINATED", self.clock()
        return poll

    def end_prediction(self, broadcaster_id: str, winning_outcome_id: str | None) -> Prediction:
        """Resolve the running prediction (with a winner) or cancel it (without one).

        Raises LookupError if none runs, ValueError for an outcome it does not have."""
        prediction = self.running_prediction(broadcaster_id)
        if prediction is None:
            raise LookupError(broadcaster_id)
        outcomes = {outcome["id"] for outcome in prediction.body["outcomes"]}
        if winning_outcome_id is not None and winning_outcome_id not in outcomes:
            raise ValueError(winning_outcome_id)
        prediction.status = "RESOLVED" if winning_outcome_id is not None else "CANCELED"
        prediction.winning_outcome_id = winning_outcome_id
        prediction.ended_at = self.clock()
        return prediction
