"""`streamcore workers`: run the workers alone, list them, scaffold one, replay dead letters.

- `streamcore workers [run] [--consumer NAME]`  run every worker in this process (needs
  REDIS_URL: the gateway writes events into Redis, and several such processes share the load)
- `streamcore workers list`                     discovered workers, their types and scopes,
                                                and every file or class that was skipped
- `streamcore workers new <name>`               write workers/<name>.py and its test
- `streamcore workers replay <worker>`          send a worker's dead letters back to it
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigError

if TYPE_CHECKING:
    from core.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "workers", help="run the workers alone, or list, scaffold and replay them"
    )
    parser.add_argument(
        "--consumer", help="consumer name in the groups (default hostname-pid, unique per process)"
    )
    parser.set_defaults(func=run)
    commands = parser.add_subparsers(dest="workers_command", metavar="SUBCOMMAND")

    run_parser = commands.add_parser("run", help="run every discovered worker (the default)")
    run_parser.add_argument("--consumer", help="consumer name (default hostname-pid)")
    run_parser.set_defaults(func=run)

    list_parser = commands.add_parser("list", help="list discovered workers and skipped files")
    list_parser.set_defaults(func=list_workers)

    new_parser = commands.add_parser("new", help="write a commented template worker and its test")
    new_parser.add_argument("name", help="worker name: lowercase letters, digits and _")
    new_parser.add_argument("--workers-dir", type=Path, default=Path("workers"))
    new_parser.add_argument("--tests-dir", type=Path, default=Path("tests/workers"))
    new_parser.set_defaults(func=new_worker)

    replay_parser = commands.add_parser("replay", help="send a worker's dead letters back to it")
    replay_parser.add_argument("worker", help="the worker's name (see `streamcore workers list`)")
    replay_parser.set_defaults(func=replay)


def list_workers(args: argparse.Namespace) -> int:
    from worker_runtime.contract import subscription_types
    from worker_runtime.discovery import discover_workers

    discovery = discover_workers()
    for worker in discovery.workers:
        types = ", ".join(subscription_types(worker()))
        scopes = ", ".join(worker.required_scopes) or "none"
        print(f"{worker.name:<16} types: {types}\n{'':<16} scopes: {scopes}")
    for error in discovery.errors:
        print(f"SKIPPED {error}", file=sys.stderr)
    return 1 if any(error.fatal for error in discovery.errors) else 0


def new_worker(args: argparse.Namespace) -> int:
    from worker_runtime.scaffold import check_new_worker_name, render_test, render_worker

    name = check_new_worker_name(args.name)
    worker_path = args.workers_dir / f"{name}.py"
    test_path = args.tests_dir / f"test_{name}_worker.py"
    for path in (worker_path, test_path):
        if path.exists():
            raise ConfigError(f"{path} already exists; pick another name or remove the file")
    worker_path.parent.mkdir(parents=True, exist_ok=True)
    test_path.parent.mkdir(parents=True, exist_ok=True)
    worker_path.write_text(render_worker(name))
    test_path.write_text(render_test(name))
    print(f"Wrote {worker_path} and {test_path}.")
    print(
        f"Edit them, then run `uv run pytest {test_path}`; StreamCore picks the worker up at start."
    )
    return 0


def replay(args: argparse.Namespace) -> int:
    return asyncio.run(_replay(args.worker))


async def _replay(worker_name: str) -> int:
    from app.services import open_backends
    from core.settings import load_settings
    from worker_runtime.deadletters import replay_dead_letters
    from worker_runtime.discovery import discover_workers
    from worker_runtime.errors import ReplayUnavailable, UnknownWorker

    discovery = discover_workers()
    if discovery.find(worker_name) is None:
        known = ", ".join(w.name for w in discovery.workers) or "none"
        raise UnknownWorker(f"no worker named {worker_name!r} (discovered: {known})")
    settings = load_settings()
    if not settings.redis_dsn:
        raise ReplayUnavailable(
            "replay from the command line needs REDIS_URL: the in-process bus lives inside the "
            "API process. Set REDIS_URL, or replay through the API of the running process."
        )
    async with open_backends(settings) as (bus, store):
        count = await replay_dead_letters(bus, store, worker_name)
    print(f"Replayed {count} dead letter(s) of {worker_name}.")
    return 0


def run(args: argparse.Namespace) -> int:
    from core.logging import configure_logging
    from core.settings import load_settings

    settings = load_settings()
    configure_logging(settings.streamcore_log_level, settings.streamcore_log_format)
    if not settings.redis_dsn:
        raise ConfigError(
            "`streamcore workers` runs the workers in their own process, which needs REDIS_URL "
            "(the gateway writes events there). Set REDIS_URL, or let `streamcore run` run the "
            "workers inside the API process (the default)."
        )
    asyncio.run(_serve(settings, getattr(args, "consumer", None)))
    return 0


async def _serve(settings: Settings, consumer: str | None) -> None:
    from app.services import open_services
    from worker_runtime.toolkit import worker_environment

    # Read once, here at the edge: the workers' own WORKER_* settings.
    environ = worker_environment(os.environ, Path(".env"))
    async with open_services(settings, worker_environ=environ, fanout=False) as services:
        runtime = services.system.worker_runtime(consumer_name=consumer)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await runtime.start()
        await stop.wait()
        await runtime.stop()
