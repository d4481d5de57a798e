"""`streamcore run`: serve the API, the event stream and the dashboard.

`uvicorn_options(settings)` is how StreamCore configures uvicorn; the tests that must serve
exactly like `streamcore run` build their server from it too.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.settings import Settings


@functools.cache
def websocket_protocol() -> type[asyncio.Protocol]:
    """uvicorn's websockets-sansio protocol, made to answer every handshake it refuses.

    It is the leanest of uvicorn's WebSocket implementations per idle client, which is why
    StreamCore serves `/ws/events` with it. websockets refuses a request line over 8 KB (414)
    or header lines too long or too many (431) while parsing the handshake and queues that
    answer, but uvicorn (0.54) writes output only for a handshake that parsed: the client
    waited forever and the socket was never closed. This subclass writes the queued answer and
    closes the socket. It keeps uvicorn's class name because events/session.py recognises the
    implementation by it. Built on first use, so other commands do not import uvicorn.
    """
    from uvicorn.protocols.websockets.websockets_sansio_impl import (
        WebSocketsSansIOProtocol as UvicornSansIO,
    )

    class WebSocketsSansIOProtocol(UvicornSansIO):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if (
                not self.handshake_initiated
                and self.conn.handshake_exc is not None
                and not self.transport.is_closing()
            ):
                self.transport.write(b"".join(self.conn.data_to_send()))
                self.transport.close()

    return WebSocketsSansIOProtocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.run / uvicorn.Config keyword arguments for serving StreamCore."""
    return {
        "host": settings.streamcore_host,
        "port": settings.streamcore_port,
        "log_config": None,
        # Frames up to the inbound limit reach the app, which answers oversize with 1008 (and
        # a reason); only frames far beyond it are cut off by uvicorn itself (1009).
        "ws_max_size": max(65_536, settings.ws_inbound_max_bytes * 2),
        # uvicorn negotiates permessage-deflate with every client that offers it (browsers
        # always do), and its zlib state roughly triples an idle client's memory, while the
        # fan-out writes every event pre-framed and uncompressed anyway (events/clients.py).
        "ws_per_message_deflate": settings.ws_compression,
        "ws": websocket_protocol(),
    }


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="run StreamCore (API, gateway, workers, fan-out)")
    parser.add_argument("--host", help="address to listen on (default STREAMCORE_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default STREAMCORE_PORT, 8000)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from app.factory import create_app
    from app.instance import announce, local_url
    from core.logging import configure_logging
    from core.settings import load_settings

    overrides: dict[str, object] = {}
    if args.host:
        overrides["streamcore_host"] = args.host
    if args.port:
        overrides["streamcore_port"] = args.port
    settings = load_settings(**overrides)
    configure_logging(settings.streamcore_log_level, settings.streamcore_log_format)
    app = create_app(settings)
    # The runtime file by which `streamcore status` and `keys` find this server.
    announce(app, local_url(settings.streamcore_host, settings.streamcore_port), "run")
    uvicorn.run(app, **uvicorn_options(settings))
    return 0
