"""A dedicated Redis connection for tailing one stream with blocking XREAD.

Every replica's broadcaster reads the event log once per batch of events, so this one call
sets the fan-out's cost per event. Through redis-py's pooled client an XREAD costs about
200 us of CPU (pool checkout, timeouts, command packing, RESP3 conversion); on a connection of
its own, parsed by hiredis (the C reply parser redis-py itself uses), about 60 us, measured on
the same machine (bench/channels.py shows the effect on the fan-out). The tail is one
sequential reader, so it needs none of the pool's sharing.

`redis://` and `unix://` URLs get the dedicated connection; other schemes (`rediss://`, whose
TLS options redis-py knows how to read) tail through the pooled client, as every other call.
Any error closes the connection and raises BusUnavailable; the next read reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import hiredis
from redis.asyncio.connection import parse_url

from bus.base import StreamEntry
from bus.errors import BusUnavailable

__all__ = ["RedisTail", "dedicated_tail_supported"]

#: Extra time, past the BLOCK, that a reply may take before the connection counts as dead.
REPLY_GRACE_S = 5.0
CONNECT_TIMEOUT_S = 2.0
READ_CHUNK = 1 << 16


def dedicated_tail_supported(url: str) -> bool:
    return url.startswith(("redis://", "unix://"))


def _command(*parts: str | int) -> bytes:
    encoded = [str(part).encode() for part in parts]
    out = [b"*%d\r\n" % len(encoded)]
    for part in encoded:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


class RedisTail:
    """XREAD on a connection of its own (see the module docstring). Not for concurrent use."""

    def __init__(self, url: str) -> None:
        self._options: dict[str, Any] = dict(parse_url(url))
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser: Any = None

    async def read_after(
        self, stream: str, after_id: str, count: int, block_ms: int
    ) -> list[StreamEntry]:
        command = _command("XREAD", "COUNT", count, "BLOCK", block_ms, "STREAMS", stream, after_id)
        try:
            if self._writer is None:
                await self._connect()
            # asyncio.timeout, not wait_for: no task per read (3.11's wait_for makes one).
            async with asyncio.timeout(block_ms / 1000 + REPLY_GRACE_S):
                reply = await self._call(command)
        except (OSError, EOFError, TimeoutError, hiredis.ProtocolError) as error:
            await self.close()
            raise BusUnavailable(
                f"Redis is unavailable ({error or type(error).__name__})"
            ) from None
        except asyncio.CancelledError:
            # A reply may still be on its way: this connection can no longer be trusted.
            self._drop()
            raise
        if isinstance(reply, hiredis.ReplyError):
            await self.close()
            raise BusUnavailable(f"Redis refused XREAD ({reply})")
        if not reply:
            return []
        return [
            StreamEntry(stream, entry_id, dict(zip(raw[::2], raw[1::2], strict=True)))
            for _, entries in reply
            for entry_id, raw in entries
            if raw
        ]

    async def _connect(self) -> None:
        options = self._options
        if "path" in options:
            opening = asyncio.open_unix_connection(options["path"])
        else:
            opening = asyncio.open_connection(options.get("host", "localhost"), options["port"])
        self._reader, self._writer = await asyncio.wait_for(opening, CONNECT_TIMEOUT_S)
        self._parser = hiredis.Reader(encoding="utf-8", errors="replace")
        if options.get("password"):
            auth = [options["username"]] if options.get("username") else []
            await self._expect_ok(_command("AUTH", *auth, options["password"]), "AUTH")
        if options.get("db"):
            await self._expect_ok(_command("SELECT", options["db"]), "SELECT")

    async def _expect_ok(self, command: bytes, what: str) -> None:
        reply = await asyncio.wait_for(self._call(command), CONNECT_TIMEOUT_S)
        if isinstance(reply, hiredis.ReplyError):
            # Never the password: only what Redis said.
            raise OSError(f"{what} refused: {str(reply).split(' ', 1)[0]}")

    async def _call(self, command: bytes) -> Any:
        assert self._writer is not None and self._reader is not None
        self._writer.write(command)
        parser = self._parser
        while True:
            reply = parser.gets()
            if reply is not False:
                return reply
            chunk = await self._reader.read(READ_CHUNK)
            if not chunk:
                raise EOFError("Redis closed the connection")
            parser.feed(chunk)

    def _drop(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
