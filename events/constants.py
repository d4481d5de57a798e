"""Names and tuning numbers of the event fan-out, each with the reason for its value."""

#: Store namespace of client keys: key = sha256 hex of the key, value = JSON KeyRecord.
CLIENT_KEYS_NAMESPACE = "client_keys"

#: Prefix of every client key, so a leaked key is recognisable (and greppable) as StreamCore's.
CLIENT_KEY_PREFIX = "sck_"

#: Random bytes in a client key: 256 bits, so a sha256 of it needs no salt or slow hash.
CLIENT_KEY_BYTES = 32

#: Bytes a client's socket may hold (in user space) before new frames wait in its own bounded
#: outbox instead. Matches asyncio's default high-water mark, so a reading client never queues.
SOCKET_HIGH_WATER_BYTES = 64 * 1024

#: Kernel send buffer of each client socket. Linux would grow it to megabytes, hiding a slow
#: client from the outbox policy and delaying its close frame; 128 KiB still carries far more
#: than an event stream needs (about 1 MB/s at a 100 ms round trip).
SOCKET_SEND_BUFFER_BYTES = 128 * 1024

#: How long a closing handshake may take before the socket is aborted; a slow client whose
#: close frame sits behind unread data must not keep its memory for long.
CLOSE_TIMEOUT_S = 10.0

#: Poll interval while waiting for a socket to drain when the server gives no writable signal.
DRAIN_POLL_S = 0.005

#: How often each process re-reads the keys of its connected clients, closing those revoked
#: while a revocation notice could not reach it (the notice itself closes them at once).
KEY_RECHECK_S = 30.0

#: How often the broadcaster trims the retention stream by age (XTRIM MINID).
RETENTION_TRIM_INTERVAL_S = 10.0

#: Queue between the raw `events:*` subscription and the loop that logs raw messages. Large,
#: because dropping here loses a raw event; at 100 events/s it is more than a minute of backlog.
SUBSCRIPTION_QUEUE = 10_000

#: Entries the fan-out takes from the event log per read: a burst is fanned out in batches,
#: and one read never holds the loop for long.
TAIL_READ_COUNT = 500

#: How long one blocking read of the event log waits for an entry. It returns at once when
#: one arrives; the bound only keeps the Redis connection's read under its socket timeout.
TAIL_BLOCK_MS = 2_000
#: The tail's batching under load (events.tail_pacing): from TAIL_BUSY_RATE events/s on one
#: replica, measured over TAIL_RATE_WINDOW_S, the tail waits TAIL_LINGER_S after each read so
#: the next one takes a batch; that bounds the latency it adds and the reads to ~1/TAIL_LINGER_S
#: per second. Below that rate nothing waits. bench/channels.py, 1000 events/s spread over
#: 1000 channels: each read costs ~0.5 ms of CPU on a 2-core VM; 2,800 reads (5 ms) gave CPU
#: per delivery x1.53 of the single-channel figure, 760 reads (20 ms) x1.24.
TAIL_LINGER_S = 0.02
TAIL_BUSY_RATE = 200.0
TAIL_RATE_WINDOW_S = 0.1
#: ... unless a read brought this many bytes of frames: then copying them costs far more than
#: the read, and lingering would only make each client's burst bigger (and a client with a
#: small WS_CLIENT_BUFFER_BYTES look slow when it is not).
TAIL_BATCH_BYTES = 64 * 1024

#: A tail away from the log this long (delivering, or its process stalled) checks, before it
#: reads on, whether the log was trimmed past it meanwhile (events.tail_trim).
TAIL_STALL_S = 0.25

#: Retry pauses while the event log is unreadable (Redis down or restarting): short at first,
#: so a restart costs well under a second of delay once Redis is back; capped, jittered.
TAIL_RETRY_BASE_S = 0.1
TAIL_RETRY_CAP_S = 2.0

#: Pause after an unexpected error in the broadcaster loop, so a bad state cannot spin the CPU.
BROADCAST_ERROR_PAUSE_S = 1.0

# -- close codes (RFC 6455 section 7.4; 4000-4999 are ours) -----------------------------------

#: The client did not read fast enough and its outbox overflowed.
CLOSE_TOO_SLOW = 4008
#: The key is missing, unknown or revoked.
CLOSE_UNAUTHORIZED = 4001
#: The query string is invalid (bad filter or since id).
CLOSE_BAD_REQUEST = 4000
#: The key is valid but may not receive what was asked (another channel's events).
CLOSE_FORBIDDEN = 4003
#: The client broke the inbound rules (too big, too many, not JSON).
CLOSE_POLICY = 1008
#: The server is shutting down or restarting; reconnect.
CLOSE_RESTART = 1012
#: A backend the request needs (the event log, the key store) is unavailable; retry later.
CLOSE_TRY_AGAIN = 1013
