"""The bench's WebSocket clients: raw asyncio protocols, cheap enough to run 1000 in one process.

Each client does the handshake by hand, answers pings, reads unmasked text frames and pulls the
sequence number and send time out of the payload without a full JSON parse (the client process
shares the 2 cores with the server, so its cost must stay small). A "slow" client reads at a
capped byte rate.

Like a browser, each client offers permessage-deflate (`offer_deflate`), since whether a server
accepts it changes its memory per client several times over; `stats.deflate` says whether it
did, and compressed frames (RSV1) are inflated before they are read.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClientStats:
    received: int = 0
    out_of_order: int = 0
    last_n: int = -1
    latencies: list[float] = field(default_factory=list)
    close_code: int | None = None
    last_at: float = 0.0
    closed: bool = False
    deflate: bool = False


class BenchClient(asyncio.Protocol):
    def __init__(
        self,
        path: str,
        port: int,
        slow_rate: float | None,
        ready: asyncio.Future,
        offer_deflate: bool = True,
    ) -> None:
        self.path = path
        self.offer_deflate = offer_deflate
        self.inflater: Any = None
        self.reset_inflater = False
        self.port = port
        self.slow_rate = slow_rate  # bytes per second, or None
        self.ready = ready
        self.stats = ClientStats()
        self.buffer = bytearray()
        self.handshaken = False
        self.transport: asyncio.Transport | None = None
        self.window_start = time.monotonic()
        self.window_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        key = base64.b64encode(os.urandom(16)).decode()
        # What Chrome and Firefox send: the extension with client_max_window_bits.
        offer = (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            if self.offer_deflate
            else ""
        )
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{offer}\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.handshaken:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            self.handshaken = True
            lowered = head.lower()
            self.stats.deflate = b"permessage-deflate" in lowered
            self.reset_inflater = b"server_no_context_takeover" in lowered
            if not self.ready.done():
                if head.startswith(b"HTTP/1.1 101"):
                    self.ready.set_result(True)
                else:
                    self.ready.set_exception(ConnectionError(head[:80].decode(errors="replace")))
        self._parse()
        if self.slow_rate is not None:
            self._throttle(len(data))

    def _throttle(self, size: int) -> None:
        assert self.transport is not None and self.slow_rate is not None
        self.window_bytes += size
        elapsed = time.monotonic() - self.window_start
        allowed = self.slow_rate * elapsed
        if self.window_bytes > allowed:
            self.transport.pause_reading()
            delay = (self.window_bytes - allowed) / self.slow_rate
            asyncio.get_running_loop().call_later(delay, self._resume)

    def _resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _parse(self) -> None:
        buffer = self.buffer
        now = time.time()
        position = 0
        while len(buffer) - position >= 2:
            opcode = buffer[position] & 0x0F
            length = buffer[position + 1] & 0x7F
            header = 2
            if length == 126:
                if len(buffer) - position < 4:
                    break
                length = struct.unpack_from("!H", buffer, position + 2)[0]
                header = 4
            elif length == 127:
                if len(buffer) - position < 10:
                    break
                length = struct.unpack_from("!Q", buffer, position + 2)[0]
                header = 10
            end = position + header + length
            if len(buffer) < end:
                break
            payload = bytes(buffer[position + header : end])
            if buffer[position] & 0x40:  # RSV1: a compressed message (permessage-deflate)
                payload = self._inflate(payload)
            position = end
            if opcode == 0x1:
                self._on_text(payload, now)
            elif opcode == 0x9:
                self._send(0xA, payload)
            elif opcode == 0x8:
                if len(payload) >= 2:
                    self.stats.close_code = struct.unpack("!H", payload[:2])[0]
                self._send(0x8, payload[:2])
        del buffer[:position]

    def _on_text(self, payload: bytes, now: float) -> None:
        """One event frame: its sequence number and the latency from its `t`."""
        stats = self.stats
        n_at = payload.find(b'"n":')
        if n_at >= 0:
            n_end = payload.find(b",", n_at)
            n = int(payload[n_at + 4 : n_end])
            t_at = payload.find(b'"t":', n_end)
            t_end = payload.find(b",", t_at)
            stats.latencies.append(now - float(payload[t_at + 4 : t_end]))
            if n < stats.last_n:
                stats.out_of_order += 1
            stats.last_n = max(stats.last_n, n)
            stats.received += 1
            stats.last_at = now

    def _inflate(self, payload: bytes) -> bytes:
        if self.inflater is None or self.reset_inflater:
            self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        return bytes(self.inflater.decompress(payload + b"\x00\x00\xff\xff"))

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during handshake"))


async def open_client(
    port: int, path: str, slow_rate: float | None = None, offer_deflate: bool = True
) -> BenchClient:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[bool] = loop.create_future()
    sock = socket.socket()
    if slow_rate is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    _, protocol = await loop.create_connection(
        lambda: BenchClient(path, port, slow_rate, ready, offer_deflate), sock=sock
    )
    await asyncio.wait_for(ready, 20)
    return protocol
