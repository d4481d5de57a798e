"""The runtime file (app/instance.py) and the choice of instance the commands make from it
(cli/target.py): pure logic on a scratch folder, no server."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from app.instance import (
    INSTANCE_FILE_NAME,
    Instance,
    announce,
    find_instance,
    local_url,
    runtime_file,
)
from cli.target import keys_target, status_target
from core.settings import Settings
from tests.cli.conftest import NO_SUCH_PID


def write(data_dir: Path, url: str, pid: int, kind: str = "run") -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    record = {"url": url, "data_dir": str(data_dir), "pid": pid, "kind": kind}
    (data_dir / INSTANCE_FILE_NAME).write_text(json.dumps(record))


@pytest.fixture(autouse=True)
def no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's environment must not choose for the test (nor .env: see below)."""
    for name in list(os.environ):
        if name.startswith(("STREAMCORE_", "DATABASE_", "POSTGRES_")):
            monkeypatch.delenv(name)


def settings_for(data_dir: Path, **explicit: Any) -> Settings:
    return Settings(_env_file=None, streamcore_data_dir=data_dir, **explicit)  # type: ignore[call-arg]


def test_the_file_lives_while_the_block_runs_and_only_when_announced(tmp_path: Path) -> None:
    app = FastAPI()
    with runtime_file(app, tmp_path):
        assert not (tmp_path / INSTANCE_FILE_NAME).exists()  # `uvicorn main:app`: nothing
    announce(app, "http://127.0.0.1:18000", "demo")
    with runtime_file(app, tmp_path):
        assert find_instance(tmp_path) == Instance(
            url="http://127.0.0.1:18000", data_dir=str(tmp_path), pid=os.getpid(), kind="demo"
        )
    assert not (tmp_path / INSTANCE_FILE_NAME).exists()


def test_a_dead_pid_or_a_broken_file_is_no_instance(tmp_path: Path) -> None:
    write(tmp_path, "http://127.0.0.1:18000", NO_SUCH_PID)
    assert find_instance(tmp_path) is None
    (tmp_path / INSTANCE_FILE_NAME).write_text("{not json")
    assert find_instance(tmp_path) is None


def test_a_server_that_will_not_get_the_port_leaves_the_holder_s_file_alone(
    tmp_path: Path,
) -> None:
    holder = os.getppid()  # another live process: the one that holds the port
    write(tmp_path, "http://127.0.0.1:18000", holder)
    app = FastAPI()
    announce(app, "http://127.0.0.1:18000", "run")
    with runtime_file(app, tmp_path):
        pass
    found = find_instance(tmp_path)
    assert found is not None and found.pid == holder


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("::", "http://127.0.0.1:8000"),
        ("::1", "http://[::1]:8000"),
    ],
)
def test_local_url(host: str, url: str) -> None:
    assert local_url(host, 8000) == url


def test_the_commands_choose_flag_then_run_then_setting_then_demo(tmp_path: Path) -> None:
    data = tmp_path / "data"
    me = os.getpid()
    assert status_target(settings_for(data), None).url == "http://127.0.0.1:8000"
    assert keys_target(settings_for(data), None).url is None  # the store itself

    write(data / "demo", "http://127.0.0.1:18000", me, "demo")
    assert status_target(settings_for(data), None).url == "http://127.0.0.1:18000"
    assert keys_target(settings_for(data), None).url == "http://127.0.0.1:18000"
    # A setting that points elsewhere wins over the demo, with a hint naming it.
    pinned = status_target(settings_for(data, streamcore_port=9000), None)
    assert pinned.url == "http://127.0.0.1:9000"
    assert "--url http://127.0.0.1:18000" in pinned.hint()
    postgres = keys_target(settings_for(data, postgres_host="db.example"), None)
    assert postgres.url is None and "--url http://127.0.0.1:18000" in postgres.hint()

    write(data, "http://127.0.0.1:18500", me)  # a `streamcore run` with these settings
    running = status_target(settings_for(data, streamcore_port=9000), None)
    assert running.url == "http://127.0.0.1:18500"  # it knows its port better (`run --port`)
    assert keys_target(settings_for(data), None).url == "http://127.0.0.1:18500"

    assert status_target(settings_for(data), "http://x:1/").url == "http://x:1"
    assert keys_target(settings_for(data), "http://x:1").url == "http://x:1"
