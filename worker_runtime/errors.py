"""Errors raised by the worker machinery (discovery, runtime, replay, scaffold).

WorkerRuntimeError (workers.base.WorkerError)
 +-- WorkerContractError      a worker class or a new worker's name breaks the contract; the
 |                            message names the class and what to change
 +-- DuplicateWorkerName      two workers share one name; rename one (class attribute `name`)
 +-- UnknownWorker            a command named a worker that discovery did not find
 +-- ReplayUnavailable        replay needs a shared bus (Redis) to reach the running workers

Errors a worker's own code meets (WorkerNotBound, TwitchUnavailable, WorkerEmitError,
WorkerStateError) are part of the plugin contract and live in `workers.base`.
"""

from workers.base import WorkerError


class WorkerRuntimeError(WorkerError):
    """Root of the worker machinery's errors."""


class WorkerContractError(WorkerRuntimeError):
    """A worker class breaks the contract of `workers.base.BaseWorker`."""


class DuplicateWorkerName(WorkerRuntimeError):
    """Two workers have the same name; set a distinct `name = "..."` on one of them."""


class UnknownWorker(WorkerRuntimeError):
    """No discovered worker has that name; `streamcore workers list` shows the names."""


class ReplayUnavailable(WorkerRuntimeError):
    """Replaying from another process needs REDIS_URL (the in-process bus is not shared)."""
