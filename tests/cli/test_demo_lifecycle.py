"""Stopping and restarting `streamcore demo` as a user does (issue "Newcomer path", items 3
and 5): Ctrl+C in a terminal signals the whole process group, and under `uv run` the same
SIGINT may arrive twice (the terminal's, and the one uv forwards)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import REPO, Served, start_demo
from tests.conftest import free_port

pytestmark = pytest.mark.slow  # `streamcore demo` as a subprocess


def assert_quiet_stop(served: Served) -> str:
    status, out, err = served.finish()
    assert "Traceback" not in err, err
    assert "CancelledError" not in err, err
    assert "ERROR" not in err, err
    assert status == 0, err
    assert out.strip().splitlines()[-1:] == ["Stopped."], out
    return err


@pytest.mark.parametrize("signals", [1, 2], ids=["one-sigint", "sigint-twice"])
def test_ctrl_c_to_the_process_group_stops_the_demo_quietly(
    tmp_path: Path, servers: list[Served], signals: int
) -> None:
    demo = start_demo(tmp_path, free_port(), free_port())
    servers.append(demo)
    demo.interrupt(times=signals)
    assert_quiet_stop(demo)
    # A clean stop takes its runtime file away (app/instance.py).
    assert not (tmp_path / "data" / "demo" / "streamcore.instance.json").exists()


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not installed here")
def test_ctrl_c_under_uv_run_stops_the_demo_quietly(
    tmp_path: Path, servers: list[Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `uv run` from the scratch folder uses the project's environment as it is.
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    uv = ["uv", "run", "--project", str(REPO), "--no-sync", "--quiet", "streamcore"]
    demo = start_demo(tmp_path, free_port(), free_port(), prefix=uv)
    servers.append(demo)
    demo.interrupt()
    assert_quiet_stop(demo)


def run_and_stop(served: Served) -> str:
    """Check the running demo is authorized and serving, stop it (Ctrl+C); its stderr."""
    status = httpx.get(f"{served.url}/system/status", timeout=10).json()
    assert status["auth"]["state"] == "ok", status
    assert status["running"] is True, status
    served.interrupt()
    return served.finish()[2]


def test_a_restart_on_the_same_ports_right_after_a_stop_is_not_refused(
    tmp_path: Path, servers: list[Served]
) -> None:
    """Item 2 end to end: the stop leaves TIME_WAIT connections on both ports (the demo's own
    HTTP calls, the gateway's EventSub socket, the status call above)."""
    port, simulator_port = free_port(), free_port()
    first = start_demo(tmp_path, port, simulator_port)
    servers.append(first)
    run_and_stop(first)
    second = start_demo(tmp_path, port, simulator_port)  # at once: "Port ... is in use" before
    servers.append(second)
    run_and_stop(second)


def test_a_second_demo_start_is_calm_and_authorized(tmp_path: Path, servers: list[Served]) -> None:
    """Item 5: the second demo's simulator is a fresh one, which knows nothing of the token
    the first left in data/demo; the start must not warn about it."""
    first = start_demo(tmp_path, free_port(), free_port())
    servers.append(first)
    run_and_stop(first)
    second = start_demo(tmp_path, free_port(), free_port())  # same folder, so same data/demo
    servers.append(second)
    err = run_and_stop(second)
    assert "authorization needed" not in err, err
    assert "Invalid refresh token" not in err, err
    assert "WARNING streamcore.tokens" not in err, err
