"""The process's action runner: one bound instance of every worker that declares actions.

Actions run where they are called (the replica that got the HTTP request or the WebSocket
frame), whether or not the system is started: sending a chat message needs a token, not the
EventSub session. Each instance has the same toolkit as the worker's event handler (its state,
settings, Helix clients per channel), so an action and `handle` see the same `self.state`.
Who may call what is the routes' business (app.routes.actions, events.session).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from db_infrastructure import Store
from events.publisher import EventPublisher
from tokens.channel_tokens import ChannelClients
from tokens.errors import TokenError
from tokens.helix import HelixClient
from tokens.manager import TokenManager
from worker_runtime.actions import ActionRunner
from worker_runtime.discovery import Discovery
from worker_runtime.toolkit import StoredState
from workers.actions import actions_of
from workers.base import BaseWorker, WorkerConfig, WorkerToolkit


def build_action_runner(
    *,
    discovery: Discovery,
    store: Store,
    publisher: EventPublisher,
    tokens: TokenManager,
    helix: HelixClient,
    channels: ChannelClients,
    environ: Mapping[str, str],
) -> ActionRunner:
    workers: list[BaseWorker] = []
    for cls in discovery.workers:
        if not actions_of(cls):
            continue
        worker = cls()
        worker.bind(
            WorkerToolkit(
                publisher=publisher,
                state=StoredState(store, cls.name, channels.default_id),
                config=WorkerConfig.for_worker(cls.name, environ),
                logger=logging.getLogger(f"streamcore.workers.{cls.name}"),
                twitch=helix,
                channels=channels,
            )
        )
        workers.append(worker)

    async def auth_link(extra_scopes: list[str]) -> str | None:
        try:
            link = await tokens.auth_link(extra_scopes=extra_scopes)
        except TokenError:
            return None
        url: str = link["auth_url"]
        return url

    def account_scopes(role: str) -> list[str] | None:
        identity = tokens.identities.cached(role)
        return identity.scopes if identity is not None else None

    return ActionRunner(workers, lambda: tokens.scopes, auth_link, account_scopes)
