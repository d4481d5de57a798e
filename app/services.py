"""The one place where StreamCore's parts are wired: `open_services(settings)`.

`main.py` (through the lifespan), every CLI command that needs a running part, the tests and
the benchmarks build their services here, so a part is constructed one way only. Leaving the
context stops every task it spawned and closes every client, in the reverse order of opening.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx

from app.actions import build_action_runner
from app.cluster import ClusterNode, open_cluster_node
from app.system import System
from bus import Bus, create_bus
from cluster import DataDirLock
from core.errors import BackendUnavailable
from core.loopwatch import LoopWatch
from core.settings import Settings
from core.tasks import TaskSupervisor
from db_infrastructure import Store, create_store
from events.broadcaster import Broadcaster
from events.constants import CLOSE_RESTART
from events.keys import ClientKeys
from events.publisher import EventPublisher
from events.raw import RawEventWrapper
from gateway.webhook_intake import WebhookIntake
from tokens.app_token import AppTokens
from tokens.channel_tokens import ChannelClients
from tokens.constants import HTTP_TIMEOUT_S
from tokens.helix import HelixClient
from tokens.manager import TokenManager
from tokens.webhook_secret import WebhookSecrets
from worker_runtime.actions import ActionRunner
from worker_runtime.discovery import Discovery, discover_workers

__all__ = ["Services", "open_backends", "open_services"]

logger = logging.getLogger("streamcore")

#: Pause between two connection attempts while STREAMCORE_STARTUP_WAIT_S lasts.
STARTUP_RETRY_S = 1.0


@dataclass
class Services:
    """Everything one StreamCore process shares; routes reach it through `app.deps`."""

    settings: Settings
    bus: Bus
    store: Store
    tasks: TaskSupervisor
    http: httpx.AsyncClient
    tokens: TokenManager
    helix: HelixClient
    discovery: Discovery
    publisher: EventPublisher
    #: Starts and stops the gateway and the workers (POST /system/start and /system/stop).
    system: System
    #: This replica's id, heartbeat and role (coordinator or not).
    cluster: ClusterNode
    #: The webhook callback's intake (webhook transport or webhook conduit shards), else None.
    webhook: WebhookIntake | None
    #: Event-loop stalls (a blocking worker): detected, attributed and counted.
    loop_watch: LoopWatch
    #: The fan-out of WS /ws/events; None in processes that serve no clients (`workers run`).
    broadcaster: Broadcaster | None = None
    worker_environ: Mapping[str, str] = field(default_factory=dict)
    #: The workers' actions (POST /actions/{name}, {"op": "call"} on /ws/events).
    actions: ActionRunner | None = None


async def _connect_patiently(
    connect: Callable[[], Awaitable[None]], what: str, wait_s: float
) -> None:
    """Connect, retrying for up to `wait_s` seconds with a progress line per attempt (services
    started together, as by compose or systemd, come up in any order)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    attempt = 0
    while True:
        try:
            await connect()
            return
        except BackendUnavailable as error:
            left = deadline - loop.time()
            if left <= 0:
                raise
            attempt += 1
            logger.info("Waiting for %s (attempt %d, %.0f s left): %s", what, attempt, left, error)
            await asyncio.sleep(min(STARTUP_RETRY_S, left))


def _log_backends(settings: Settings, bus: Bus, store: Store) -> None:
    if bus.name == "memory":
        logger.info(
            "Bus: in-process (embedded default; events stay inside this process). "
            "Set REDIS_URL=redis://host:6379/0 to use Redis."
        )
    else:
        logger.info("Bus: Redis")
    if store.name == "sqlite":
        logger.info(
            "Store: SQLite at %s (embedded default). Set DATABASE_URL=postgresql://... "
            "to use PostgreSQL.",
            settings.sqlite_path,
        )
    else:
        logger.info("Store: PostgreSQL")


def _scopes_for(settings: Settings, discovery: Discovery) -> Callable[[], list[str]]:
    """The scopes to ask the broadcaster for: the workers', plus, for chat with an app token,
    `user:bot` and `channel:bot`: Twitch requires them for chat subscriptions with an app
    token (https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/#channelchatmessage)."""

    def required() -> list[str]:
        scopes = discovery.required_scopes()
        if settings.twitch_eventsub_transport != "websocket":  # an app token subscribes
            types = {sub["type"] for sub in discovery.wanted_subscriptions("0", "0")}
            if any(t.startswith("channel.chat") for t in types):
                scopes = sorted({*scopes, "user:bot", "channel:bot"})
        return scopes

    return required


@asynccontextmanager
async def open_backends(settings: Settings) -> AsyncIterator[tuple[Bus, Store]]:
    """The bus and the store, connected (waiting up to STREAMCORE_STARTUP_WAIT_S for each);
    for commands that only read or write data, and the first step of `open_services`."""
    bus = create_bus(settings.redis_dsn, settings.redis_max_connections)
    store = create_store(settings)
    async with AsyncExitStack() as stack:
        wait_s = settings.streamcore_startup_wait_s
        await _connect_patiently(bus.connect, "Redis", wait_s)
        stack.push_async_callback(bus.close)
        await _connect_patiently(store.connect, "the database", wait_s)
        stack.push_async_callback(store.close)
        yield bus, store


@asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    worker_environ: Mapping[str, str] | None = None,
    fanout: bool = True,
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Services]:
    """Discover the workers, connect the bus and the store, and build every part.

    `worker_environ` holds the WORKER_* variables (read once by the caller, at the edge);
    `fanout=False` leaves out the WS /ws/events broadcaster (a process that only runs
    workers); `http_transport` replaces the network under every call to Twitch (benchmarks).
    Raises a StreamCoreError with a one-line message when a backend stays unreachable.
    """
    # Discovery imports every module in workers/ once; a duplicate name stops start-up.
    discovery = discover_workers()
    discovery.check()
    async with AsyncExitStack() as stack:
        if not settings.redis_dsn:
            # The embedded backends are this process's own: refuse a second one before it
            # opens anything.
            lock = DataDirLock(settings.streamcore_data_dir)
            lock.acquire()
            stack.callback(lock.release)
        bus, store = await stack.enter_async_context(open_backends(settings))
        _log_backends(settings, bus, store)
        cluster = await open_cluster_node(settings, bus)
        logger.info("Replica id: %s", cluster.replica_id)
        stack.push_async_callback(cluster.leave)
        tasks = await stack.enter_async_context(TaskSupervisor())
        loop_watch = LoopWatch()
        tasks.spawn("loop.watch", loop_watch.run())
        publisher = EventPublisher(bus, settings.events_retention_count)
        broadcaster = None
        if fanout:
            # The fan-out runs from start-up, independent of /system/start: clients may
            # connect and replay before the system starts.
            broadcaster = Broadcaster(
                bus,
                settings.events_retention_count,
                settings.events_retention_seconds,
                settings.ws_replay_concurrency,
            )
            tasks.spawn("events.broadcaster", broadcaster.run())
            tasks.spawn("events.key_revocations", broadcaster.run_revocations())
            # Raw PUBLISHes are wrapped once, by the coordinator (events/raw.py).
            raw = RawEventWrapper(
                bus, settings.events_retention_count, lambda: cluster.is_coordinator
            )
            broadcaster.raw = raw
            tasks.spawn("events.raw", raw.run())
            tasks.spawn(
                "events.key_recheck", broadcaster.recheck_keys(ClientKeys(store).active_ids)
            )
            tasks.spawn("events.retention", broadcaster.trim_retention())
            stack.callback(broadcaster.close_all, CLOSE_RESTART, "server restarting")
        # One HTTP client for every call to Twitch.
        http = await stack.enter_async_context(
            httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, transport=http_transport)
        )
        tokens = TokenManager(settings, store, bus, http, _scopes_for(settings, discovery))
        helix = HelixClient(settings, tokens, http)
        # Conduits and webhooks need the app's own token (client credentials).
        app_helix = HelixClient(settings, AppTokens(settings, http), http)
        webhook = None
        if settings.receives_webhooks:
            secrets = WebhookSecrets(settings, store)
            webhook = WebhookIntake(
                bus,
                tokens,
                publisher.emitter("gateway"),
                await secrets.load(),
                settings.streamcore_stream_maxlen,
                reload=secrets.stored,
            )
        await tokens.start()
        tasks.spawn("tokens.validation", tokens.run_validation_loop())
        # Stop validating before the HTTP client closes (the stack unwinds last-in first-out).
        stack.push_async_callback(tasks.cancel, "tokens.validation")
        environ = dict(worker_environ or {})
        channel_clients = ChannelClients(settings, tokens, bus, http)
        system = System(
            settings=settings,
            bus=bus,
            store=store,
            tasks=tasks,
            tokens=tokens,
            helix=helix,
            discovery=discovery,
            publisher=publisher,
            worker_environ=environ,
            cluster=cluster,
            app_helix=app_helix,
            webhook=webhook,
            channel_clients=channel_clients,
        )
        # Stopped gracefully before the clients above close; the leases and the heartbeat
        # end with the task supervisor, after it.
        stack.push_async_callback(system.shutdown)
        # A process without the fan-out only runs workers (`streamcore workers run`): it has an
        # id and a heartbeat, but never coordinates nor follows the desired state.
        cluster.follow(tasks, system.apply, system.halt_gateway, system.holds, coordinate=fanout)
        yield Services(
            settings=settings,
            bus=bus,
            store=store,
            tasks=tasks,
            http=http,
            tokens=tokens,
            helix=helix,
            discovery=discovery,
            publisher=publisher,
            system=system,
            cluster=cluster,
            webhook=webhook,
            loop_watch=loop_watch,
            broadcaster=broadcaster,
            worker_environ=environ,
            actions=build_action_runner(
                discovery=discovery,
                store=store,
                publisher=publisher,
                tokens=tokens,
                helix=helix,
                channels=channel_clients,
                environ=environ,
            ),
        )
