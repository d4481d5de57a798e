"""The same-run baseline of `bench/ingest.py --transport webhook`: the least a webhook receiver
can do and still be correct about the signature and durability.

A bare Starlette app with one route, `POST /eventsub/callback`: it checks Twitch's signature
(`sha256=` HMAC-SHA256 over message id + timestamp + raw body, with the same secret, compared in
constant time; 403 on a mismatch), XADDs the message id and the raw body to
`eventsub:channel.follow` on the same Redis (same kind of connection pool as StreamCore's bus),
and answers 204 once Redis has the entry. No Host check, no staleness check, no JSON parsing,
no de-duplication. Served by uvicorn like `streamcore run` serves StreamCore (one process, the
same event loop and HTTP parser, no log configuration).

    python bench/webhook_baseline.py --port 8001 --redis-url redis://127.0.0.1:7001/0 \
        --secret s3cret
"""

from __future__ import annotations

import argparse
import hashlib
import hmac

import redis.asyncio as aioredis
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STREAM = "eventsub:channel.follow"


def build(redis_url: str, secret: str, maxlen: int) -> Starlette:
    pool = aioredis.BlockingConnectionPool.from_url(
        redis_url, max_connections=100, timeout=5.0, decode_responses=True
    )
    client = aioredis.Redis.from_pool(pool)
    key = secret.encode()

    async def callback(request: Request) -> Response:
        body = await request.body()
        headers = request.headers
        message_id = headers.get("twitch-eventsub-message-id", "")
        timestamp = headers.get("twitch-eventsub-message-timestamp", "")
        given = headers.get("twitch-eventsub-message-signature", "")
        signed = message_id.encode() + timestamp.encode() + body
        expected = "sha256=" + hmac.new(key, signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), given.encode()):
            return Response(b'{"error":"bad_signature"}', 403, media_type="application/json")
        await client.execute_command(
            "XADD", STREAM, "MAXLEN", "~", maxlen, "*", "message_id", message_id, "payload", body
        )
        return Response(status_code=204)

    return Starlette(routes=[Route("/eventsub/callback", callback, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--maxlen", type=int, default=1_000_000)
    args = parser.parse_args()
    app = build(args.redis_url, args.secret, args.maxlen)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None)


if __name__ == "__main__":
    main()
