"""Store namespaces and tuning numbers of the tokens package, each with the reason for its value.

The cross-process refresh lock's key lives in `core.constants.TOKEN_REFRESH_LOCK` with the other
bus key names.
"""

#: Store namespace holding the encrypted token; one row, key TOKEN_KEY (one broadcaster).
TOKENS_NAMESPACE = "tokens"
TOKEN_KEY = "user"

#: Store namespace of the OAuth `state` values handed out with /tokens/link (single use).
STATE_NAMESPACE = "oauth_state"
#: How long an authorization link stays usable: long enough to log in and approve on Twitch.
STATE_TTL_S = 600

#: Refresh this long before `expires_at`, so a call never starts with a token about to die.
REFRESH_AHEAD_S = 300

#: Twitch requires validating every token at start-up and then hourly:
#: https://dev.twitch.tv/docs/authentication/validate-tokens/
VALIDATE_INTERVAL_S = 3600

#: TTL of the cross-process refresh lock: longer than one token request (HTTP_TIMEOUT_S), so a
#: refresh in progress keeps it, and short enough that a crashed holder does not block for long.
REFRESH_LOCK_TTL_S = 30
#: How often a process waiting for another's refresh re-reads the store.
REFRESH_LOCK_POLL_S = 0.05

#: Timeout for each call to Twitch; below REFRESH_LOCK_TTL_S on purpose.
HTTP_TIMEOUT_S = 10.0

#: The longest StreamCore waits for a Helix rate-limit reset before retrying once; Twitch's
#: bucket refills within a minute, so a longer wait means something else is wrong.
RATE_LIMIT_MAX_WAIT_S = 60.0

#: Twitch's RFC 8628 `slow_down` means: add this to the polling interval.
DEVICE_SLOW_DOWN_S = 5
#: Device flows the dashboard may track at once; the oldest finished one is forgotten first.
MAX_TRACKED_DEVICE_FLOWS = 20

#: Helix accepts at most this many ids and logins in one /users call.
USERS_PER_REQUEST = 100
