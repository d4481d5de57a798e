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
        return task

    async def _guard(self, name: str, coroutine: Coroutine[Any, Any, Any]) -> Any:
        try:
            return await coroutine
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.failures[name] = f"{type(error).__name__}: {error}"
            logger.exception("Task %s failed", name)
            return None
        finally:
            self._tasks.pop(name, None)

    def running(self) -> list[str]:
        return sorted(self._tasks)

    async def cancel(self, name: str) -> None:
        task = self._tasks.get(name)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
