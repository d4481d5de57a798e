"""Discovery: good, broken, duplicate and abstract workers in throw-away packages."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.tasks import TaskSupervisor
from events.schema import event_schema
from gateway.subscriptions import moderator_id_for
from tests.workers.testkit import append_event, captured_events, eventually, running_workers
from worker_runtime.discovery import discover_workers
from worker_runtime.errors import DuplicateWorkerName
from worker_runtime.runtime import WorkerRuntime
from workers.base import default_worker_name

GREETER = (Path(__file__).parent / "fixtures" / "greeter.py").read_text()

GOOD = """
from workers.base import BaseWorker

class GoodWorker(BaseWorker):
    def get_subscriptions(self, broadcaster_id, moderator_id):
        return [{"type": "stream.online", "version": "1",
                 "condition": {"broadcaster_user_id": broadcaster_id}}]

    async def handle(self, event_type, payload):
        pass
"""


async def test_greeter_example_from_the_readme_runs_verbatim(
    worker_package, memory_bus, sqlite_store
):
    package = worker_package({"greeter.py": GREETER})
    discovery = discover_workers(package)
    assert discovery.errors == []
    [greeter] = discovery.workers
    assert greeter.name == "greeter"
    assert greeter.required_scopes == ["moderator:read:followers", "user:write:chat"]

    async with (
        captured_events(memory_bus) as events,
        running_workers(memory_bus, sqlite_store, discovery.workers),
    ):
        await append_event(
            memory_bus,
            "channel.follow",
            {"user_id": "42", "user_login": "ada", "user_name": "Ada"},
            version="2",
        )
        await eventually(lambda: len(events) == 1, what="the follow event")
    [envelope] = events
    assert envelope["event"] == "follow"
    assert envelope["data"] == {"user": "Ada"}
    assert envelope["id"] and envelope["ts"].endswith("Z")


def test_broken_file_and_broken_classes_are_reported_by_name_and_others_still_load(
    worker_package,
):
    package = worker_package(
        {
            "good.py": GOOD,
            "broken.py": "import no_such_module_anywhere\n",
            "syntax.py": "def oops(:\n",
            "contract.py": """
                from workers.base import BaseWorker

                class SyncWorker(BaseWorker):
                    def get_subscriptions(self, broadcaster_id, moderator_id):
                        return [{"type": "stream.online", "version": "1",
                                 "condition": {"broadcaster_user_id": broadcaster_id}}]

                    def handle(self, event_type, payload):
                        pass

                class BadSubscriptionWorker(BaseWorker):
                    def get_subscriptions(self, broadcaster_id, moderator_id):
                        return [{"type": "stream.online", "condition": {}}]

                    async def handle(self, event_type, payload):
                        pass
            """,
        }
    )
    discovery = discover_workers(package)
    assert [worker.name for worker in discovery.workers] == ["good"]
    reasons = {error.source: error.reason for error in discovery.errors}
    assert "ModuleNotFoundError" in reasons[f"{package}.broken"]
    assert "no_such_module_anywhere" in reasons[f"{package}.broken"]
    assert "SyntaxError" in reasons[f"{package}.syntax"]
    assert "async def handle" in reasons[f"{package}.contract.SyncWorker"]
    assert (
        "exactly the keys type, version, condition"
        in (reasons[f"{package}.contract.BadSubscriptionWorker"])
    )
    assert not any(error.fatal for error in discovery.errors)
    discovery.check()  # broken workers are skipped, not fatal


async def test_two_workers_with_one_name_are_an_error_at_start_up(
    worker_package, memory_bus, sqlite_store
):
    package = worker_package(
        {
            "first.py": GOOD.replace(
                "class GoodWorker(BaseWorker):", "class AWorker(BaseWorker):\n    name = 'same'"
            ),
            "second.py": GOOD.replace(
                "class GoodWorker(BaseWorker):", "class BWorker(BaseWorker):\n    name = 'same'"
            ),
        }
    )
    discovery = discover_workers(package)
    [duplicate] = discovery.errors
    assert duplicate.fatal
    assert f"{package}.first.AWorker" in duplicate.source
    assert f"{package}.second.BWorker" in duplicate.source
    async with TaskSupervisor() as tasks:
        with pytest.raises(DuplicateWorkerName, match="'same'"):
            WorkerRuntime.from_discovery(discovery, bus=memory_bus, store=sqlite_store, tasks=tasks)


def test_abstract_bases_are_not_registered_but_their_subclasses_are(worker_package):
    package = worker_package(
        {
            "family.py": """
                from abc import abstractmethod
                from workers.base import BaseWorker

                class ChannelWorker(BaseWorker):
                    abstract = True

                    def get_subscriptions(self, broadcaster_id, moderator_id):
                        return [{"type": "stream.online", "version": "1",
                                 "condition": {"broadcaster_user_id": broadcaster_id}}]

                    async def handle(self, event_type, payload):
                        await self.on_event(payload)

                class StillAbstract(ChannelWorker):
                    @abstractmethod
                    async def on_event(self, payload): ...

                class LiveNoticeWorker(StillAbstract):
                    async def on_event(self, payload):
                        pass
            """
        }
    )
    discovery = discover_workers(package)
    assert discovery.errors == []
    assert [worker.__name__ for worker in discovery.workers] == ["LiveNoticeWorker"]
    assert discovery.workers[0].name == "live_notice"


def test_the_contract_helper_and_private_modules_are_never_imported_as_workers(worker_package):
    explode = "raise RuntimeError('helper modules must not be imported by discovery')\n"
    package = worker_package(
        {
            "good.py": GOOD,
            "base.py": explode,
            "_private.py": explode,
            "lib/__init__.py": explode,
            "lib/shared.py": explode,
        }
    )
    discovery = discover_workers(package)
    assert discovery.errors == []
    assert discovery.modules == [f"{package}.good"]
    for skipped in ("base", "_private", "lib", "lib.shared"):
        assert f"{package}.{skipped}" not in sys.modules


def test_a_worker_file_may_take_any_name_the_machinery_uses(worker_package):
    # The machinery lives in worker_runtime/, so these names are free for worker files.
    names = ("consumer", "registry", "runtime", "toolkit", "errors", "scaffold", "deadletters")
    package = worker_package(
        {f"{name}.py": GOOD.replace("GoodWorker", f"{name.title()}Worker") for name in names}
    )
    discovery = discover_workers(package)
    assert discovery.errors == []
    assert sorted(worker.name for worker in discovery.workers) == sorted(names)


#: The workers StreamCore ships, with the scopes each needs. A worker a user drops into
#: workers/ (or `streamcore workers new`) is not listed here and does not affect this test.
SHIPPED_WORKERS = {
    "alerts": {"bits:read", "channel:read:subscriptions", "moderator:read:followers"},
    "chat": {"user:read:chat"},
    "hype_train": {"channel:read:hype_train"},
    "redemptions": {"channel:read:redemptions"},
    "stream_status": set(),
}


def test_shipped_workers_are_discovered_and_ask_only_for_their_scopes():
    discovery = discover_workers("workers")
    shipped = {w.name: w for w in discovery.workers if w.name in SHIPPED_WORKERS}
    assert set(shipped) == set(SHIPPED_WORKERS)
    assert [e for e in discovery.errors if e.source.split(".")[1] in SHIPPED_WORKERS] == []
    for name, scopes in SHIPPED_WORKERS.items():
        assert set(shipped[name].required_scopes) == scopes, name
    assert set().union(*SHIPPED_WORKERS.values()) <= set(discovery.required_scopes())
    schemas = discovery.event_schemas()
    follow = schemas["alert.follow"]
    assert follow is not None and follow["properties"]["user"]
    assert {"chat.message", "redemption", "stream.online", "hype_train.end"} <= set(schemas)


def test_worker_names_derive_from_class_names():
    assert default_worker_name("GreeterWorker") == "greeter"
    assert default_worker_name("HypeTrainWorker") == "hype_train"
    assert default_worker_name("Alerts") == "alerts"


def test_moderator_is_the_broadcaster_unless_a_moderator_account_is_configured():
    assert moderator_id_for("111") == "111"
    assert moderator_id_for("111", "222") == "222"


def test_a_worker_that_redefines_a_reserved_name_is_refused_by_name(worker_package):
    package = worker_package(
        {
            "shadow.py": GOOD.replace("GoodWorker", "ShadowWorker").replace(
                "    async def handle",
                "    state = {}\n\n    def emit(self, name, data):\n"
                "        pass\n\n    async def handle",
            )
        }
    )
    discovery = discover_workers(package)
    assert discovery.workers == []
    [error] = discovery.errors
    assert error.source == f"{package}.shadow.ShadowWorker"
    assert "'emit', which BaseWorker reserves" in error.reason
    assert "'state', which BaseWorker reserves" in error.reason


def test_a_worker_without_emits_is_named_in_the_schema_and_the_log(worker_package, caplog):
    package = worker_package({"good.py": GOOD})
    with caplog.at_level("WARNING", logger="streamcore.workers"):
        discovery = discover_workers(package)
    assert discovery.workers_without_emits() == ["good"]
    schema = event_schema(discovery.event_schemas(), discovery.workers_without_emits())
    assert schema["workers_without_emits"] == ["good"]
    assert any("good declares no `emits`" in r.getMessage() for r in caplog.records)
