"""EventSub conduits: a client's sets of shards, each shard one WebSocket session or webhook.

Subscriptions with transport `{"method": "conduit", "conduit_id"}` attach to a conduit, not to
a session. A notification goes to the shard picked by a hash of its broadcaster id; if that
shard is not enabled, it is tried once more on another enabled shard, with the same message,
and otherwise dropped (counted in `Conduit.dropped`). A closed socket disables only its shard.
Twitch's description: https://dev.twitch.tv/docs/eventsub/handling-conduit-events/ and the
conduit endpoints in https://dev.twitch.tv/docs/api/reference/#create-conduits .

State only: sending is queueing on a Session, or handing a webhook shard's message to
`post_to_webhook` (set by the state to the webhook dispatcher, which POSTs it and, when the
POST fails, calls `send_via` with the shards left to try). The Helix routes live in
`conduit_routes`.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.errors import HelixError
from simulator.sessions import Session
from simulator.webhook_rules import NOT_LOOPBACK, callback_problem, secret_ok
from simulator.wire import rfc3339_nano

#: Twitch allows 5 enabled conduits per client id and 20,000 shards per conduit.
MAX_CONDUITS_PER_CLIENT = 5
MAX_SHARDS = 20_000

ENABLED = "enabled"
#: Twitch does not document the status of a shard that never had a transport; the simulator
#: reports it as a WebSocket shard without a session, which is what it is.
UNASSIGNED_STATUS = "websocket_disconnected"
#: A webhook shard waits here until it answers its challenge.
WEBHOOK_PENDING = "webhook_callback_verification_pending"

#: The `message` texts Twitch documents for Update Conduit Shards errors; their `code` is
#: documented only by example (`invalid_parameter`), so every error uses it.
ERROR_CODE = "invalid_parameter"
OUT_OF_RANGE = "The shard id is outside of the conduit's range."
BAD_METHOD = "The value specified in the method field is not valid."
NO_SESSION_ID = "The session_id field is required if you specify the WebSocket transport method."
NOT_CONNECTED = "The websocket session is not connected."
NO_CALLBACK = "The callback field is required if you specify the webhook transport method."
BAD_CALLBACK = (
    "The URL in the transport's callback field is not valid. "
    "The URL must use the HTTPS protocol and the 443 port number."
)
BAD_SECRET = "The length of the string in the secret field is not valid."
#: Not a documented text: a session already carries another shard.
SESSION_TAKEN = "The websocket session is already assigned to another shard."
#: Not a documented text: the simulator calls back loopback hosts only.
NOT_LOOPBACK_CALLBACK = "The simulator calls back only loopback hosts (127.0.0.1, localhost, ::1)."

#: Hands one message for a webhook shard to the dispatcher:
#: (conduit, shard, shards still to try if it fails, message id, message text, notification?).
WebhookPost = Callable[["Conduit", "Shard", list["Shard"], str, str, bool], None]

#: Condition fields naming the channel a notification is about, in the order they are used
#: as the routing key; an app-level type (conduit.shard.disabled) routes by its client id.
_ROUTING_FIELDS = ("broadcaster_user_id", "to_broadcaster_user_id", "from_broadcaster_user_id")


def routing_key(condition: Mapping[str, str]) -> str:
    """What picks the shard: the broadcaster id (or the client id for app-level types)."""
    for key in (*_ROUTING_FIELDS, "client_id"):
        if condition.get(key):
            return condition[key]
    return ",".join(f"{k}={v}" for k, v in sorted(condition.items()))


def shard_index(key: str, shard_count: int) -> int:
    """A stable hash (the same in every process, unlike `hash`) of `key` onto the shards."""
    return zlib.crc32(key.encode()) % shard_count


@dataclass
class Shard:
    """One shard: its status and the transport assigned to it with Update Conduit Shards."""

    id: str
    status: str = UNASSIGNED_STATUS
    method: str = "websocket"
    session_id: str = ""
    connected_at: str | None = None
    disconnected_at: str | None = None
    callback: str | None = None
    secret: str | None = field(default=None, repr=False)
    #: Bumped on every assignment, so a late challenge answer cannot touch a newer one.
    generation: int = field(default=0, repr=False)

    @property
    def enabled(self) -> bool:
        return self.status == ENABLED

    def transport(self) -> dict[str, Any]:
        """The Helix shape: never the webhook secret."""
        if self.method == "webhook":
            return {"method": "webhook", "callback": self.callback}
        transport: dict[str, Any] = {"method": "websocket", "session_id": self.session_id}
        if self.connected_at is not None:
            transport["connected_at"] = self.connected_at
        if self.disconnected_at is not None:
            transport["disconnected_at"] = self.disconnected_at
        return transport

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "transport": self.transport()}

    def use_session(self, session: Session) -> None:
        self.generation += 1
        self.method, self.session_id, self.status = "websocket", session.id, ENABLED
        self.connected_at, self.disconnected_at = session.connected_at, None
        self.callback = self.secret = None


@dataclass
class Conduit:
    """A client's conduit; shard ids are "0" to str(shard_count - 1)."""

    client_id: str
    shard_count: int
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    shards: list[Shard] = field(default_factory=list)
    #: Notifications dropped because neither their shard nor a retry shard could take them.
    dropped: int = 0

    def __post_init__(self) -> None:
        self.resize(self.shard_count)

    def resize(self, shard_count: int) -> None:
        """Scaling up adds unassigned shards; scaling down removes the shards above the count."""
        del self.shards[shard_count:]
        self.shards += [Shard(str(i)) for i in range(len(self.shards), shard_count)]
        self.shard_count = shard_count

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "shard_count": self.shard_count}

    def shard(self, shard_id: Any) -> Shard | None:
        if isinstance(shard_id, str) and shard_id.isdigit() and int(shard_id) < self.shard_count:
            return self.shards[int(shard_id)]
        return None

    def targets(self, key: str) -> list[Shard]:
        """The shard the hash picks, then the first other enabled shard after it (the retry)."""
        first = shard_index(key, self.shard_count)
        after = self.shards[first + 1 :] + self.shards[:first]
        retry = next((s for s in after if s.enabled), None)
        return [self.shards[first]] + ([retry] if retry is not None else [])


def _shard_count(body: Mapping[str, Any]) -> int:
    count = body.get("shard_count")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SHARDS:
        raise HelixError(400, f"shard_count must be a whole number from 1 to {MAX_SHARDS}")
    return count


class ConduitRegistry:
    """Every conduit, and the rules of the conduit endpoints (HelixError with Twitch's status)."""

    def __init__(
        self, session_lookup: Callable[[str], Session | None], allow_http_callbacks: bool = False
    ) -> None:
        self.by_id: dict[str, Conduit] = {}
        self._session = session_lookup
        self.allow_http_callbacks = allow_http_callbacks
        #: Set by the state: POSTs a message to a webhook shard (None: webhook shards get none).
        self.post_to_webhook: WebhookPost | None = None

    # -- the conduit endpoints ---------------------------------------------------------------

    def owned_by(self, client_id: str) -> list[Conduit]:
        return [c for c in self.by_id.values() if c.client_id == client_id]

    def owned(self, client_id: str, conduit_id: Any) -> Conduit:
        """The caller's conduit; 404 when it does not exist or belongs to another client."""
        conduit = self.by_id.get(conduit_id) if isinstance(conduit_id, str) else None
        if conduit is None or conduit.client_id != client_id:
            raise HelixError(404, "conduit not found")
        return conduit

    def owns(self, client_id: str, conduit_id: str) -> bool:
        conduit = self.by_id.get(conduit_id)
        return conduit is not None and conduit.client_id == client_id

    def create(self, client_id: str, body: Any) -> Conduit:
        if not isinstance(body, dict):
            raise HelixError(400, "the body must be a JSON object")
        count = _shard_count(body)
        if len(self.owned_by(client_id)) >= MAX_CONDUITS_PER_CLIENT:
            raise HelixError(429, f"conduit limit reached: at most {MAX_CONDUITS_PER_CLIENT}")
        conduit = Conduit(client_id, count)
        self.by_id[conduit.id] = conduit
        return conduit

    def update(self, client_id: str, body: Any) -> Conduit:
        if not isinstance(body, dict):
            raise HelixError(400, "the body must be a JSON object")
        if not isinstance(body.get("id"), str) or not body["id"]:
            raise HelixError(400, "missing or invalid 'id'")
        count = _shard_count(body)
        conduit = self.owned(client_id, body["id"])
        conduit.resize(count)
        return conduit

    def delete(self, client_id: str, conduit_id: str) -> Conduit:
        conduit = self.owned(client_id, conduit_id)
        del self.by_id[conduit.id]
        return conduit

    def assign(
        self, client_id: str, body: Any
    ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """Update Conduit Shards: (the shards assigned, per-shard errors)."""
        if not isinstance(body, dict):
            raise HelixError(400, "the body must be a JSON object")
        if not isinstance(body.get("conduit_id"), str) or not body["conduit_id"]:
            raise HelixError(400, "missing or invalid 'conduit_id'")
        wanted = body.get("shards")
        if not isinstance(wanted, list) or not wanted:
            raise HelixError(400, "'shards' must be a non-empty list")
        conduit = self.owned(client_id, body["conduit_id"])
        data: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        for entry in wanted:
            entry = entry if isinstance(entry, dict) else {}
            shard = conduit.shard(entry.get("id"))
            message = self._assign_one(shard, entry.get("transport"))
            if shard is not None and not message:
                data.append(shard.public())
            else:
                errors.append({"id": str(entry.get("id")), "message": message, "code": ERROR_CODE})
        return data, errors

    def _assign_one(self, shard: Shard | None, transport: Any) -> str:
        """Give `shard` the transport; the error message, or "" when it was assigned."""
        if shard is None:
            return OUT_OF_RANGE
        if not isinstance(transport, dict) or transport.get("method") not in (
            "websocket",
            "webhook",
        ):
            return BAD_METHOD
        if transport["method"] == "webhook":
            return self._assign_webhook(shard, transport)
        session_id = transport.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            return NO_SESSION_ID
        session = self._session(session_id)
        if session is None or not session.is_open:
            return NOT_CONNECTED
        holder = self.holding(session_id)
        if holder is not None and holder[1] is not shard:
            return SESSION_TAKEN
        shard.use_session(session)
        return ""

    def _assign_webhook(self, shard: Shard, transport: Mapping[str, Any]) -> str:
        callback, secret = transport.get("callback"), transport.get("secret")
        if not isinstance(callback, str) or not callback:
            return NO_CALLBACK
        problem = callback_problem(callback, self.allow_http_callbacks)
        if problem is not None:
            return NOT_LOOPBACK_CALLBACK if problem[0] == NOT_LOOPBACK else BAD_CALLBACK
        if not secret_ok(secret):
            return BAD_SECRET
        assert isinstance(secret, str)
        shard.generation += 1
        shard.method, shard.callback, shard.secret = "webhook", callback, secret
        shard.session_id, shard.connected_at, shard.disconnected_at = "", None, None
        shard.status = WEBHOOK_PENDING
        return ""

    # -- sessions ----------------------------------------------------------------------------

    def holding(self, session_id: str) -> tuple[Conduit, Shard] | None:
        """The shard whose transport is this session, if any."""
        if not session_id:
            return None  # unassigned shards have no session id
        for conduit in self.by_id.values():
            for shard in conduit.shards:
                if shard.method == "websocket" and shard.session_id == session_id:
                    return conduit, shard
        return None

    def session_closed(self, session_id: str, status: str) -> list[tuple[Conduit, Shard]]:
        """The session's socket is gone: its enabled shard takes `status`."""
        held = self.holding(session_id)
        if held is None or not held[1].enabled:
            return []
        held[1].status, held[1].disconnected_at = status, rfc3339_nano()
        return [held]

    def move_session(self, old_session_id: str, new_session: Session) -> bool:
        """A reconnect: the shard follows the client to its new session."""
        held = self.holding(old_session_id)
        if held is None or not held[1].enabled:
            return False
        held[1].use_session(new_session)
        return True

    # -- delivery ----------------------------------------------------------------------------

    def send(
        self, conduit_id: str, key: str, message_id: str, text: str, notification: bool = True
    ) -> bool:
        """Queue one message on the shard `key` hashes to, else once on another enabled
        shard (the same text, so the same message id); False if both fail, and a
        notification that no shard took counts as dropped."""
        conduit = self.by_id.get(conduit_id)
        if conduit is None:
            return False
        return self.send_via(conduit, conduit.targets(key), message_id, text, notification)

    def send_via(
        self, conduit: Conduit, shards: list[Shard], message_id: str, text: str, notification: bool
    ) -> bool:
        """Try `shards` in turn. A webhook shard takes the message for POSTing (True); if the
        POST fails, the dispatcher calls this again with the shards after it."""
        for index, shard in enumerate(shards):
            if not shard.enabled:
                continue
            if shard.method == "webhook":
                if self.post_to_webhook is None:
                    continue
                rest = shards[index + 1 :]
                self.post_to_webhook(conduit, shard, rest, message_id, text, notification)
                return True
            session = self._session(shard.session_id)
            if session is None:
                continue
            if session.send_notification(message_id, text) if notification else session.send(text):
                return True
        if notification:
            conduit.dropped += 1
        return False

    def describe(self) -> list[dict[str, Any]]:
        """The control API's view: every conduit with its owner, shards and drop count."""
        return [
            {
                **c.public(),
                "client_id": c.client_id,
                "dropped": c.dropped,
                "shards": [s.public() for s in c.shards],
            }
            for c in self.by_id.values()
        ]
