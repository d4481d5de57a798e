"""The simulator's options: protocol timings, token lifetimes and the registered client.

Defaults are Twitch's real values. Tests shorten the timers through `run_simulator(**options)`;
the two knobs that bend a protocol rule, `min_keepalive_s` and `allow_http_callbacks`, say so in
their names and default to Twitch's rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Twitch's accepted range for `keepalive_timeout_seconds`:
#: https://dev.twitch.tv/docs/eventsub/handling-websocket-events/
KEEPALIVE_MIN_S = 10
KEEPALIVE_MAX_S = 600
#: Twitch sends session_reconnect 30 s before it closes the old connection.
RECONNECT_GRACE_S = 30.0
#: User access tokens last about four hours; app tokens about 58 days (Twitch's examples).
USER_TOKEN_LIFETIME_S = 14_400
APP_TOKEN_LIFETIME_S = 5_011_271
#: Device codes expire after 30 minutes and are polled every 5 s (Twitch's example response).
DEVICE_CODE_LIFETIME_S = 1_800
DEVICE_POLL_INTERVAL_S = 5.0
#: RFC 8628: a client told `slow_down` must add 5 s to its polling interval.
DEVICE_SLOW_DOWN_STEP_S = 5.0
#: Authorization codes are single-use and short-lived (RFC 6749 recommends at most 10 min).
AUTH_CODE_LIFETIME_S = 600
#: Helix's token bucket: 800 points a minute in Twitch's example headers.
RATELIMIT_PER_MINUTE = 800
#: Webhooks (https://dev.twitch.tv/docs/eventsub/handling-webhook-events/): a notification must
#: be answered "within a few seconds"; the challenge timeout is not documented (10 s is the
#: usual reading). Twitch documents neither its retry schedule nor how many failures revoke a
#: subscription: the simulator retries with a doubling back-off (1 s, 2 s, 4 s ... at most 60 s)
#: and gives up after 10 consecutive failed POSTs.
WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_CHALLENGE_TIMEOUT_S = 10.0
WEBHOOK_RETRY_BASE_S = 1.0
WEBHOOK_RETRY_MAX_S = 60.0
WEBHOOK_FAILURE_LIMIT = 10
#: POSTs in flight at once to one callback URL.
WEBHOOK_CONCURRENCY = 10


@dataclass
class SimulatorConfig:
    """Every option `run_simulator` and `streamcore simulate` accept."""

    client_id: str = "simclient0000000000000000000000"
    client_secret: str = "simsecret000000000000000000000"
    redirect_uri: str = "http://localhost:8000/tokens/callback"
    extra_redirect_uris: list[str] = field(default_factory=list)

    token_lifetime_s: float = USER_TOKEN_LIFETIME_S
    app_token_lifetime_s: float = APP_TOKEN_LIFETIME_S
    auth_code_lifetime_s: float = AUTH_CODE_LIFETIME_S
    device_code_lifetime_s: float = DEVICE_CODE_LIFETIME_S
    device_poll_interval_s: float = DEVICE_POLL_INTERVAL_S
    device_slow_down_step_s: float = DEVICE_SLOW_DOWN_STEP_S
    #: None: a device code waits for approval (activation page or control API).
    device_auto_approve_after_polls: int | None = None
    #: Who /authorize and the device flow approve as: a role (broadcaster, moderator, bot), a
    #: user id or a login; `POST /control/oauth` changes it at run time (synthetic users too).
    authorize_as: str = "broadcaster"
    authorize_deny: bool = False

    #: TEST-ONLY lower bound for keepalive_timeout_seconds; Twitch's is 10.
    min_keepalive_s: int = KEEPALIVE_MIN_S
    #: None: Twitch's rule (the session's keepalive timeout). Set only to shorten tests.
    subscribe_deadline_s: float | None = None
    reconnect_grace_s: float = RECONNECT_GRACE_S
    #: WebSocket Ping interval and how long a Pong may take before close 4002.
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 10.0
    #: During a reconnect, notifications sent on the old socket after session_reconnect are
    #: sent again on the new socket after its welcome (same message_id), as production may.
    reconnect_overlap_duplicates: bool = True

    #: Helix points per minute of each token bucket; `POST /control/ratelimit` changes it live.
    ratelimit_per_minute: int = RATELIMIT_PER_MINUTE

    #: TEST/LOCAL ONLY: also accept webhook callbacks over plain http and on any port (Twitch
    #: accepts only https on port 443). Either way the simulator calls loopback hosts only.
    allow_http_callbacks: bool = False
    webhook_timeout_s: float = WEBHOOK_TIMEOUT_S
    webhook_challenge_timeout_s: float = WEBHOOK_CHALLENGE_TIMEOUT_S
    webhook_retry_base_s: float = WEBHOOK_RETRY_BASE_S
    webhook_retry_max_s: float = WEBHOOK_RETRY_MAX_S
    #: Consecutive failed POSTs after which a webhook subscription becomes
    #: `notification_failures_exceeded` (and a webhook shard is disabled with that status).
    webhook_failure_limit: int = WEBHOOK_FAILURE_LIMIT
    webhook_concurrency: int = WEBHOOK_CONCURRENCY

    def __post_init__(self) -> None:
        if not self.authorize_as:
            raise ValueError("authorize_as must name a role, a user id or a login")
        if self.ratelimit_per_minute < 1:
            raise ValueError("ratelimit_per_minute must be at least 1")
        if not 1 <= self.min_keepalive_s <= KEEPALIVE_MIN_S:
            raise ValueError(f"min_keepalive_s must be from 1 to {KEEPALIVE_MIN_S}")
        timers = (self.webhook_timeout_s, self.webhook_challenge_timeout_s)
        if min(timers) <= 0 or self.webhook_retry_base_s < 0 or self.webhook_retry_max_s < 0:
            raise ValueError("webhook timeouts must be above 0 and back-off times not negative")
        if self.webhook_failure_limit < 1 or self.webhook_concurrency < 1:
            raise ValueError("webhook_failure_limit and webhook_concurrency must be at least 1")

    @property
    def redirect_uris(self) -> list[str]:
        return [self.redirect_uri, *self.extra_redirect_uris]
