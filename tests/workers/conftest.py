"""Fixtures for the workers tests: temporary worker packages, a memory bus, a SQLite store.

Worker packages are written to tmp_path under a unique name, so the real `workers/` directory
is never touched and one test's classes never leak into another's discovery.
"""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from bus.memory import MemoryBus
from db_infrastructure.sqlite import SQLiteStore
from workers import base as worker_base


@pytest.fixture
def worker_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[dict[str, str]], str]]:
    """Write a throw-away worker package: `worker_package({"greeter.py": src}) -> name`."""
    monkeypatch.syspath_prepend(str(tmp_path))
    created: list[str] = []

    def make(files: dict[str, str]) -> str:
        name = f"tmp_workers_{uuid.uuid4().hex[:10]}"
        root = tmp_path / name
        root.mkdir()
        (root / "__init__.py").write_text("")
        for relative, source in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))
        created.append(name)
        return name

    yield make
    for name in created:
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]
        for key in [k for k in worker_base._registered if k[0].startswith(name)]:
            del worker_base._registered[key]


@pytest.fixture
async def memory_bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus()
    await bus.connect()
    yield bus
    await bus.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "workers.db")
    await store.connect()
    yield store
    await store.close()
