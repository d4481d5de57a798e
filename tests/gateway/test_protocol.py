"""The pure protocol core: frames, decisions, the watchdog and close codes, with no network."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import MalformedFrame
from gateway.protocol import (
    CloseSocket,
    Deliver,
    Drop,
    GatewayProtocol,
    Notification,
    OpenSuccessor,
    Reconnect,
    Restart,
    Revoked,
    Subscribe,
    Welcome,
    Welcomed,
    classify_close,
    is_stale,
    parse_frame,
)

NOW_WALL = 1_700_000_000.0
FRESH = "2023-11-14T22:13:20.123456789Z"  # == NOW_WALL (+0.12 s), nanosecond precision


def frame(message_type: str, payload: dict[str, Any], **metadata: str) -> str:
    meta = {"message_id": metadata.pop("message_id", "m1"), "message_type": message_type,
            "message_timestamp": metadata.pop("timestamp", FRESH), **metadata}  # fmt: skip
    return json.dumps({"metadata": meta, "payload": payload})


def welcome(session_id: str = "S1", keepalive: int = 10) -> str:
    session = {"id": session_id, "status": "connected", "keepalive_timeout_seconds": keepalive,
               "reconnect_url": None, "connected_at": FRESH, "recovery_url": None}  # fmt: skip
    return frame("session_welcome", {"session": session})


def notification(message_id: str = "n1", timestamp: str = FRESH) -> str:
    payload = {"subscription": {"id": "sub1", "type": "channel.follow", "version": "2"},
               "event": {"user_name": "a"}}  # fmt: skip
    return frame("notification", payload, message_id=message_id, timestamp=timestamp,
                 subscription_type="channel.follow", subscription_version="2")  # fmt: skip


def reconnect(url: str | None = "wss://x/ws?r=1") -> str:
    return frame("session_reconnect", {"session": {"id": "S1", "reconnect_url": url}})


def connected() -> GatewayProtocol:
    protocol = GatewayProtocol(keepalive_margin_s=3.0, welcome_timeout_s=15.0)
    protocol.socket_opened(1, now=0.0)
    protocol.receive(1, welcome(), 0.0, NOW_WALL)
    return protocol


def test_parse_frame_types_each_message() -> None:
    assert isinstance(parse_frame(welcome()), Welcome)
    parsed = parse_frame(notification())
    assert isinstance(parsed, Notification)
    assert parsed.subscription_type == "channel.follow" and parsed.subscription_id == "sub1"
    # The reconnect URL is read from payload.session.reconnect_url.
    assert parse_frame(reconnect()) == Reconnect("m1", FRESH, "wss://x/ws?r=1")


@pytest.mark.parametrize(
    "text", ["not json", "[]", '{"metadata": {}}', frame("notification", {}), b"\xff\xfe"]
)
def test_malformed_frames_are_dropped_with_a_reason(text: str | bytes) -> None:
    actions = connected().receive(1, text, 1.0, NOW_WALL)
    assert len(actions) == 1 and isinstance(actions[0], Drop) and actions[0].why == "malformed"


def test_welcome_on_the_first_socket_subscribes() -> None:
    protocol = GatewayProtocol()
    protocol.socket_opened(1, now=0.0)
    actions = protocol.receive(1, welcome("S1", keepalive=30), 0.5, NOW_WALL)
    assert actions == [Welcomed("S1", True), Subscribe("S1")]
    assert protocol.state == "connected" and protocol.keepalive_timeout_s == 30


def test_notification_is_delivered_and_stale_or_unknown_ones_are_dropped() -> None:
    protocol = connected()
    [deliver] = protocol.receive(1, notification(), 1.0, NOW_WALL)
    assert isinstance(deliver, Deliver) and deliver.notification.message_id == "n1"
    stale = notification(timestamp="2023-11-14T22:02:00Z")  # 11 min 20 s old
    assert protocol.receive(1, stale, 1.0, NOW_WALL) == [Drop("stale", "channel.follow", "n1")]
    assert protocol.receive(1, frame("brand_new", {}), 1.0, NOW_WALL) == [
        Drop("unknown", "", "brand_new")
    ]


def test_staleness_uses_the_injected_clock() -> None:
    assert not is_stale(FRESH, NOW_WALL + 599)
    assert is_stale(FRESH, NOW_WALL + 601)
    assert is_stale("garbage", NOW_WALL)


def test_reconnect_overlap_opens_successor_and_closes_old_without_resubscribing() -> None:
    protocol = connected()
    assert protocol.receive(1, reconnect(), 1.0, NOW_WALL) == [OpenSuccessor("wss://x/ws?r=1")]
    protocol.socket_opened(2, now=1.1)
    assert protocol.state == "reconnecting"
    # The old socket keeps delivering until the new welcome.
    assert isinstance(protocol.receive(1, notification("n2"), 1.2, NOW_WALL)[0], Deliver)
    actions = protocol.receive(2, welcome("S2"), 1.3, NOW_WALL)
    assert actions == [Welcomed("S2", False), CloseSocket(1, actions[1].reason)]  # type: ignore[union-attr]
    assert not any(isinstance(a, Subscribe) for a in actions)
    assert protocol.session_id == "S2" and protocol.state == "connected"
    # The old socket's close, which we asked for, is no reason to restart.
    assert protocol.socket_closed(1, 1000) == []


def test_reconnect_without_url_restarts() -> None:
    [action] = connected().receive(1, reconnect(None), 1.0, NOW_WALL)
    assert isinstance(action, Restart)


def test_failed_successor_falls_back_to_the_base_url() -> None:
    protocol = connected()
    protocol.receive(1, reconnect(), 1.0, NOW_WALL)
    protocol.socket_opened(2, now=1.1)
    [action] = protocol.socket_closed(2, 4007)
    assert isinstance(action, Restart) and action.close is not None
    assert action.close.kind == "reconnect_failed"


def test_old_socket_closing_first_waits_for_the_successor() -> None:
    protocol = connected()
    protocol.receive(1, reconnect(), 1.0, NOW_WALL)
    protocol.socket_opened(2, now=1.1)
    assert protocol.socket_closed(1, 4004) == []
    assert protocol.receive(2, welcome("S2"), 1.3, NOW_WALL)[0] == Welcomed("S2", False)


def test_watchdog_deadline_is_keepalive_plus_margin_after_the_last_message() -> None:
    protocol = connected()  # keepalive 10 s, margin 3 s, welcome at t=0
    assert protocol.deadline() == 13.0
    protocol.receive(1, frame("session_keepalive", {}), 5.0, NOW_WALL)
    assert protocol.deadline() == 18.0
    assert protocol.check(17.9) == []
    [action] = protocol.check(18.0)
    assert isinstance(action, Restart) and "keepalive" in action.reason


def test_watchdog_gives_up_on_a_socket_without_welcome() -> None:
    protocol = GatewayProtocol(welcome_timeout_s=5.0)
    protocol.socket_opened(1, now=0.0)
    assert protocol.check(4.9) == []
    [action] = protocol.check(5.0)
    assert isinstance(action, Restart) and "welcome" in action.reason


@pytest.mark.parametrize(
    ("code", "kind", "is_error"),
    [
        (4000, "transient", False),
        (4001, "client_error", True),
        (4002, "client_error", True),
        (4003, "unused", True),
        (4004, "reconnect_failed", False),
        (4005, "transient", False),
        (4006, "transient", False),
        (4007, "reconnect_failed", False),
        (1006, "network", False),
        (None, "network", False),
    ],
)
def test_close_codes_are_classified(code: int | None, kind: str, is_error: bool) -> None:
    close = classify_close(code)
    assert (close.kind, close.is_error) == (kind, is_error)
    assert close.cause


def test_close_of_the_primary_restarts_with_its_class() -> None:
    [action] = connected().socket_closed(1, 4003)
    assert isinstance(action, Restart) and action.close is not None
    assert action.close.label == "close_4003" and "4003" in action.reason


def test_revocation_is_reported_with_its_status() -> None:
    sub = {"id": "sub1", "type": "channel.follow", "status": "authorization_revoked"}
    text = frame("revocation", {"subscription": sub},
                 subscription_type="channel.follow", subscription_version="2")  # fmt: skip
    assert connected().receive(1, text, 1.0, NOW_WALL) == [Revoked(sub, "authorization_revoked")]


def test_frames_from_forgotten_sockets_are_ignored() -> None:
    protocol = connected()
    assert protocol.receive(9, notification(), 1.0, NOW_WALL) == []
    assert protocol.socket_closed(9, 4000) == []


# -- hostile frames: each is skipped with a reason and the session goes on (issue "Hardening") --


def _typed_notification(subscription_type: str) -> str:
    payload = {"subscription": {"id": "sub1", "type": subscription_type, "version": "1"},
               "event": {}}  # fmt: skip
    return frame("notification", payload, subscription_type=subscription_type,
                 subscription_version="1")  # fmt: skip


def _deliverable(protocol: GatewayProtocol, message_id: str) -> bool:
    actions = protocol.receive(1, notification(message_id), 2.0, NOW_WALL)
    return [type(a) for a in actions] == [Deliver] and protocol.state == "connected"


@pytest.mark.parametrize("closed", [True, False], ids=["balanced", "unterminated"])
def test_deeply_nested_frame_is_dropped_and_the_session_stays_usable(closed: bool) -> None:
    depth = 200_000  # a 400 KB frame; json.loads alone raises RecursionError on it
    nested = "[" * depth + ("]" * depth if closed else "")
    text = frame("notification", {"subscription": {}, "event": {}}).replace(
        '"event": {}', f'"event": {nested}'
    )
    protocol = connected()
    [drop] = protocol.receive(1, text, 1.0, NOW_WALL)
    assert isinstance(drop, Drop) and drop.why == "malformed" and drop.label == "malformed"
    assert "nested" in drop.detail and len(drop.detail) < 200
    assert protocol.last_message_at == 1.0  # it still counts as a sign of life
    assert _deliverable(protocol, "after-the-deep-one")


def test_nesting_as_deep_as_real_payloads_is_delivered() -> None:
    text = notification().replace('{"user_name": "a"}', '{"a": ' * 20 + "1" + "}" * 20)
    [action] = connected().receive(1, text, 1.0, NOW_WALL)
    assert isinstance(action, Deliver)


def test_notification_from_the_future_is_dropped_like_a_stale_one() -> None:
    protocol = connected()
    ahead = "2023-11-14T22:15:30Z"  # NOW_WALL + 130 s: beyond the 60 s allowed for clock skew
    [drop] = protocol.receive(1, notification("f1", ahead), 1.0, NOW_WALL)
    assert isinstance(drop, Drop) and (drop.why, drop.subscription_type) == (
        "future",
        "channel.follow",
    )
    assert "f1" in drop.detail and ahead in drop.detail
    # Within the allowance (30 s ahead) a clock a little behind Twitch's loses nothing.
    [deliver] = protocol.receive(1, notification("f2", "2023-11-14T22:13:50Z"), 1.0, NOW_WALL)
    assert isinstance(deliver, Deliver)
    assert _deliverable(protocol, "after-the-future-one")


@pytest.mark.parametrize(
    "subscription_type",
    [
        "x" * 100_000,
        "a." + "b" * 99,  # 101 characters
        "Channel.Follow",
        "channel",
        "channel..follow",
        ".channel.follow",
        "channel.follow\n",
        "channel.follow:x",
        "eventsub:{type}",
        "channel follow.x",
    ],
)
def test_implausible_subscription_type_is_malformed_never_a_key(subscription_type: str) -> None:
    protocol = connected()
    [drop] = protocol.receive(1, _typed_notification(subscription_type), 1.0, NOW_WALL)
    assert isinstance(drop, Drop) and drop.why == "malformed"
    assert drop.label == "malformed" and "subscription_type" in drop.detail
    assert len(drop.detail) < 300  # the log line names the problem, not the whole value
    assert _deliverable(protocol, "after-the-bad-type")


@pytest.mark.parametrize(
    "subscription_type",
    ["channel.follow", "channel.channel_points_custom_reward_redemption.add", "a." + "b" * 98],
)
def test_every_real_shaped_type_is_delivered(subscription_type: str) -> None:
    [action] = connected().receive(1, _typed_notification(subscription_type), 1.0, NOW_WALL)
    assert isinstance(action, Deliver)
    assert action.notification.subscription_type == subscription_type


def test_drop_labels_never_carry_frame_text() -> None:
    protocol = connected()
    huge = "y" * 100_000
    unknown = protocol.receive(1, frame(huge, {}), 1.0, NOW_WALL)
    stale = protocol.receive(1, notification("i" * 100, "2023-11-14T22:02:00Z"), 1.0, NOW_WALL)
    revoked = protocol.receive(1, frame("revocation", {"subscription": {"status": huge}}), 1.0,
                               NOW_WALL)  # fmt: skip
    assert [d.label for d in unknown + stale if isinstance(d, Drop)] == [
        "unknown",
        "channel.follow",
    ]
    assert all(len(d.detail) < 200 for d in unknown + stale if isinstance(d, Drop))
    assert revoked == [Revoked({"status": huge}, "unknown")]


def test_an_overlong_message_id_is_malformed_never_a_redis_key():
    frame = {
        "metadata": {
            "message_id": "x" * 10_000,
            "message_type": "session_keepalive",
            "message_timestamp": "2026-01-01T00:00:00Z",
        },
        "payload": {},
    }
    with pytest.raises(MalformedFrame, match="message_id is 10000 characters"):
        parse_frame(json.dumps(frame))
