"""The suite's one raw WebSocket client: the handshake and RFC 6455 frames, by hand.

For the tests a real client library cannot express: a client that stops reading, one that
never answers Pings, one that counts the Pings a server sends (`websockets` answers and hides
them). Server frames are read as sent (unmasked); frames this client sends are masked.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct

TEXT = 0x1
CLOSE = 0x8
PING = 0x9

Frame = tuple[int, bytes]


class RawClient:
    """Handshake by hand, then read (or not) as the test decides."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(
        cls,
        port: int,
        path: str,
        receive_buffer: int | None = None,
        host: str = "127.0.0.1",
        timeout: float = 10,  # noqa: ASYNC109
    ) -> RawClient:
        """Open a socket and upgrade it; `receive_buffer` shrinks the kernel's receive window
        (so an unread socket backs up into the server quickly)."""
        sock = socket.socket()
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), timeout)
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**24)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def send_text(self, text: str | bytes, opcode: int = TEXT) -> None:
        payload = text.encode() if isinstance(text, str) else text
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def read_frame(self, timeout: float | None = None) -> Frame:  # noqa: ASYNC109
        """The next frame as (opcode, payload); TimeoutError if none starts within `timeout`
        (the socket is then mid-frame at worst: stop reading it after a timeout)."""
        head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return opcode, await self.reader.readexactly(length)

    async def read_frames_until_close(self, timeout: float = 20) -> list[Frame]:  # noqa: ASYNC109
        """Every frame (opcode, payload) up to and including a close frame, or EOF."""
        frames: list[Frame] = []

        async def read() -> None:
            while True:
                try:
                    frame = await self.read_frame()
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                frames.append(frame)
                if frame[0] == CLOSE:
                    return

        await asyncio.wait_for(read(), timeout)
        return frames

    def close(self) -> None:
        self.writer.transport.abort()


def close_code(frames: list[Frame]) -> tuple[int, str] | None:
    """The (code, reason) of the first close frame among `frames`, if any."""
    for opcode, payload in frames:
        if opcode == CLOSE and len(payload) >= 2:
            return struct.unpack("!H", payload[:2])[0], payload[2:].decode()
    return None
