"""The gateway's tuning: defaults suit Twitch, tests shorten the timers."""

from __future__ import annotations

from dataclasses import dataclass

from core.constants import EVENTSUB_STREAM_MAXLEN
from core.settings import Settings
from gateway.protocol import DEFAULT_KEEPALIVE_MARGIN_S, DEFAULT_WELCOME_TIMEOUT_S

__all__ = ["GatewayOptions"]


@dataclass
class GatewayOptions:
    """Tuning; the defaults suit Twitch, tests shorten the timers."""

    #: Asked of Twitch in the connect URL; None takes Twitch's default (see gateway.protocol).
    keepalive_timeout_s: int | None = None
    keepalive_margin_s: float = DEFAULT_KEEPALIVE_MARGIN_S
    welcome_timeout_s: float = DEFAULT_WELCOME_TIMEOUT_S
    open_timeout_s: float = 10.0
    #: Twitch's largest notifications (chat messages with fragments) are a few KiB.
    max_frame_bytes: int = 1024 * 1024
    #: Reconnect back-off: capped, jittered, reset after a session that got subscribed.
    reconnect_base_s: float = 1.0
    reconnect_cap_s: float = 60.0
    #: Retries of subscriptions that failed for a transient reason (429, 5xx, network).
    retry_base_s: float = 2.0
    retry_cap_s: float = 60.0
    stream_maxlen: int = EVENTSUB_STREAM_MAXLEN
    #: How often the subscribed session re-reads Twitch's list to repair what was deleted
    #: from outside (one Helix call a minute: far inside the rate limit).
    repair_interval_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewayOptions:
        return cls(
            keepalive_timeout_s=settings.eventsub_keepalive_timeout_s,
            max_frame_bytes=settings.eventsub_max_frame_bytes,
            stream_maxlen=settings.streamcore_stream_maxlen,
        )
