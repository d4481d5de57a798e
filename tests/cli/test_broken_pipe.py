"""`streamcore status | head -1`: a reader that leaves early ends the command quietly (issue
"Newcomer path", item 10), for every command (cli/main.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Served, clean_env, start
from tests.conftest import free_port

pytestmark = pytest.mark.slow  # `streamcore` commands as subprocesses

#: What the shell reports for a program killed by SIGPIPE (`yes | head -1`): 128 + 13.
EXIT_BROKEN_PIPE = 141


def with_stdout_closed(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`streamcore ARGS` writing to a pipe whose reader is already gone, as `| head -1` leaves
    it once head has its line (closed before the command writes: no race)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            cwd=cwd,
            env=clean_env(),
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(writer)


def assert_quiet_end(finished: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in finished.stderr, finished.stderr
    assert "BrokenPipeError" not in finished.stderr, finished.stderr
    assert "Exception ignored" not in finished.stderr, finished.stderr
    assert finished.returncode == EXIT_BROKEN_PIPE, finished.stderr


def test_status_into_a_closed_pipe_ends_quietly(tmp_path: Path, servers: list[Served]) -> None:
    port = free_port()
    served = start([sys.executable, "-m", "cli.main", "run", "--port", str(port)], tmp_path, port)
    servers.append(served)
    for args in (["status"], ["status", "--json"]):
        assert_quiet_end(with_stdout_closed(args, tmp_path))


@pytest.mark.parametrize("args", [["workers", "list"], ["keys", "list"]], ids=" ".join)
def test_other_commands_into_a_closed_pipe_end_quietly(tmp_path: Path, args: list[str]) -> None:
    assert_quiet_end(with_stdout_closed(args, tmp_path))
