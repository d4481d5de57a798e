"""Errors raised by the workers package.

WorkerError (core.errors.StreamCoreError)
 +-- WorkerContractError      a worker class breaks the BaseWorker contract; the message names
 |                            the class and what to change
 +-- DuplicateWorkerName      two workers share one name; rename one (class attribute `name`)
 +-- UnknownWorker            a command named a worker that discovery did not find
 +-- WorkerNotBound           emit/state/config used on a worker the runtime did not start
 +-- TwitchUnavailable        `self.twitch` used while no Helix client is connected
 +-- WorkerEmitError          emitted data does not match the model the worker declared in
 |                            `emits`, or the event name is not declared there
 +-- WorkerStateError         a state value is not JSON or is too large
 +-- ReplayUnavailable        replay needs a shared bus (Redis) to reach the running workers
"""

from core.errors import StreamCoreError


class WorkerError(StreamCoreError):
    """Root of every workers error."""


class WorkerContractError(WorkerError):
    """A worker class breaks the contract of `workers.base.BaseWorker`."""


class DuplicateWorkerName(WorkerError):
    """Two workers have the same name; set a distinct `name = "..."` on one of them."""


class UnknownWorker(WorkerError):
    """No discovered worker has that name; `streamcore workers list` shows the names."""


class WorkerNotBound(WorkerError):
    """The worker was created outside a WorkerRuntime, so it has nowhere to emit or store."""


class TwitchUnavailable(WorkerError):
    """No Helix client was given to the runtime; authorize StreamCore first."""


class WorkerEmitError(WorkerError):
    """The emitted event breaks the worker's own `emits` declaration."""


class WorkerStateError(WorkerError):
    """`self.state` values must be JSON and small."""


class ReplayUnavailable(WorkerError):
    """Replaying from another process needs REDIS_URL (the in-process bus is not shared)."""
