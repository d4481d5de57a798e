"""Run the simulator in-process: `async with run_simulator(**options) as sim: ...`.

Used by tests, `streamcore simulate` and demo mode. The server binds a free port on 127.0.0.1
unless told otherwise, and every URL StreamCore needs is on the returned RunningSimulator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import uvicorn

from simulator.app import create_app, uvicorn_config
from simulator.config import SimulatorConfig
from simulator.errors import SimulatorError
from simulator.state import SimulatorState
from simulator.users import SimUser

__all__ = ["RunningSimulator", "run_simulator"]

#: How long start-up and shutdown may take before we give up (a loaded CI box is slow).
STARTUP_TIMEOUT_S = 15.0
SHUTDOWN_TIMEOUT_S = 10.0


@dataclass
class RunningSimulator:
    """A simulator being served; URLs point at it, `state` is its live in-process state."""

    host: str
    port: int
    state: SimulatorState
    server: uvicorn.Server
    serve_task: asyncio.Task[None]

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def auth_url(self) -> str:
        return self.http_url + "/oauth2"

    @property
    def api_url(self) -> str:
        return self.http_url + "/helix"

    @property
    def control_url(self) -> str:
        return self.http_url + "/control"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def client_id(self) -> str:
        return self.state.config.client_id

    @property
    def client_secret(self) -> str:
        return self.state.config.client_secret

    @property
    def redirect_uri(self) -> str:
        return self.state.config.redirect_uri

    @property
    def users(self) -> dict[str, SimUser]:
        return self.state.users

    def env(self) -> dict[str, str]:
        """The TWITCH_* settings that point StreamCore at this simulator."""
        return {
            "TWITCH_CLIENT_ID": self.client_id,
            "TWITCH_CLIENT_SECRET": self.client_secret,
            "TWITCH_AUTH_URL": self.auth_url,
            "TWITCH_API_URL": self.api_url,
            "TWITCH_EVENTSUB_WS_URL": self.ws_url,
            "TWITCH_REDIRECT_URI": self.redirect_uri,
        }

    async def issue_token(
        self,
        user: str = "broadcaster",
        scopes: list[str] | None = None,
        expires_in: float | None = None,
    ) -> dict[str, Any]:
        """A user token minted directly (no browser dance) for any user: a role, a user id or a
        login (synthetic users too); Twitch's token response body."""
        return self.state.issue_token(user, scopes, expires_in)

    async def issue_app_token(self) -> dict[str, Any]:
        """An app access token (the client-credentials grant); Twitch's token response body."""
        return self.state.oauth.issue_app_token(self.client_id, self.client_secret)

    async def trigger(
        self,
        sub_type: str,
        event: Mapping[str, Any] | None = None,
        count: int = 1,
        rate: float | None = None,
        *,
        version: str | None = None,
        condition: Mapping[str, str] | None = None,
        broadcaster_user_id: str | None = None,
    ) -> dict[str, Any]:
        """Fire events at matching subscriptions (only those about `broadcaster_user_id`, when
        given); {"delivered": n, "message_ids": [...]}."""
        return await self.state.trigger(
            sub_type, version, event, count, rate, condition,
            broadcaster_user_id=broadcaster_user_id,
        )  # fmt: skip

    async def wait_stopped(self) -> None:
        """Return when the server stops (Ctrl-C under `streamcore simulate`)."""
        await asyncio.shield(self.serve_task)


def _config(options: dict[str, Any]) -> SimulatorConfig:
    redirect_uri = options.pop("redirect_uri", None)
    config = SimulatorConfig(**options)
    if redirect_uri is not None and redirect_uri != config.redirect_uri:
        config.extra_redirect_uris.append(config.redirect_uri)
        config.redirect_uri = redirect_uri
    # Each URI once, the primary one first (it is what `env()` and the root page show).
    config.extra_redirect_uris = [
        uri for uri in dict.fromkeys(config.extra_redirect_uris) if uri != config.redirect_uri
    ]
    return config


@contextlib.asynccontextmanager
async def run_simulator(
    host: str = "127.0.0.1", port: int = 0, access_log: bool = False, **options: Any
) -> AsyncIterator[RunningSimulator]:
    """Serve a fresh simulator until the block ends. `options` are SimulatorConfig fields."""
    state = SimulatorState(_config(options))
    server = uvicorn.Server(uvicorn_config(create_app(state), state, host, port, access_log))
    serve_task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            while not server.started:
                if serve_task.done():
                    serve_task.result()
                    raise SimulatorError(f"the simulator could not listen on {host}:{port}")
                await asyncio.sleep(0.01)
        bound_port = server.servers[0].sockets[0].getsockname()[1]
        yield RunningSimulator(host, bound_port, state, server, serve_task)
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(serve_task), SHUTDOWN_TIMEOUT_S)
        except TimeoutError:
            server.force_exit = True
            await asyncio.wait_for(serve_task, SHUTDOWN_TIMEOUT_S)
        except SystemExit:
            raise SimulatorError(f"the simulator could not listen on {host}:{port}") from None
