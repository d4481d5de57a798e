"""The whole simulated Twitch in one object: users, OAuth, sessions, subscriptions, delivery.

Routes and socket loops call into SimulatorState and hold no state of their own; tests can
inspect it directly through `sim.state`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

from simulator import user_revocation, wire
from simulator.catalogue import SHARD_DISABLED
from simulator.channel_activity import ChannelActivity
from simulator.conduits import Conduit, ConduitRegistry, Shard, routing_key
from simulator.config import SimulatorConfig
from simulator.errors import ControlError
from simulator.events import apply_field_strings, generate_event
from simulator.oauth import OAuthRegistry
from simulator.ratelimit import RateLimiter
from simulator.sessions import CLOSE_CODES, DISCONNECTED_STATUS, Session
from simulator.subscription_rules import SubscriptionRules
from simulator.subscriptions import REVOCATION_STATUSES, EventSubSubscription, SubscriptionRegistry
from simulator.trigger_checks import checked_version
from simulator.user_directory import UserDirectory
from simulator.users import SimUser
from simulator.webhooks import WebhookDispatcher

logger = logging.getLogger("streamcore.simulator")


class SimulatorState:
    """Everything the simulator knows; shared by the HTTP routes and the WebSocket loops."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.directory = UserDirectory()
        #: role -> user, and every user by id (synthetic ones included): the directory's own.
        self.users: dict[str, SimUser] = self.directory.roles
        self.users_by_id: dict[str, SimUser] = self.directory.by_id
        broadcaster = self.users["broadcaster"].id
        #: channel id -> ids of its moderators.
        self.moderators: dict[str, set[str]] = {
            broadcaster: {self.users["moderator"].id, self.users["bot"].id}
        }
        #: Who /authorize and the device flow approve as: a role, a user id or a login.
        self.authorize_as = config.authorize_as
        if self.directory.find(self.authorize_as) is None:
            raise ValueError(f"authorize_as {self.authorize_as!r} names no simulated user")
        self.authorize_deny = config.authorize_deny
        self.oauth = OAuthRegistry(config, login_of=self.directory.login_of)
        rules = SubscriptionRules(
            user_exists=lambda user_id: user_id in self.users_by_id,
            moderates=lambda user_id, channel: user_id in self.moderators.get(channel, set()),
            has_authorized=self.oauth.has_authorized,
            granted_scope=self.oauth.granted_scope,
        )
        self.subscriptions = SubscriptionRegistry(rules, config.allow_http_callbacks)
        self.ratelimits = RateLimiter(config.ratelimit_per_minute)
        self.sessions: dict[str, Session] = {}
        self.conduits = ConduitRegistry(self.sessions.get, config.allow_http_callbacks)
        #: reconnect token -> id of the session that was told to move.
        self.reconnect_tokens: dict[str, str] = {}
        #: Timers and webhook POSTs, owned by the app's lifespan, cancelled at shutdown.
        self.background: set[asyncio.Task[None]] = set()
        self.webhooks = WebhookDispatcher(
            config, self.subscriptions, self.conduits, self.spawn, self._announce_disabled_shard
        )
        #: The last notification sent, for /control/duplicate without arguments.
        self.last_message_id: str | None = None
        #: Live channels and what apps did through Helix (chat, shoutouts, polls, ...).
        self.activity = ChannelActivity()

    # -- background tasks ------------------------------------------------------------------

    def spawn(self, coroutine: Any) -> None:
        """Run a timer or a webhook POST, cancelled at shutdown; failures are logged."""
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self._timer_done)

    def _timer_done(self, task: asyncio.Task[None]) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("simulator timer failed", exc_info=task.exception())

    async def aclose(self) -> None:
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.webhooks.aclose()

    # -- users -----------------------------------------------------------------------------

    def user(self, ref: str) -> SimUser:
        """The user a role name, user id or login names (synthetic ones too); 404 otherwise."""
        return self.directory.resolve(ref)

    def approving_user(self) -> SimUser:
        """Who /authorize and the device flow sign in as now (`POST /control/oauth`)."""
        return self.directory.resolve(self.authorize_as)

    def issue_token(
        self,
        user: str = "broadcaster",
        scopes: list[str] | None = None,
        expires_in: float | None = None,
    ) -> dict[str, Any]:
        """A user token for any user (role, id or login), minted without the browser dance."""
        sim_user = self.user(user)
        granted = tuple(scopes) if scopes is not None else sim_user.default_scopes
        return self.oauth.issue_user_token(self.config.client_id, sim_user.id, granted, expires_in)

    # -- sessions --------------------------------------------------------------------------

    def open_session(self, keepalive_s: int, ws_base_url: str) -> Session:
        session = Session(keepalive_timeout_s=keepalive_s, ws_base_url=ws_base_url)
        self.sessions[session.id] = session
        return session

    def session(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise ControlError(404, f"no session {session_id!r}; GET /control/sessions lists them")
        return session

    def open_session_or_none(self, session_id: str) -> Session | None:
        session = self.sessions.get(session_id)
        return session if session is not None and session.is_open else None

    def session_in_use(self, session_id: str) -> bool:
        """A session escapes the 4003 deadline with a subscription or a conduit shard."""
        return bool(self.subscriptions.enabled_on(session_id)) or (
            self.conduits.holding(session_id) is not None
        )

    def session_closed(self, session: Session, code: int | None, by_server: bool) -> None:
        """The socket is gone: disable what it held, unless a reconnect may still take it."""
        session.status = "closed"
        session.close_code = code
        session.disconnected_at = wire.rfc3339_nano()
        if session.reconnect_token is not None and session.successor_id is None:
            return  # the grace timer decides: the client may still connect to reconnect_url
        status = CLOSE_CODES[code][1] if by_server and code in CLOSE_CODES else DISCONNECTED_STATUS
        held = self.conduits.holding(session.id)
        self._disable_session(session.id, status, code)
        unsent, session.outbox = list(session.outbox), type(session.outbox)()
        if held is not None:
            self._retry_unsent(held[0], unsent)

    def _retry_unsent(self, conduit: Conduit, unsent: list[str]) -> None:
        """A shard that went down with notifications still queued for it: as Twitch does for
        a disabled shard, each is retried once on another shard (same message id), else it
        is dropped and counted. What was already written to the socket is not retried:
        WebSocket delivery has no acknowledgement."""
        for text in unsent:
            message = json.loads(text)
            metadata = message.get("metadata") or {}
            if metadata.get("message_type") != "notification":
                continue
            condition = message["payload"]["subscription"].get("condition") or {}
            key = routing_key(condition)
            self.conduits.send(conduit.id, key, str(metadata["message_id"]), text)

    def _disable_session(self, session_id: str, status: str, code: int | None) -> None:
        """Subscriptions on the session take `status`; so does a conduit shard it carried."""
        dropped = self.subscriptions.disable_session(session_id, status)
        if dropped:
            logger.info(
                "session %s closed (%s): %d subscriptions now %s",
                session_id,
                code,
                len(dropped),
                status,
            )
        for conduit, shard in self.conduits.session_closed(session_id, status):
            logger.info("conduit %s shard %s now %s", conduit.id, shard.id, status)
            self._announce_disabled_shard(conduit, shard)

    def _announce_disabled_shard(self, conduit: Conduit, shard: Shard) -> None:
        """Send conduit.shard.disabled to the client's subscriptions that cover this conduit."""
        event = {
            "conduit_id": conduit.id,
            "shard_id": shard.id,
            "status": shard.status,
            "transport": shard.transport(),
        }
        client = {"client_id": conduit.client_id}
        for sub in self.subscriptions.matching(SHARD_DISABLED, "1", client):
            covers = sub.condition.get("conduit_id") in (None, conduit.id)
            if sub.client_id == conduit.client_id and covers:
                self.deliver(sub, event)

    # -- reconnect -------------------------------------------------------------------------

    def begin_reconnect(self, session: Session) -> str:
        """Send session_reconnect; returns the reconnect URL the client must open."""
        if session.status != "connected":
            raise ControlError(
                409,
                f"session {session.id} is {session.status}; "
                "only a connected session can be told to reconnect",
            )
        token = secrets.token_urlsafe(24)
        self.reconnect_tokens[token] = session.id
        session.reconnect_token = token
        url = f"{session.ws_base_url}?reconnect={token}"
        session.send(json.dumps(wire.session_reconnect(session.id, session.connected_at, url)))
        session.status = "reconnecting"
        return url

    def reconnect(self, session_id: str) -> str:
        """Control API: send session_reconnect and start the grace timer."""
        session = self.session(session_id)
        url = self.begin_reconnect(session)
        self.spawn(self._reconnect_grace(session))
        return url

    async def _reconnect_grace(self, session: Session) -> None:
        await asyncio.sleep(self.config.reconnect_grace_s)
        self.reconnect_grace_expired(session)

    def claim_reconnect(self, token: str) -> Session | None:
        """The old session a reconnect URL points to, or None if it is invalid or used."""
        old_id = self.reconnect_tokens.pop(token, None)
        old = self.sessions.get(old_id or "")
        if old is None or old.successor_id is not None:
            return None
        return old

    def complete_reconnect(self, old: Session, new: Session) -> None:
        """Called once the new socket has its welcome: subscriptions move, overlap replays."""
        old.successor_id = new.id
        moved = self.subscriptions.move(old.id, new)
        if self.conduits.move_session(old.id, new) or moved:
            new.subscribe_deadline = None
        if self.config.reconnect_overlap_duplicates:
            for text in old.sent_while_reconnecting:
                new.send(text)
        old.sent_while_reconnecting.clear()

    def reconnect_grace_expired(self, old: Session) -> None:
        """The grace time is over: the URL stops working; an unmoved session fails."""
        if old.reconnect_token is not None:
            self.reconnect_tokens.pop(old.reconnect_token, None)
            old.reconnect_token = None  # no reconnect can take the subscriptions any more
        if old.successor_id is not None:
            if old.is_open:
                old.request_close(4004)
            return
        if old.is_open:
            old.request_close(4004)
        else:
            self._disable_session(old.id, CLOSE_CODES[4004][1], 4004)

    # -- delivery --------------------------------------------------------------------------

    def _send_for(self, sub: EventSubSubscription, message: dict[str, Any]) -> bool:
        """Queue a message on the subscription's session, or on its conduit's shard, or POST
        it to its webhook; only a notification is remembered for /control/duplicate and the
        reconnect overlap."""
        if sub.callback is not None:
            return self.webhooks.send(sub, message)
        message_id, text = message["metadata"]["message_id"], json.dumps(message)
        notification = message["metadata"]["message_type"] == "notification"
        if sub.conduit_id is not None:
            key = routing_key(sub.condition)
            return self.conduits.send(sub.conduit_id, key, message_id, text, notification)
        session = self.sessions.get(sub.session_id)
        if session is None:
            return False
        return session.send_notification(message_id, text) if notification else session.send(text)

    def deliver(
        self, sub: EventSubSubscription, event: dict[str, Any], age_s: float = 0.0
    ) -> str | None:
        """Send one notification for `sub`; the message id, or None if nothing was sent."""
        timestamp_ns = time.time_ns() - int(age_s * 1_000_000_000)
        message = wire.notification(sub.in_message(), event, timestamp_ns=timestamp_ns)
        if not self._send_for(sub, message):
            return None
        self.last_message_id = message["metadata"]["message_id"]
        return self.last_message_id

    def deliver_once(
        self,
        sub_type: str,
        version: str,
        condition: Mapping[str, str] | None,
        overrides: Mapping[str, Any],
        assignments: Mapping[str, str],
        age_s: float,
        channel: str | None = None,
    ) -> list[str]:
        """One occurrence of an event, sent to every matching enabled subscription (only those
        about `channel`, the id a conduit routes by, when it is given).

        Subscriptions with the same condition receive the same event (each with its own
        message id), generated from that condition, as Twitch sends them.
        """
        events: dict[str, dict[str, Any]] = {}
        message_ids = []
        for sub in self.subscriptions.matching(sub_type, version, condition):
            if channel is not None and routing_key(sub.condition) != channel:
                continue
            key = json.dumps(sub.condition, sort_keys=True)
            if key not in events:
                people = self.directory.person
                event = generate_event(sub_type, version, sub.condition, overrides, people)
                events[key] = apply_field_strings(event, assignments, sub_type)
            message_id = self.deliver(sub, events[key], age_s)
            if message_id is not None:
                message_ids.append(message_id)
        return message_ids

    async def trigger(
        self,
        sub_type: str,
        version: str | None = None,
        event: Mapping[str, Any] | None = None,
        count: int = 1,
        rate: float | None = None,
        condition: Mapping[str, str] | None = None,
        assignments: Mapping[str, str] | None = None,
        age_s: float = 0.0,
        broadcaster_user_id: str | None = None,
    ) -> dict[str, Any]:
        """Fire `count` events, `rate` per second (None: all at once); `broadcaster_user_id`
        keeps only the subscriptions about that channel (whichever condition field names it)."""
        version = checked_version(
            sub_type, version, count, rate, condition, event, assignments, self.directory.person
        )
        message_ids: list[str] = []
        for index in range(count):
            if rate is not None and index:
                await asyncio.sleep(1 / rate)
            message_ids += self.deliver_once(
                sub_type, version, condition, event or {}, assignments or {}, age_s,
                broadcaster_user_id,
            )  # fmt: skip
        return {"delivered": len(message_ids), "message_ids": message_ids}

    def duplicate(self, session_id: str | None, message_id: str | None) -> dict[str, Any]:
        """Send a notification again with the same message id, on the session now holding it
        (or to the webhook it was POSTed to)."""
        webhook_id = None if session_id else message_id or self.last_message_id
        if webhook_id is not None and self.webhooks.resend(webhook_id) is not None:
            return {"delivered": 1, "message_ids": [webhook_id], "session_id": None}
        sessions = [self.session(session_id)] if session_id else list(self.sessions.values())
        for session in sessions:
            for sent_id, text in reversed(session.recent):
                if message_id in (None, sent_id):
                    target = session
                    while target.successor_id is not None:
                        target = self.sessions[target.successor_id]
                    if not target.send(text):
                        raise ControlError(409, f"session {target.id} cannot receive messages now")
                    return {"delivered": 1, "message_ids": [sent_id], "session_id": target.id}
        raise ControlError(404, "no notification to duplicate; trigger one first")

    def revoke_subscription(self, sub_id: str, status: str) -> dict[str, Any]:
        if status not in REVOCATION_STATUSES:
            raise ControlError(400, f"status must be one of {', '.join(REVOCATION_STATUSES)}")
        try:
            sub = self.subscriptions.revoke(sub_id, status)
        except KeyError:
            raise ControlError(404, f"no subscription {sub_id!r}") from None
        sent = self._send_for(sub, wire.revocation(sub.in_message()))
        return {"subscription": sub.public(), "delivered": sent}

    def revoke_user(self, user_id: str) -> dict[str, Any]:
        """The user disconnects the app: see `user_revocation.revoke_authorization`."""
        return user_revocation.revoke_authorization(self, user_id)

    # -- conduits --------------------------------------------------------------------------

    def delete_conduit(self, client_id: str, conduit_id: str) -> None:
        """Delete Conduit: its subscriptions are disabled; its shards' sockets stay open."""
        conduit = self.conduits.delete(client_id, conduit_id)
        self.subscriptions.disable_conduit(conduit.id)
