"""Every bus key and channel name StreamCore uses, and the tuning numbers, each with its reason.

Keeping names in one place means a consumer in another process (or `redis-cli`) can rely on
them, and a rename cannot silently split producers from consumers.
"""

# -- bus names ---------------------------------------------------------------------------------

#: Durable stream of raw EventSub notifications of one subscription type, written by the
#: gateway and read by each worker through its own consumer group. Entry fields:
#: message_id, message_timestamp, subscription_type, subscription_version, payload (JSON text
#: of the notification payload: {"subscription": ..., "event": ...}).
EVENTSUB_STREAM = "eventsub:{type}"

#: Pub/sub channel of one emitted event; the broadcaster pattern-subscribes to EVENTS_PATTERN.
EVENTS_CHANNEL = "events:{name}"
EVENTS_PATTERN = "events:*"

#: Durable stream of every emitted envelope, the retention that `/ws/events?since=` replays
#: from. Its entry id is the envelope's `id`, so ids are ordered across processes.
EVENTS_LOG_STREAM = "eventlog"

#: Set-if-absent key per EventSub message id; its TTL covers Twitch's 10-minute replay window.
DEDUPE_KEY = "dedupe:eventsub:{message_id}"
DEDUPE_TTL_S = 15 * 60

#: Lock key held while one process refreshes the OAuth token, so others wait and reuse it.
TOKEN_REFRESH_LOCK = "lock:token-refresh"

# -- tuning ------------------------------------------------------------------------------------

#: Twitch replays nothing older than this; anything older is dropped as a replay (section 1.7).
MAX_MESSAGE_AGE_S = 10 * 60

#: Default length kept in each eventsub:{type} stream: hours of a busy channel, a few MB.
EVENTSUB_STREAM_MAXLEN = 10_000
