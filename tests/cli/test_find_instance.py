"""`streamcore status` and `streamcore keys` find the StreamCore that runs here (issue
"Newcomer path", item 6): the demo keeps its data in data/demo and may run on any port, and
`streamcore run --port` may too. The server keeps a runtime file in its data directory
(app/instance.py) and the commands follow it (cli/target.py)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.cli.conftest import NO_SUCH_PID, Served, clean_env, command, start, start_demo
from tests.conftest import free_port

pytestmark = pytest.mark.slow  # `streamcore demo` and `streamcore run` as subprocesses


async def ping_with_key(port: int, key: str) -> dict[str, object]:
    """Connect to /ws/events with the key and ping: the pong proves the key was accepted
    (a key that is given is always checked: an unknown one is closed with 4001)."""
    async with connect(f"ws://127.0.0.1:{port}/ws/events?key={key}&events=nothing") as socket:
        await socket.send(json.dumps({"op": "ping"}))
        answer: dict[str, object] = json.loads(await asyncio.wait_for(socket.recv(), 10))
        return answer


def created_key(stdout: str) -> str:
    keys = [line for line in stdout.splitlines() if line.startswith("sck_")]
    assert len(keys) == 1, stdout
    return keys[0]


async def test_status_and_keys_find_the_demo_on_its_own_port_and_data_dir(
    tmp_path: Path, servers: list[Served]
) -> None:
    demo = start_demo(tmp_path, free_port(), free_port())
    servers.append(demo)

    status = command(["status"], tmp_path)  # no --url: the demo is not on 8000
    assert status.returncode == 0, status.stderr
    assert ": running (bus memory, store sqlite)" in status.stdout
    assert f"Using the StreamCore demo at {demo.url}" in status.stderr

    created = command(["keys", "create", "--name", "obs"], tmp_path)
    assert created.returncode == 0, created.stderr
    assert f"Using the StreamCore demo at {demo.url}" in created.stderr
    key = created_key(created.stdout)
    assert f"ws://127.0.0.1:{demo.port}/ws/events?key={key}" in created.stdout
    assert (await ping_with_key(demo.port, key))["event"] == "system.pong"

    listed = command(["keys", "list"], tmp_path)
    assert " obs " in listed.stdout, listed.stderr


async def test_status_and_keys_find_streamcore_run_on_its_port_and_data_dir(
    tmp_path: Path, servers: list[Served]
) -> None:
    port = free_port()
    env = clean_env(STREAMCORE_DATA_DIR=str(tmp_path / "elsewhere"))
    served = start(
        [sys.executable, "-m", "cli.main", "run", "--port", str(port)], tmp_path, port, env
    )
    servers.append(served)

    status = command(["status"], tmp_path, env)  # STREAMCORE_PORT says nothing; --port did
    assert status.returncode == 0, status.stderr
    assert ": stopped (bus memory, store sqlite)" in status.stdout
    assert f"Using StreamCore at {served.url}" in status.stderr

    created = command(["keys", "create", "--name", "esp32"], tmp_path, env)
    assert created.returncode == 0, created.stderr
    assert (await ping_with_key(port, created_key(created.stdout)))["event"] == "system.pong"

    runtime_file = tmp_path / "elsewhere" / "streamcore.instance.json"
    assert json.loads(runtime_file.read_text())["url"] == served.url
    # A clean exit takes the file away; a dead server's file is ignored.
    served.process.terminate()
    served.process.wait(30)
    assert not runtime_file.exists()
    runtime_file.write_text(json.dumps({"url": served.url, "data_dir": "x", "pid": NO_SUCH_PID}))
    nowhere = free_port()  # not 8000: something else may serve there on this machine
    status = command(["status"], tmp_path, {**env, "STREAMCORE_PORT": str(nowhere)})
    assert "Using StreamCore" not in status.stderr
    assert f"No StreamCore answers at http://127.0.0.1:{nowhere}" in status.stderr


def test_a_running_demo_yields_to_explicit_choices_and_refuses_a_second_demo(
    tmp_path: Path, servers: list[Served]
) -> None:
    demo = start_demo(tmp_path, free_port(), free_port())
    servers.append(demo)
    elsewhere = f"http://127.0.0.1:{free_port()}"
    status = command(["status", "--url", elsewhere], tmp_path)
    assert status.returncode == 2
    assert f"No StreamCore answers at {elsewhere}" in status.stderr
    # A setting that points elsewhere wins too, and the message names the demo.
    status = command(["status"], tmp_path, clean_env(STREAMCORE_PORT=str(free_port())))
    assert status.returncode == 2
    assert f"pass --url {demo.url}" in status.stderr
    # A second demo in the same folder would share data/demo: refused, naming the first.
    second = command(
        ["demo", "--port", str(free_port()), "--simulator-port", str(free_port())], tmp_path
    )
    assert second.returncode == 2
    assert f"The demo already runs here: the StreamCore demo at {demo.url}" in second.stderr
