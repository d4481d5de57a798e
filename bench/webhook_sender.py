"""The load generator of `bench/ingest.py --transport webhook` (run as its own process).

Signed EventSub webhook POSTs, as Twitch sends them (bench/webhook_ingest.py says why the
simulator itself is not the generator): each carries a unique message id, the
`Twitch-Eventsub-*` headers and `sha256=` HMAC over id + timestamp + raw body with the shared
secret; the body is a real-shaped channel.follow notification made by the simulator's own
generators. `--connections` keep-alive HTTP/1.1 connections each send one request, wait for the
whole answer, and send the next (no pipelining). The client is a bare asyncio protocol on uvloop
with the request bytes built by string formatting, so one process costs a small fraction of
what the server spends on a request (`--sink` measures that ceiling: a bare asyncio server that
answers 204 at once, nothing else).

Every sender starts at `--start-at` (a Unix time, so several processes start together; with
`--sync` it connects, prints `ready` and reads that time from its standard input), sends
for `--warmup + --seconds`, then waits for its last answers. It prints (or writes to `--out`)
one JSON line: answers
in the measured window by status, latencies (seconds) of those, transport errors, and every 2xx
of the whole run (the bench compares that with the stream's length: an answered notification
must be stored).

    python bench/webhook_sender.py --port 8000 --secret s3cret --connections 32 --seconds 5
    python bench/webhook_sender.py --sink --port 8001
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator import wire  # noqa: E402
from simulator.events import generate_event  # noqa: E402
from simulator.webhook_wire import encode  # noqa: E402

BROADCASTER = "71092938"
PATH = "/eventsub/callback"
#: Longest wait for the answers still in flight when the sending time is over.
DRAIN_S = 10.0


def follow_body() -> bytes:
    """A channel.follow notification's webhook body (the WebSocket message's payload)."""
    condition = {"broadcaster_user_id": BROADCASTER, "moderator_user_id": BROADCASTER}
    subscription: dict[str, Any] = {
        "id": str(uuid.uuid4()), "status": "enabled", "type": "channel.follow", "version": "2",
        "cost": 0, "condition": condition,
        "transport": {"method": "webhook", "callback": "http://127.0.0.1/eventsub/callback"},
        "created_at": wire.rfc3339_nano(),
    }  # fmt: skip
    event = generate_event("channel.follow", "2", condition)
    return encode(wire.notification(subscription, event)["payload"])


class Requests:
    """Signed requests with unique message ids, built on demand (a few microseconds each)."""

    def __init__(self, port: int, secret: str, path: str = PATH) -> None:
        self.secret = secret.encode()
        self.body = follow_body()
        # One timestamp for the run: fresh enough (the replay window is 10 minutes).
        self.timestamp = wire.rfc3339_nano()
        self.prefix = uuid.uuid4().hex[:12]
        self.count = 0
        self.head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "User-Agent: Twitch-Eventsub-Webhooks/1.0\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\nTwitch-Eventsub-Message-Retry: 0\r\n"
            "Twitch-Eventsub-Message-Type: notification\r\n"
            f"Twitch-Eventsub-Message-Timestamp: {self.timestamp}\r\n"
            "Twitch-Eventsub-Subscription-Type: channel.follow\r\n"
            "Twitch-Eventsub-Subscription-Version: 2\r\n"
        )
        self.signed_tail = self.timestamp.encode() + self.body

    def next(self) -> bytes:
        self.count += 1
        message_id = f"{self.prefix}-{self.count:09d}"
        digest = hmac.new(self.secret, message_id.encode() + self.signed_tail, hashlib.sha256)
        return (
            f"{self.head}Twitch-Eventsub-Message-Id: {message_id}\r\n"
            f"Twitch-Eventsub-Message-Signature: sha256={digest.hexdigest()}\r\n\r\n"
        ).encode() + self.body


class Run:
    """What every connection of this process shares: the clock, the window, the tallies."""

    def __init__(self, requests: Requests, window: tuple[float, float], stop_at: float) -> None:
        self.requests = requests
        self.window_start, self.window_end = window
        self.stop_at = stop_at
        self.statuses: Counter[int] = Counter()
        self.latencies: list[float] = []
        self.answered_2xx = 0
        self.errors: Counter[str] = Counter()
        self.open = 0
        self.idle = asyncio.Event()


class Connection(asyncio.Protocol):
    """One keep-alive connection: request, whole answer, next request, until the stop time."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.waiting = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.run.open += 1

    def start(self) -> None:
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if time.time() >= self.run.stop_at:
            self.waiting = False
            self.transport.close()
            return
        request = self.run.requests.next()
        self.waiting = True
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            status = int(head[9:12])
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            elif status >= 200 and status not in (204, 304) and b"chunked" in head:
                self.run.errors["chunked answer (unsupported)"] += 1
                assert self.transport is not None
                self.transport.close()
                return
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            self._answered(status)

    def _answered(self, status: int) -> None:
        done = time.time()
        run = self.run
        if 200 <= status < 300:
            run.answered_2xx += 1
        if run.window_start <= done < run.window_end:
            run.statuses[status] += 1
            run.latencies.append(time.perf_counter() - self.sent_at)
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting:
            self.run.errors[f"connection lost: {exc}"] += 1
        self.run.open -= 1
        if self.run.open == 0:
            self.run.idle.set()


async def send(args: argparse.Namespace) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    requests = Requests(args.port, args.secret)
    window_start = args.start_at + args.warmup
    run = Run(requests, (window_start, window_start + args.seconds), window_start + args.seconds)
    connections: list[Connection] = []
    for _ in range(args.connections):
        _, protocol = await loop.create_connection(lambda: Connection(run), "127.0.0.1", args.port)
        connections.append(protocol)
    if args.sync:
        # Connected: tell the bench, and take the common start time from it.
        print("ready", flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        args.start_at = float(line)
        window_start = args.start_at + args.warmup
        run.window_start, run.window_end = window_start, window_start + args.seconds
        run.stop_at = run.window_end
    await asyncio.sleep(max(0.0, args.start_at - time.time()))
    for connection in connections:
        connection.start()
    await asyncio.sleep(max(0.0, run.stop_at - time.time()))
    try:
        await asyncio.wait_for(run.idle.wait(), DRAIN_S)
    except TimeoutError:
        run.errors["still waiting for an answer at the end"] += sum(
            1 for c in connections if c.waiting
        )
    return {
        "statuses": {str(k): v for k, v in run.statuses.items()},
        "latencies": run.latencies,
        "answered_2xx": run.answered_2xx,
        "sent": requests.count,
        "errors": dict(run.errors),
        "seconds": args.seconds,
    }


class Sink(asyncio.Protocol):
    """Answers every request 204 without looking at it (the generator's ceiling)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else len(head)]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            self.transport.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")


async def sink(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", default="")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--start-at", type=float, default=0.0, help="Unix time; 0: now")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--sync", action="store_true", help="print ready once connected, read --start-at"
    )
    parser.add_argument("--out", default=None, help="write the JSON result here, not stdout")
    parser.add_argument("--sink", action="store_true", help="serve the 204 sink instead")
    args = parser.parse_args()
    run: Callable[[Coroutine[Any, Any, Any]], Any] = asyncio.run
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # plain asyncio: slower, still correct
        pass
    if args.sink:
        run(sink(args.port))
        return
    if not args.start_at and not args.sync:
        args.start_at = time.time()
    result = json.dumps(run(send(args)))
    if args.out:
        Path(args.out).write_text(result)
    else:
        print(result, flush=True)


if __name__ == "__main__":
    main()
