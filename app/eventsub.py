"""The parts of a replica that talk to Twitch's EventSub, for either transport.

- `websocket` (TWITCH_EVENTSUB_TRANSPORT's default): the coordinator runs the one gateway
  session with the user token; the other replicas stand by.
- `conduit`: the coordinator runs the `ConduitKeeper` (the conduit and its subscriptions, app
  token) and every running replica runs a `ShardPool` (its share of the shards, one session
  each), so a replica's death moves only its shards, and Twitch retries what they missed;
  with TWITCH_CONDUIT_SHARD_TRANSPORT=webhook the coordinator points every shard at the
  public callback instead, which every replica serves (nothing to take over).

`System.apply` decides *whether* to run (desired state, coordinator role); this module knows
*what* runs for each transport.
"""

from __future__ import annotations

from typing import Any

from app.cluster import ClusterNode
from bus import Bus
from cluster import Lease
from core.settings import Settings
from core.tasks import TaskSupervisor
from db_infrastructure import Store
from events.publisher import EventPublisher
from gateway.conduit import ConduitKeeper, SubscriptionKeeper
from gateway.coverage import Coverage
from gateway.options import GatewayOptions
from gateway.protocol import Revoked
from gateway.revocations import AuthorizationRevocations
from gateway.service import Gateway, WantedSource
from gateway.shards import SHARD_LEASE_SHARE, ShardPool, ShardUpkeep
from gateway.subscriptions import distinct_wanted, moderator_id_for
from gateway.upkeep import handle_revocation
from gateway.webhook_intake import WebhookIntake
from gateway.webhook_keeper import WebhookKeeper, callback_base
from gateway.webhook_shards import WebhookShards
from tokens.helix import HelixClient
from tokens.manager import TokenManager
from tokens.oauth import require_client_id
from tokens.webhook_secret import WebhookSecrets


class EventSubParts:
    def __init__(
        self,
        *,
        settings: Settings,
        bus: Bus,
        store: Store,
        tasks: TaskSupervisor,
        tokens: TokenManager,
        helix: HelixClient,
        app_helix: HelixClient,
        publisher: EventPublisher,
        wanted: WantedSource,
        cluster: ClusterNode,
        webhook: WebhookIntake | None = None,
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._store = store
        self._tasks = tasks
        self._tokens = tokens
        self._helix = helix
        self._app_helix = app_helix
        self._publisher = publisher
        #: Status events of the EventSub parts (a bus outage is logged, never raised).
        self._emit = publisher.emitter("gateway")
        self._wanted = wanted
        self._cluster = cluster
        #: The webhook callback's intake (webhook transport; every replica serves it).
        self.webhook = webhook
        self.transport = settings.twitch_eventsub_transport
        self.gateway: Gateway | None = None
        #: The coordinator's subscriptions on a conduit or a webhook callback.
        self.keeper: SubscriptionKeeper | None = None
        self.shards: ShardPool | None = None

    def build_gateway(self) -> Gateway:
        """The WebSocket-transport gateway (not started)."""
        return Gateway(
            self._settings,
            self._bus,
            self._tokens,
            self._helix,
            self._publisher,
            self._wanted,
            may_act=lambda: self._cluster.is_coordinator,
        )

    async def apply(self, running: bool, coordinate: bool, *, requested: bool) -> None:
        """Run what this replica should: `running` (desired state), `coordinate` (holds the
        coordinator lease); `requested`: a stop is the user's wish (no gap to announce)."""
        if self.transport == "websocket":
            if self.gateway is not None and not coordinate:
                await self._stop_gateway(requested=requested)
            if coordinate and self.gateway is None:
                self.gateway = self.build_gateway()
                self._tasks.spawn("gateway", self.gateway.run())
            return
        if self.keeper is not None and not coordinate:
            self.keeper = None
            await self._tasks.cancel("gateway.keeper")
        if coordinate and self.keeper is None:
            self.keeper = self._build_keeper()
            self._tasks.spawn("gateway.keeper", self.keeper.run())
        if self._settings.receives_webhooks:
            return  # Twitch calls every replica's callback: no sessions to run
        if self.shards is not None and not running:
            self.shards = None
            await self._tasks.cancel("gateway.shards")
        if running and self.shards is None:
            self.shards = ShardPool(
                bus=self._bus,
                store=self._store,
                holder=self._cluster.holder,
                ttl_s=self._settings.streamcore_lease_s * SHARD_LEASE_SHARE,
                replicas=self._cluster.live_replicas,
                make_gateway=self._shard_gateway,
            )
            self._tasks.spawn("gateway.shards", self.shards.run())

    async def halt(self) -> None:
        """The coordinator lease is lost: stop acting at once (`apply` tidies up after)."""
        if self.gateway is not None:
            await self.gateway.stop()

    async def shutdown(self) -> None:
        await self.apply(running=False, coordinate=False, requested=False)

    def status(self, running: bool) -> dict[str, Any]:
        """The gateway section of GET /system/status, with the subscriptions."""
        if self.transport == "websocket":
            if self.gateway is not None:
                return {"transport": "websocket", **self.gateway.status()}
            state = "standby" if running else "stopped"
            reason = "another replica is the coordinator" if state == "standby" else None
            return {"transport": "websocket", "state": state, "reason": reason}
        keeper = self.keeper.status() if self.keeper is not None else {}
        subscriptions = self.keeper.book.public() if self.keeper is not None else []
        if self._settings.receives_webhooks:
            assert self.webhook is not None
            state = "stopped" if not running else "connected" if self.keeper else "standby"
            return {
                "transport": self.transport,
                "state": state,
                **keeper,
                **self.webhook.status(),
                "subscriptions": subscriptions,
            }
        shards = self.shards.status() if self.shards is not None else {}
        states = {shard["state"] for shard in shards.values()}
        if self.shards is None:
            state = "stopped"
        elif not shards:
            state = "standby"  # every shard is held by other replicas
        else:
            state = "connected" if states == {"connected"} else "connecting"
        return {
            "transport": "conduit",
            "state": state,
            **keeper,
            "shards": shards,
            "shard_moves": {} if self.shards is None else self.shards.moves(),
            "subscriptions": subscriptions,
        }

    def subscriptions(self) -> list[dict[str, Any]]:
        """The subscriptions this replica keeps (the coordinator's; [] elsewhere)."""
        if self.keeper is not None:
            return self.keeper.book.public()
        if self.gateway is not None:
            subscriptions: list[dict[str, Any]] = self.gateway.upkeep.subscriptions()
            return subscriptions
        return []

    def holds(self) -> dict[str, Any]:
        return {
            "gateway": self.gateway.state if self.gateway is not None else None,
            "keeper": self.keeper is not None,
            "shards": sorted(self.shards.held, key=int) if self.shards is not None else [],
        }

    async def _stop_gateway(self, *, requested: bool) -> None:
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            await gateway.stop(requested=requested)
            await self._tasks.cancel("gateway")

    def _wanted_for(self, broadcaster_id: str) -> Any:
        """With an app token (conduit, webhook), a `moderator_user_id` condition may name the
        moderator account of the default channel: that user granted this client the scopes.
        TWITCH_MODERATOR_ID still wins when set."""
        configured = self._settings.twitch_moderator_id
        moderator = self._tokens.identities.cached("moderator")
        if not configured and moderator is not None and broadcaster_id == self._tokens.user_id:
            configured = moderator.user_id
        moderator_id = moderator_id_for(broadcaster_id, configured)
        return distinct_wanted(self._wanted(broadcaster_id, moderator_id))

    def _build_keeper(self) -> SubscriptionKeeper:
        parts: dict[str, Any] = {
            "store": self._store,
            "app_helix": self._app_helix,
            "tokens": self._tokens,
            "client_id": require_client_id(self._settings),
            "wanted": self._wanted_for,
            "emit": self._emit,
            "may_act": lambda: self._cluster.is_coordinator,
            "options": GatewayOptions.from_settings(self._settings),
            "revocations": AuthorizationRevocations(self._bus, self._tokens.channels, self._emit),
        }
        base = callback_base(
            self._settings.streamcore_public_url, self._settings.streamcore_eventsub_callback_path
        )
        if self.transport == "conduit":
            webhook_shards = None
            if self._settings.webhook_shards:
                assert self.webhook is not None
                webhook_shards = WebhookShards(
                    self._app_helix,
                    base,
                    self.webhook.secret,
                    parts["may_act"],
                    refresh=self.webhook.refresh_secret,
                )
            return ConduitKeeper(
                shard_count=self._settings.streamcore_shards,
                webhook_shards=webhook_shards,
                **parts,
            )
        assert self.webhook is not None
        secrets = WebhookSecrets(self._settings, self._store)
        return WebhookKeeper(
            base=base,
            secret=self.webhook.secret,
            secrets=secrets,
            refresh=self.webhook.refresh_secret,
            **parts,
        )

    def _shard_gateway(self, conduit_id: str, shard_id: str, lease: Lease) -> Gateway:
        def may_act() -> bool:
            return lease.held

        async def revoked(action: Revoked) -> None:
            await handle_revocation(action, self._emit, self._tokens)

        async def shard_disabled(event: dict[str, Any]) -> None:
            if self.shards is not None:
                await self.shards.shard_disabled(event)

        upkeep = ShardUpkeep(
            self._app_helix,
            conduit_id,
            shard_id,
            revoked,
            may_act,
            shard_disabled,
            Coverage(self._bus, f"shard:{conduit_id}:{shard_id}"),
            self._emit,
        )
        return Gateway(
            self._settings,
            self._bus,
            self._tokens,
            self._app_helix,
            self._publisher,
            self._wanted,
            may_act=may_act,
            upkeep=upkeep,
        )


__all__ = ["EventSubParts"]
