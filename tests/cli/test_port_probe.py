"""`streamcore demo` checks its ports before it starts; a restart must not be refused by the
connections the previous run left in TIME_WAIT (issue "Newcomer path", item 2)."""

from __future__ import annotations

import socket
import subprocess

import pytest

from cli.commands.demo import _port_free


def _time_wait_on_a_port() -> int:
    """A port nothing listens on any more, with a connection to it left in TIME_WAIT."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the server side closes first: that end goes to TIME_WAIT
        client.recv(1)  # the FIN arrived
        client.close()
    return port


def _in_time_wait(port: int) -> bool:
    try:
        listing = subprocess.run(
            ["ss", "-Htan", "state", "time-wait", f"( sport = :{port} )"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return True  # no `ss` here: trust the close order above
    return f":{port}" in listing


def test_a_port_in_time_wait_is_free_and_a_listened_one_is_not() -> None:
    port = _time_wait_on_a_port()
    if not _in_time_wait(port):
        pytest.skip("the kernel left no TIME_WAIT entry to test against")
    assert _port_free(port), "TIME_WAIT does not stop a server from listening there"

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert not _port_free(int(busy.getsockname()[1]))
