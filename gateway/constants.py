"""Names the gateway's modules share."""

from __future__ import annotations

#: The EventSub type Twitch sends when a conduit shard goes down
#: (https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/#conduitsharddisabled).
SHARD_DISABLED = "conduit.shard.disabled"
#: Bus channel on which a replica passes a shard-disabled notification to every replica: it
#: reaches one shard session only, but the replica holding that shard must act on it.
SHARD_DISABLED_CHANNEL = "streamcore:cluster:shard_disabled"
