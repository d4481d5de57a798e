"""The runtime file: how `streamcore status` and `streamcore keys` find the running server.

`streamcore run` and `streamcore demo` call `announce(app, url, kind)` before serving. While the
server runs, its lifespan keeps `{STREAMCORE_DATA_DIR}/streamcore.instance.json` (`url`,
`data_dir`, `pid`, `kind`); a clean exit removes it, and a reader ignores one whose pid is no
longer alive (a crash or a kill -9 leaves it behind). The demo runs in `{data dir}/demo`, so a
command finds both from its own settings: `find_instance(data_dir)` and
`find_instance(demo_data_dir(data_dir))`. Other ways of serving the app (`uvicorn main:app`)
announce nothing: only the command that bound the port knows the URL for sure.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from fastapi import FastAPI

logger = logging.getLogger("streamcore")

INSTANCE_FILE_NAME = "streamcore.instance.json"
#: The demo's own folder inside the configured data directory (`streamcore demo`).
DEMO_DIR_NAME = "demo"

Kind = Literal["run", "demo"]


@dataclass(frozen=True)
class Instance:
    """A running StreamCore as its runtime file describes it."""

    url: str
    data_dir: str
    pid: int
    kind: Kind

    def describe(self) -> str:
        name = "the StreamCore demo" if self.kind == "demo" else "StreamCore"
        return f"{name} at {self.url} (pid {self.pid}, data {_shown(self.data_dir)})"


def demo_data_dir(data_dir: Path) -> Path:
    return data_dir / DEMO_DIR_NAME


def local_url(host: str, port: int) -> str:
    """The URL a command on this machine uses to reach a server listening on host:port."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def announce(app: FastAPI, url: str, kind: Kind) -> None:
    """Have the server keep a runtime file at this URL while it serves."""
    app.state.announced_instance = (url, kind)


@contextlib.contextmanager
def runtime_file(app: FastAPI, data_dir: Path) -> Iterator[None]:
    """Keep the runtime file for as long as the block runs (the lifespan's body)."""
    announced: tuple[str, Kind] | None = getattr(app.state, "announced_instance", None)
    if announced is None:
        yield
        return
    url, kind = announced
    path = data_dir / INSTANCE_FILE_NAME
    me = Instance(url=url, data_dir=str(data_dir.resolve()), pid=os.getpid(), kind=kind)
    holder = find_instance(data_dir)
    if holder is not None and holder.url == url and holder.pid != me.pid:
        # Another server already holds this URL: this one will not get the port, and its
        # exit must not take the other's file away.
        yield
        return
    try:
        _write(path, me)
    except OSError as error:  # a read-only data dir costs the look-up, not the server
        logger.warning(
            "Could not write %s (%s): `streamcore status` will not find this server", path, error
        )
    try:
        yield
    finally:
        # Several processes may share a data dir (Redis and PostgreSQL): remove only our own.
        if _read(path) == me:
            with contextlib.suppress(OSError):
                path.unlink()


def find_instance(data_dir: Path) -> Instance | None:
    """The server whose runtime file is in data_dir, if its process is alive."""
    instance = _read(data_dir / INSTANCE_FILE_NAME)
    if instance is None or not pid_alive(instance.pid):
        return None
    return instance


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    except OSError:
        return False
    return True


def _shown(data_dir: str) -> str:
    """The data dir relative to the working directory when it lies inside it."""
    with contextlib.suppress(ValueError, OSError):
        return str(Path(data_dir).relative_to(Path.cwd()))
    return data_dir


def _write(path: Path, instance: Instance) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{instance.pid}.{time.monotonic_ns()}")
    staging.write_text(json.dumps(asdict(instance), indent=2) + "\n", encoding="utf-8")
    os.replace(staging, path)  # readers never see half a file


def _read(path: Path) -> Instance | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        instance = Instance(
            url=str(raw["url"]),
            data_dir=str(raw["data_dir"]),
            pid=int(raw["pid"]),
            kind="demo" if raw.get("kind") == "demo" else "run",
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return instance
