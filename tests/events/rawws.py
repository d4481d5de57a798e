"""A deliberately bad WebSocket client on a raw socket: it can stop reading and never pong."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct


class RawClient:
    """Handshake by hand, then read (or not) as the test decides."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, path: str, receive_buffer: int = 4096) -> RawClient:
        sock = socket.socket()
        # A tiny receive window, so an unread socket backs up into the server quickly.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**24)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def send_text(self, text: str | bytes, opcode: int = 0x1) -> None:
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

    async def read_frames_until_close(self, timeout: float = 20) -> list[tuple[int, bytes]]:  # noqa: ASYNC109
        """Every frame (opcode, payload) up to and including a close frame, or EOF."""
        frames: list[tuple[int, bytes]] = []

        async def read() -> None:
            while True:
                try:
                    head = await self.reader.readexactly(2)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                opcode, length = head[0] & 0x0F, head[1] & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", await self.reader.readexactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
                payload = await self.reader.readexactly(length)
                frames.append((opcode, payload))
                if opcode == 0x8:
                    return

        await asyncio.wait_for(read(), timeout)
        return frames

    def close(self) -> None:
        self.writer.transport.abort()


def close_code(frames: list[tuple[int, bytes]]) -> tuple[int, str] | None:
    for opcode, payload in frames:
        if opcode == 0x8 and len(payload) >= 2:
            return struct.unpack("!H", payload[:2])[0], payload[2:].decode()
    return None
