"""The Gateway: runs the EventSub WebSocket session(s) and hands every notification off.

`await gateway.run()` until cancelled (spawn it through a TaskSupervisor); `await gateway.stop()`
closes the socket politely; `gateway.status()` is what `GET /system/status` shows. The protocol
decisions come from `gateway.protocol` (pure); this module only carries them out: sockets,
timers, Helix calls (through `gateway.subscriptions`) and the durable hand-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode, urlsplit

from bus import Bus, BusUnavailable
from core.backoff import Backoff
from core.settings import Settings
from core.tasks import cancel_and_wait
from core.timestamps import iso_utc
from events.publisher import EventPublisher
from gateway.connection import FRAME_QUEUE_SIZE, Closed, Frame, Opened, Socket, open_or_error
from gateway.constants import SHARD_DISABLED
from gateway.coverage import Coverage
from gateway.handoff import Handoff
from gateway.loop_items import NothingSubscribed, SessionEnd, SessionQueue, Spawn, WatchdogFired
from gateway.options import GatewayOptions
from gateway.protocol import (
    Action,
    CloseSocket,
    Deliver,
    Drop,
    GatewayProtocol,
    Notification,
    OpenSuccessor,
    Restart,
    Revoked,
    Subscribe,
    Welcomed,
)
from gateway.subscriptions import SubscriptionBook, Wanted, distinct_wanted, moderator_id_for
from gateway.upkeep import SessionUpkeep, Upkeep, log_drop
from tokens.helix import HelixClient
from tokens.manager import TokenManager

logger = logging.getLogger("streamcore.gateway")

#: (broadcaster_id, moderator_id) -> the subscriptions wanted, as declared
#: ({"type", "version", "condition"}); repeats are merged here.
WantedSource = Callable[[str, str], list[dict[str, Any]]]


#: Most notifications appended in one round trip. A batch only forms while frames wait in
#: the queue (a burst); at a trickle each frame is appended on its own, at once.
HANDOFF_BATCH = 256

#: How long a stop waits for the session to append the frames it already received.
STOP_DRAIN_S = 5.0


class Gateway:
    """See the module docstring. Counters are plain attributes for /metrics."""

    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        tokens: TokenManager,
        helix: HelixClient,
        publisher: EventPublisher,
        wanted: WantedSource,
        *,
        options: GatewayOptions | None = None,
        may_act: Callable[[], bool] = lambda: True,
        upkeep: SessionUpkeep | None = None,
    ) -> None:
        self._settings = settings
        #: False once this replica is no longer sure to be the coordinator: no Helix change
        #: is made then (the lease's fencing; see app/cluster.py).
        self._may_act = may_act
        coverage = Coverage(bus)
        self._tokens = tokens
        self._publisher = publisher
        self._wanted = wanted
        self.options = options or GatewayOptions.from_settings(settings)
        self.handoff = Handoff(bus, self.options.stream_maxlen)
        self.subscriptions = SubscriptionBook(helix)
        #: What each session does besides reading: subscribe (this session's own WebSocket
        #: subscriptions by default; a conduit shard's assignment otherwise) and keep it so.
        self.upkeep: SessionUpkeep = upkeep or Upkeep(
            self.subscriptions, tokens, self.wanted, coverage, self.options, self._emit, may_act
        )
        self.protocol = self._new_protocol()
        self.state = "stopped"
        self.reason: str | None = None
        self.received: Counter[str] = Counter()
        self.deduplicated: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.reconnects: Counter[str] = Counter()
        self.revocations: Counter[str] = Counter()
        #: Planned moves to a new session (Twitch's session_reconnect), which are no outage.
        self.handovers = 0
        #: The session the last `system.gateway` event named, so each move is announced.
        self._announced_session: str | None = None
        #: Set by `stop`: ends any pause of `run` at once, so a stop never waits out a back-off.
        self._stopping = asyncio.Event()
        self._sockets: dict[int, Socket] = {}
        self._stop_requested = False
        self._next_socket_id = 0
        self._task: asyncio.Task[Any] | None = None
        self._subscribed = False

    def __repr__(self) -> str:
        return f"Gateway(state={self.state!r}, session_id={self.protocol.session_id!r})"

    def _new_protocol(self) -> GatewayProtocol:
        return GatewayProtocol(
            keepalive_margin_s=self.options.keepalive_margin_s,
            welcome_timeout_s=self.options.welcome_timeout_s,
        )

    # -- what callers read ---------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """State, session, ages, per-subscription status and counters (no secrets)."""
        now = time.monotonic()
        last = self.protocol.last_message_at
        since = self.protocol.connected_since
        return {
            "state": self.state,
            "reason": self.reason,
            "session_id": self.protocol.session_id,
            "connected_since": iso_utc(since),
            "connection_age_s": None if since is None else round(time.time() - since, 1),
            "last_message_age_s": None if last is None else round(now - last, 1),
            "subscriptions": self.upkeep.subscriptions(),
            "received": dict(self.received),
            "deduplicated": dict(self.deduplicated),
            "dropped": dict(self.dropped),
            "reconnects": dict(self.reconnects),
            "revocations": dict(self.revocations),
            "handovers": self.handovers,
            "repairs": self.upkeep.repairs,
            "bus_retries": self.handoff.bus_retries,
        }

    def wanted(self, broadcaster_id: str) -> list[Wanted]:
        moderator_id = moderator_id_for(broadcaster_id, self._settings.twitch_moderator_id)
        return distinct_wanted(self._wanted(broadcaster_id, moderator_id))

    # -- life ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, subscribe, hand off, reconnect, until cancelled or stopped."""
        self._task = asyncio.current_task()
        backoff = Backoff(self.options.reconnect_base_s, self.options.reconnect_cap_s)
        try:
            while not self._stop_requested:
                blocked = await self.upkeep.blocked()
                if blocked is not None:
                    await self._set_state("disconnected", blocked)
                    await self._pause(backoff.next_delay())
                    continue
                try:
                    end = await self._session()
                except Exception as error:  # a bug or an unexpected backend error: heal anyway
                    logger.exception("EventSub session failed unexpectedly")
                    end = SessionEnd(f"internal error: {type(error).__name__}", "internal_error")
                if self._stop_requested:
                    break  # a requested stop is not a lost connection: nothing to retry
                self.reconnects[end.label] += 1
                if end.healthy:
                    backoff.reset()
                delay = backoff.next_delay()
                log = logger.error if end.is_error else logger.warning
                log("EventSub connection ended: %s; reconnecting in %.1f s", end.reason, delay)
                await self._set_state("reconnecting", end.reason, retry_in_s=round(delay, 1))
                await self._pause(delay)
        finally:
            self.state = "stopped"
            await self._close_all("gateway stopped")

    async def stop(self, *, requested: bool = False) -> None:
        """Close the socket politely and end `run` (even one that has not begun yet).

        `requested`: the system is being stopped on purpose, so the time until the next start
        is no gap to announce (a crash, a restart or a takeover is)."""
        self._stop_requested = True
        self._stopping.set()
        task, self._task = self._task, None
        # Closing the sockets makes each pump queue its remaining frames, then Closed; the
        # session appends those frames before it returns, so a stop loses nothing received.
        await self._close_all("gateway stopping")
        if task is not None and task is not asyncio.current_task() and not task.done():
            await asyncio.wait({task}, timeout=STOP_DRAIN_S)
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        self.state, self.reason = "stopped", "stopped"
        await self.upkeep.stopped(requested)
        await self._emit("system.gateway", {"state": "disconnected", "reason": "stopped"})

    def _url(self) -> str:
        url = self._settings.twitch_eventsub_ws_url
        if self.options.keepalive_timeout_s:
            joiner = "&" if urlsplit(url).query else "?"
            url += joiner + urlencode(
                {"keepalive_timeout_seconds": self.options.keepalive_timeout_s}
            )
        return url

    async def _session(self) -> SessionEnd:
        """One session, through any number of session_reconnects, until it must restart."""
        self.protocol = self._new_protocol()
        queue: SessionQueue = asyncio.Queue(FRAME_QUEUE_SIZE)
        helpers: set[asyncio.Task[Any]] = set()
        self._subscribed = False

        def spawn(coroutine: Coroutine[Any, Any, None]) -> None:
            task = asyncio.create_task(coroutine)
            helpers.add(task)
            task.add_done_callback(helpers.discard)

        await self._set_state("connecting", None)
        opened = await self._open(self._url())
        if opened.socket is None:
            return SessionEnd(f"cannot connect: {opened.error}", "connect_failed", False)
        try:
            self._register(opened.socket, queue, spawn)
            spawn(self._watchdog(queue))
            return await self._read(queue, spawn)
        finally:
            # Cancelled until done, not once: a Redis command in flight can swallow one
            # CancelledError, and the helper would then run on and hold the stop up.
            ending = list(helpers)
            await asyncio.gather(*(cancel_and_wait(task) for task in ending))
            await asyncio.gather(*ending, return_exceptions=True)  # all done: collects errors
            while not queue.empty():  # a successor socket opened but never taken: close it
                item = queue.get_nowait()
                if isinstance(item, Opened) and item.socket is not None:
                    await item.socket.close(1000, "session ended")
            await self._close_all("reconnecting")
            self.upkeep.session_lost()

    async def _read(self, queue: SessionQueue, spawn: Spawn) -> SessionEnd:
        """The session's loop: one item at a time, in arrival order, until the session ends."""
        #: Notifications parsed but not yet appended; flushed before any other action and
        #: whenever no further frame is waiting, so nothing lingers (see `_flush`).
        pending: list[Notification] = []
        #: When the newest frame arrived; coverage reaches it once nothing is pending (a
        #: notification not yet appended would be lost with this process).
        received_at: float | None = None
        while True:
            if pending and queue.empty():
                await self._flush(pending)  # nothing more waiting: hand the batch off now
            if received_at is not None and not pending and self._subscribed:
                self.upkeep.received(received_at, spawn)
                received_at = None
            item = await queue.get()
            if not isinstance(item, Frame):
                await self._flush(pending)  # keep every other event after earlier frames
                if self._stop_requested:
                    return SessionEnd("stopped", "stopped", healthy=True)
            match item:
                case Frame(socket_id=socket_id, text=text):
                    received_at = time.time()
                    actions = self.protocol.receive(socket_id, text, time.monotonic(), received_at)
                case Closed(socket_id=socket_id, code=code):
                    self._sockets.pop(socket_id, None)
                    actions = self.protocol.socket_closed(socket_id, code)
                case Opened(socket=None, error=error):
                    reason = f"cannot open reconnect_url: {error}"
                    return SessionEnd(reason, "reconnect_failed", self._subscribed)
                case Opened(socket=Socket() as sock):
                    self._register(sock, queue, spawn)
                    continue
                case NothingSubscribed():
                    return SessionEnd("no subscription could be created", "nothing_subscribed")
                case WatchdogFired():
                    actions = self.protocol.check(time.monotonic())
            end = await self._carry_out(actions, pending, queue, spawn)
            if end is not None:
                return end

    async def _carry_out(
        self,
        actions: list[Action],
        pending: list[Notification],
        queue: SessionQueue,
        spawn: Spawn,
    ) -> SessionEnd | None:
        """Do what the protocol decided, in order; a `SessionEnd` when the session must end."""
        for action in actions:
            if isinstance(action, Deliver):
                pending.append(action.notification)
                if len(pending) >= HANDOFF_BATCH:
                    await self._flush(pending)
                continue
            await self._flush(pending)
            match action:
                case Restart():
                    return SessionEnd.of(action, self._subscribed)
                case Subscribe(session_id=session_id):
                    spawn(self._subscribe(session_id, queue))
                case Welcomed(session_id=session_id, resubscribe=resubscribe):
                    if not resubscribe:
                        self.handovers += 1
                    reason = "subscribing" if resubscribe else "reconnected"
                    await self._set_state("connected", reason, session_id=session_id)
                case OpenSuccessor(url=url):
                    spawn(self._open_successor(url, queue))
                case CloseSocket(socket_id=socket_id):
                    sock = self._sockets.pop(socket_id, None)
                    if sock is not None:
                        spawn(sock.close(1000, "reconnected"))
                case Revoked():
                    self.revocations[action.status] += 1
                    await self.upkeep.revoked(action)
                case Drop():
                    self.dropped[action.label] += 1  # a validated type or a fixed reason
                    log_drop(action)
        return None

    def _register(self, sock: Socket, queue: SessionQueue, spawn: Spawn) -> None:
        self._sockets[sock.id] = sock
        self.protocol.socket_opened(sock.id, time.monotonic())
        spawn(sock.pump(queue.put))

    async def _open(self, url: str) -> Opened:
        self._next_socket_id += 1
        return await open_or_error(
            self._next_socket_id, url, self.options.max_frame_bytes, self.options.open_timeout_s
        )

    async def _open_successor(self, url: str, queue: SessionQueue) -> None:
        await queue.put(await self._open(url))

    async def _watchdog(self, queue: SessionQueue) -> None:
        """Wake the loop when the protocol's deadline passes (it decides what that means)."""
        while True:
            deadline = self.protocol.deadline()
            wait = 0.5 if deadline is None else max(0.05, deadline - time.monotonic())
            await asyncio.sleep(wait)
            if self.protocol.check(time.monotonic()):
                await queue.put(WatchdogFired())
                await asyncio.sleep(0.5)  # the loop acts on it; do not flood the queue

    async def _subscribe(self, session_id: str, queue: SessionQueue) -> None:
        if not self._may_act():
            return  # no longer the coordinator: the stop that follows ends this session
        if not await self.upkeep.subscribe(session_id):
            # Holding the socket would only end in 4003; leave and wait for a fix instead.
            await queue.put(NothingSubscribed())
            return
        # The previous session's coverage record is read before this one may write its own
        # (frames mark it once `_subscribed`): the other order could announce a gap of 0 s.
        await self.upkeep.announce_gap()
        self._subscribed = True  # a healthy session: the reconnect back-off resets
        await self._set_state("connected", "subscribed", session_id=session_id)
        await self.upkeep.keep_subscribed(session_id)

    async def _flush(self, pending: list[Notification]) -> None:
        """Append what is pending (in order, once each) before the loop reads on; empties it."""
        if not pending:
            return
        results = await self.handoff.deliver_many(pending)
        for notification, entry_id in zip(pending, results, strict=True):
            self.received[notification.subscription_type] += 1
            if entry_id is None:
                self.deduplicated[notification.subscription_type] += 1
            elif notification.subscription_type == SHARD_DISABLED:
                await self.upkeep.shard_disabled(notification.payload.get("event") or {})
        pending.clear()

    async def _close_all(self, reason: str) -> None:
        sockets, self._sockets = list(self._sockets.values()), {}
        await asyncio.gather(*(sock.close(1000, reason) for sock in sockets))

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless a stop is requested meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _set_state(self, state: str, reason: str | None, **extra: Any) -> None:
        session = extra.get("session_id", self._announced_session)
        changed = (state, reason, session) != (self.state, self.reason, self._announced_session)
        self.state, self.reason, self._announced_session = state, reason, session
        if changed:
            await self._emit("system.gateway", {"state": state, "reason": reason, **extra})

    async def _emit(self, name: str, data: dict[str, Any]) -> None:
        try:
            await self._publisher.publish(name, data, origin="gateway")
        except BusUnavailable as error:
            logger.warning("Could not emit %s (%s)", name, error)
