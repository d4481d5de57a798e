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

#: Pub/sub channel announcing a revoked client key (data: the key record's id), so every
#: process closes that key's open connections at once. Missed notices (Redis restarting) are
#: covered by each process re-checking its clients' keys every KEY_RECHECK_S.
KEY_REVOKED_CHANNEL = "control:key-revoked"

#: Set-if-absent key per EventSub message id; its TTL covers Twitch's 10-minute replay window.
DEDUPE_KEY = "dedupe:eventsub:{message_id}"
DEDUPE_TTL_S = 15 * 60

#: Lock key held while one process refreshes the OAuth token, so others wait and reuse it.
TOKEN_REFRESH_LOCK = "lock:token-refresh"

# -- tuning ------------------------------------------------------------------------------------

#: Twitch replays nothing older than this; anything older is dropped as a replay. Twitch advises
#: rejecting messages more than 10 minutes old:
#: https://dev.twitch.tv/docs/eventsub/#guarding-against-replay-attacks
MAX_MESSAGE_AGE_S = 10 * 60

#: Default length kept in each eventsub:{type} stream: hours of a busy channel, a few MB.
EVENTSUB_STREAM_MAXLEN = 10_000

# -- workers -----------------------------------------------------------------------------------

#: Consumer group of one worker on every stream it reads. One group per worker means every
#: worker sees every event it subscribed to; processes running the same worker share the group
#: and so split the load.
WORKER_GROUP = "worker:{worker}"

#: Durable stream of the entries a worker gave up on (after max_retries), kept for inspection
#: and `streamcore workers replay <worker>`. Fields: the original entry's fields plus
#: source_stream, source_id, error, attempts, dead_lettered_at.
DEADLETTER_STREAM = "deadletter:{worker}"

#: Dead letters kept per worker: far more than a healthy worker ever produces, small in memory.
DEADLETTER_MAXLEN = 1_000

#: Durable stream a replay writes dead letters back into. Only that worker's group reads it, so
#: a replay never makes the other workers handle an event twice.
WORKER_REPLAY_STREAM = "replay:{worker}"

#: Key that makes one emit of one `handle` idempotent: the worker, the entry it handled (its
#: source stream and id) and the emit's index within that call. A retried `handle` emits
#: under the same keys, so a repeat is not logged again and keeps its first id.
EMIT_ONCE_KEY = "emitted:{worker}:{source}:{index}"
#: How long an emit's key is kept: longer than a worker's retries and a crashed consumer's
#: takeover take (minutes), short enough to cost little memory at 20 events/s (~72,000 keys).
EMIT_ONCE_TTL_S = 60 * 60

#: Store namespace of a worker's own key-value state (`self.state`).
WORKER_STATE_NAMESPACE = "worker_state:{worker}"

#: Store namespace holding, per worker, the id of the newest dead letter already replayed, so a
#: replay sends each dead letter once and status counts only those not yet replayed.
WORKER_DEADLETTER_CURSORS = "worker_deadletters"
