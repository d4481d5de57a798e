"""WorkerRuntime: runs every worker of a process, each in its own consumer loop task.

Workers run inside the API process by default (the system API starts the runtime), or alone
with `streamcore workers`. Each worker reads the `eventsub:{type}` streams of the types it
subscribed to through its own consumer group `worker:<name>`, so every worker sees every
event, in order; processes running the same worker share its group (each process is one
consumer, named hostname-pid by default) and split the load. Each worker has its own task,
spawned through the runtime's TaskSupervisor, so one that fails or awaits something slow does
not hold up another; a worker that blocks the event loop stalls them all (core.loopwatch).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bus import Bus, BusUnavailable
from core.constants import EVENTSUB_STREAM, WORKER_GROUP, WORKER_REPLAY_STREAM
from core.tasks import TaskSupervisor
from db_infrastructure import Store
from events.publisher import EventPublisher
from worker_runtime.consumer import ConsumerOptions, WorkerConsumer
from worker_runtime.contract import subscription_types
from worker_runtime.deadletters import count_dead_letters, replay_dead_letters
from worker_runtime.discovery import Discovery
from worker_runtime.errors import DuplicateWorkerName, UnknownWorker
from worker_runtime.toolkit import StoredState
from workers.base import BaseWorker, ChannelHelix, WorkerConfig, WorkerToolkit

logger = logging.getLogger("streamcore.workers")

#: How long `stop()` lets in-flight handlers finish before cancelling them (their entries stay
#: pending and are handled first after the restart).
DEFAULT_STOP_GRACE_S = 10.0


def default_consumer_name() -> str:
    """Unique per process and readable in XINFO: `hostname-pid`."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class _Running:
    consumer: WorkerConsumer
    task_name: str
    task: asyncio.Task[Any] | None = None


class WorkerRuntime:
    """Builds, starts, reports on and stops the workers of one process."""

    def __init__(
        self,
        *,
        bus: Bus,
        store: Store,
        workers: Sequence[type[BaseWorker]],
        tasks: TaskSupervisor,
        environ: Mapping[str, str] | None = None,
        twitch: Any = None,
        channels: ChannelHelix | None = None,
        publisher: EventPublisher | None = None,
        consumer_name: str | None = None,
        options: ConsumerOptions | None = None,
    ) -> None:
        """`environ` holds the WORKER_* variables, read once by the edge (see
        `worker_runtime.toolkit.worker_environment`); `twitch` is the Helix client or None."""
        names = [worker.name for worker in workers]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise DuplicateWorkerName(
                f"two workers are named {', '.join(map(repr, duplicates))}; "
                'give one a distinct `name = "..."`'
            )
        self._bus = bus
        self._store = store
        self._tasks = tasks
        self.consumer_name = consumer_name or default_consumer_name()
        publisher = publisher or EventPublisher(bus)
        environ = environ or {}
        options = options or ConsumerOptions()
        self._running: dict[str, _Running] = {}
        for cls in workers:
            worker = cls()
            worker.bind(
                WorkerToolkit(
                    publisher=publisher,
                    state=StoredState(
                        store, cls.name, channels.default_id if channels is not None else None
                    ),
                    config=WorkerConfig.for_worker(cls.name, environ),
                    logger=logging.getLogger(f"streamcore.workers.{cls.name}"),
                    twitch=twitch,
                    channels=channels,
                )
            )
            streams = [EVENTSUB_STREAM.format(type=t) for t in subscription_types(worker)]
            streams.append(WORKER_REPLAY_STREAM.format(worker=cls.name))
            consumer = WorkerConsumer(
                worker,
                streams,
                WORKER_GROUP.format(worker=cls.name),
                self.consumer_name,
                bus,
                options,
            )
            task_name = f"worker:{cls.name}@{self.consumer_name}"
            self._running[cls.name] = _Running(consumer, task_name)

    @classmethod
    def from_discovery(cls, discovery: Discovery, **kwargs: Any) -> WorkerRuntime:
        """A runtime for the discovered workers; raises DuplicateWorkerName at start-up."""
        discovery.check()
        return cls(workers=discovery.workers, **kwargs)

    @property
    def worker_names(self) -> list[str]:
        return list(self._running)

    def worker(self, name: str) -> BaseWorker:
        """The running instance of a worker (for tests and the system API)."""
        return self._get(name).consumer.worker

    def _get(self, name: str) -> _Running:
        if name not in self._running:
            known = ", ".join(self._running) or "none"
            raise UnknownWorker(f"no worker named {name!r} (running: {known})")
        return self._running[name]

    async def start(self) -> None:
        """Spawn one consumer loop per worker through the TaskSupervisor."""
        for running in self._running.values():
            if running.task is None or running.task.done():
                running.task = self._tasks.spawn(running.task_name, running.consumer.run())
        logger.info(
            "Workers started as consumer %s: %s",
            self.consumer_name,
            ", ".join(self._running) or "none",
        )

    async def stop(self, grace_s: float = DEFAULT_STOP_GRACE_S) -> None:
        """Let in-flight handlers finish (each acks right after its handler), then return.

        Loops still busy after `grace_s` are cancelled; their entry stays pending and is
        handled first after the next start.
        """
        for running in self._running.values():
            running.consumer.request_stop()
        tasks = [r.task for r in self._running.values() if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        for running in self._running.values():
            if running.task is not None and not running.task.done():
                logger.warning(
                    "Worker %s did not stop in %.0fs; cancelling", running.task_name, grace_s
                )
                await self._tasks.cancel(running.task_name)
            running.task = None

    async def run(self) -> None:
        """Start, run until cancelled, then stop gracefully (for `streamcore workers`)."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self.stop())

    async def replay(self, name: str) -> int:
        """Send the worker's dead letters back to it; returns how many."""
        self._get(name)
        return await replay_dead_letters(self._bus, self._store, name)

    async def status(self) -> list[dict[str, Any]]:
        """Per worker: name, types, handled, failed, dead_letters, lag, pending, state."""
        report: list[dict[str, Any]] = []
        for name, running in self._running.items():
            consumer = running.consumer
            lag: int | None = 0
            pending: int | None = 0
            dead_letters: int | None
            try:
                for stream in consumer.streams:
                    info = await self._bus.group_info(stream, consumer.group)
                    if info is not None:
                        lag = (lag or 0) + info.lag
                        pending = (pending or 0) + info.pending
                dead_letters = await count_dead_letters(self._bus, self._store, name)
            except BusUnavailable:
                lag = pending = dead_letters = None
            report.append(
                {
                    "name": name,
                    "types": [
                        s.partition(":")[2] for s in consumer.streams if s.startswith("eventsub:")
                    ],
                    "handled": consumer.stats.handled,
                    "failed": consumer.stats.failed,
                    "dead_letters": dead_letters,
                    "lag": lag,
                    "pending": pending,
                    "state": consumer.stats.state,
                    "consumer": self.consumer_name,
                    "last_error": consumer.stats.last_error,
                }
            )
        return report
