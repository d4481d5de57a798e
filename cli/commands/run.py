"""`streamcore run`: serve the API, the event stream and the dashboard."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="run StreamCore (API, gateway, workers, fan-out)")
    parser.add_argument("--host", help="address to listen on (default STREAMCORE_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default STREAMCORE_PORT, 8000)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from app.factory import create_app
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
    uvicorn.run(
        app,
        host=settings.streamcore_host,
        port=settings.streamcore_port,
        log_config=None,
        # Frames up to the inbound limit reach the app, which answers oversize with 1008 (and
        # a reason); only frames far beyond it are cut off by uvicorn itself (1009).
        ws_max_size=max(65_536, settings.ws_inbound_max_bytes * 2),
    )
    return 0
