"""What the chaos benchmark (bench/chaos.py) watches: /ws/events clients and the simulator.

- `Recorder`: one /ws/events client (directly on a replica, or through the proxy) recording
  every alert.* frame's marker (`data.user.name`) and every `system.gateway` envelope with its
  arrival time; whenever its socket drops it reconnects to the same URL with ?since=<last id>,
  every 0.25 s until it is back (a killed replica's client waits for its restart);
- `SessionWatch`: polls the simulator's GET /control/sessions and counts the moments when more
  than one EventSub session had enabled subscriptions, after every such session had been
  subscribed for longer than a settling time (a takeover's brief overlap is not counted).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

#: The client's filter: every alert, and the gateway's announcements (gaps, states).
EVENTS = "alert.*,system.gateway"


def parse_iso(text: str) -> float:
    """A `...Z` timestamp as Unix seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Announcement:
    """One `system.gateway` envelope: its data, its id and when it arrived."""

    id: str
    at: float
    data: dict[str, Any]

    @property
    def logged(self) -> float:
        """When it was appended to the event log (the ms part of its id), wall clock."""
        return int(self.id.partition("-")[0]) / 1000

    @property
    def state(self) -> str:
        return str(self.data.get("state"))

    def gap(self) -> tuple[float, float] | None:
        if self.state != "gap":
            return None
        return parse_iso(self.data["since"]), parse_iso(self.data["until"])


@dataclass
class Recorder:
    """One /ws/events client; see the module docstring."""

    name: str
    url: str
    frames: list[tuple[str, float, str]] = field(default_factory=list)  # (marker, at, id)
    announcements: list[Announcement] = field(default_factory=list)
    last_id: str | None = None
    connects: int = 0
    #: Attempts that did not open (the replica down or starting, nginx answering 502).
    refused: int = 0
    closes: list[str] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    def markers(self) -> set[str]:
        return {marker for marker, _, _ in self.frames}

    async def run(self) -> None:
        """Read until cancelled; reconnect with ?since= after any close, as streamcore.js does."""
        while True:
            url = self.url if self.last_id is None else f"{self.url}&since={self.last_id}"
            opened = False
            try:
                async with connect(
                    url, compression=None, ping_interval=None, open_timeout=5, max_size=2**22
                ) as socket_:
                    opened = True
                    self.connects += 1
                    self.connected.set()
                    async for message in socket_:
                        self._record(json.loads(message), time.time())
                    self.closes.append(f"closed {socket_.close_code} {socket_.close_reason}")
            except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError) as error:
                if opened:
                    self.closes.append(f"{type(error).__name__}: {str(error)[:80]}")
                else:
                    self.refused += 1
            await asyncio.sleep(0.25)

    def _record(self, envelope: dict[str, Any], at: float) -> None:
        name = envelope.get("event")
        event_id = envelope.get("id")
        if not isinstance(name, str) or not isinstance(event_id, str):
            return  # system.pong and other replies carry no log id
        self.last_id = event_id
        if name == "system.gateway":
            self.announcements.append(Announcement(event_id, at, envelope.get("data") or {}))
        elif name.startswith("alert."):
            user = (envelope.get("data") or {}).get("user") or {}
            self.frames.append((str(user.get("name")), at, event_id))


@dataclass
class SessionWatch:
    """Polls GET /control/sessions; see the module docstring."""

    url: str
    settle_s: float = 2.0
    interval_s: float = 0.25
    #: When each session was first seen with enabled subscriptions (wall clock).
    subscribed_since: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    #: Polls that saw more than one subscribed session at all (a takeover's overlap included).
    overlaps: int = 0
    #: Polls that saw more than one once every one of them had been subscribed > settle_s.
    settled_overlaps: list[tuple[float, list[str]]] = field(default_factory=list)
    #: Every poll that saw more than one, settled or not (the Redis pause's report).
    overlap_times: list[tuple[float, list[str]]] = field(default_factory=list)
    most_at_once: int = 0
    errors: int = 0

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                try:
                    response = await http.get(self.url)
                    response.raise_for_status()
                    self.sample(response.json()["data"], time.time())
                except (httpx.HTTPError, KeyError, ValueError):
                    self.errors += 1
                await asyncio.sleep(self.interval_s)

    def sample(self, sessions: list[dict[str, Any]], now: float) -> None:
        self.samples += 1
        subscribed = [s["id"] for s in sessions if int(s.get("subscriptions") or 0) > 0]
        for session_id in subscribed:
            self.subscribed_since.setdefault(session_id, now)
        self.most_at_once = max(self.most_at_once, len(subscribed))
        if len(subscribed) > 1:
            self.overlaps += 1
            self.overlap_times.append((now, subscribed))
            newest = max(self.subscribed_since[s] for s in subscribed)
            if now - newest > self.settle_s:
                self.settled_overlaps.append((now, subscribed))


def gaps_of(recorders: list[Recorder]) -> list[tuple[float, float]]:
    """Every announced gap (since, until), each once, whichever client saw it."""
    seen: dict[str, tuple[float, float]] = {}
    for recorder in recorders:
        for announcement in recorder.announcements:
            window = announcement.gap()
            if window is not None:
                seen[announcement.id] = window
    return sorted(seen.values())


def first_announcement(
    recorders: list[Recorder], after: float, state: str, reason: str | None = None
) -> float | None:
    """The earliest arrival, at any client, of a `system.gateway` with `state` (and `reason`)
    published after `after` (wall clock; a replayed older one does not count)."""
    arrivals = [
        a.at
        for recorder in recorders
        for a in recorder.announcements
        if a.logged > after
        and a.state == state
        and (reason is None or a.data.get("reason") == reason)
    ]
    return min(arrivals, default=None)
