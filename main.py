"""StreamCore's ASGI entry point: `uvicorn main:app` or `fastapi run main.py`.

Settings are read here, once; an invalid one ends start-up with a single line naming it.
"""

from __future__ import annotations

import sys

from fastapi import FastAPI

from app.factory import create_app
from core.errors import ConfigError
from core.logging import configure_logging
from core.settings import load_settings


def _app_from_environment() -> FastAPI:
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"streamcore: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.streamcore_log_level, settings.streamcore_log_format)
    return create_app(settings)


app = _app_from_environment()
