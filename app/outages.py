"""Backend outages at run time become HTTP 503 with a JSON reason, never a 500 traceback.

Redis or PostgreSQL going away while StreamCore runs is expected (a restart, an upgrade); a
request that needed it gets `503 {"error": "backend_unavailable", "message": ...}` and a
`Retry-After`, and the log gets one line naming the backend, instead of a traceback per request.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bus import BusUnavailable
from db_infrastructure import StoreUnavailable

__all__ = ["RETRY_AFTER_S", "answer_outages_with_503"]

logger = logging.getLogger("streamcore")

#: What a 503 suggests: the backends reconnect on their own within seconds once they are back.
RETRY_AFTER_S = 5


async def _unavailable(request: Request, error: Exception) -> JSONResponse:
    logger.warning("%s %s answered 503: %s", request.method, request.url.path, error)
    return JSONResponse(
        {"error": "backend_unavailable", "message": str(error)},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def answer_outages_with_503(app: FastAPI) -> None:
    app.add_exception_handler(StoreUnavailable, _unavailable)
    app.add_exception_handler(BusUnavailable, _unavailable)
