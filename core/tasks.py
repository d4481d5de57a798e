"""The task supervisor: every long-lived task of a process, owned by the lifespan.

`spawn` starts a named task; leaving the `async with` block cancels every task still running
and waits for it. A task that fails is never silent: its exception is logged with the task's
name and kept in `failures`, which the status endpoint reports.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

logger = logging.getLogger("streamcore.tasks")


class TaskSupervisor:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self.failures: dict[str, str] = {}

    async def __aenter__(self) -> TaskSupervisor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.cancel_all()

    def spawn(self, name: str, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coroutine` until it returns or the supervisor closes. Names must be unique."""
        if name in self._tasks and not self._tasks[name].done():
            coroutine.close()
            raise RuntimeError(f"a task named {name!r} is already running")
        task = asyncio.create_task(self._guard(name, coroutine), name=name)
        self._tasks[name] = task
        task.add_done_callback(lambda done: self._finished(name, done, coroutine))
        return task

    def _finished(
        self, name: str, task: asyncio.Task[Any], coroutine: Coroutine[Any, Any, Any]
    ) -> None:
        # A task cancelled before its first step never awaited its coroutine; closing it
        # avoids a "never awaited" warning (and is a no-op for a finished coroutine).
        coroutine.close()
        if self._tasks.get(name) is task:
            del self._tasks[name]

    async def _guard(self, name: str, coroutine: Coroutine[Any, Any, Any]) -> Any:
        try:
            return await coroutine
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.failures[name] = f"{type(error).__name__}: {error}"
            logger.exception("Task %s failed", name)
            return None

    def running(self) -> list[str]:
        return sorted(self._tasks)

    async def cancel(self, name: str) -> None:
        task = self._tasks.get(name)
        if task is not None:
            await cancel_and_wait(task)

    async def cancel_all(self) -> None:
        await asyncio.gather(*(cancel_and_wait(t) for t in list(self._tasks.values())))


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel until the task is done. A library that swallows one CancelledError (some client
    libraries do while a command is in flight) must not hang the shutdown."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
