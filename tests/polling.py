"""The suite's one way to wait: poll a condition until it holds, then assert on the state.

Every test that waits for something asynchronous (a socket counted, an event handled, a
server up, a token expired) calls `eventually`. Nothing sleeps a fixed time as proof, and
nothing asserts on speed: the deadline is generous, because a busy 2-core CI machine may be
slow but must never be wrong. When the deadline passes the test fails with an AssertionError
naming what it waited for (and the last error a check raised, if it raised).

    await eventually(lambda: server.connected() == 2, what="both clients connected")
    status = await eventually(ready_status, within_s=20, what="the gateway connected")
    entries = await eventually(read_back, ignoring=(BusUnavailable,), what="Redis back")
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")

#: How long `eventually` waits by default: generous, never a measure of speed.
WITHIN_S = 10.0
#: Pause between two checks: short, so a condition that holds is seen almost at once.
INTERVAL_S = 0.02


@overload
async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    within_s: float = ...,
    what: str = ...,
    ignoring: tuple[type[BaseException], ...] = ...,
    interval_s: float = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T],
    *,
    within_s: float = ...,
    what: str = ...,
    ignoring: tuple[type[BaseException], ...] = ...,
    interval_s: float = ...,
) -> T: ...


async def eventually(
    check: Callable[[], object],
    *,
    within_s: float = WITHIN_S,
    what: str = "",
    ignoring: tuple[type[BaseException], ...] = (),
    interval_s: float = INTERVAL_S,
) -> object:
    """Call `check` (sync or async) until it returns something truthy; return that value.

    `ignoring` lists exceptions that mean "not yet" (a server still restarting); any other
    exception fails the test at once. After `within_s` seconds, raise AssertionError naming
    `what` (or the check itself) and chained to the last ignored exception.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
        except ignoring as error:
            last_error = error
        else:
            if result:
                return result
        if loop.time() >= deadline:
            waited_for = what or getattr(check, "__qualname__", repr(check))
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            raise AssertionError(
                f"timed out after {within_s} s waiting for {waited_for}{detail}"
            ) from last_error
        await asyncio.sleep(interval_s)
