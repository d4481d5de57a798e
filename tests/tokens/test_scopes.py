"""The readiness check run before the system starts: missing scopes give the 401 body."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bus.base import Bus
from db_infrastructure.base import Store
from tests.tokens.conftest import make_manager, seed_token, settings_for
from tokens.constants import STATE_NAMESPACE
from tokens.errors import AuthRequired
from tokens.readiness import require_ready
from tokens.scopes import union_scopes

REQUIRED = ["bits:read", "channel:read:subscriptions", "moderator:read:followers"]


def test_scopes_are_the_sorted_union_of_every_group() -> None:
    assert union_scopes(["b:x", "a:x"], [], ["a:x", "c:x"]) == ["a:x", "b:x", "c:x"]


async def test_missing_scopes_give_the_401_body_with_a_link_and_log_it(
    sim: Any,
    store: Store,
    memory_bus: Bus,
    http: httpx.AsyncClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seed_token(sim, store, ["bits:read"])
    manager = make_manager(settings_for(sim, tmp_path), store, memory_bus, http, REQUIRED)
    await manager.start()
    assert manager.state == "ok"
    assert manager.missing_scopes() == ["channel:read:subscriptions", "moderator:read:followers"]

    with (
        caplog.at_level(logging.WARNING, logger="streamcore.tokens"),
        pytest.raises(AuthRequired) as needed,
    ):
        await require_ready(manager)

    assert needed.value.missing_scopes == [
        "channel:read:subscriptions",
        "moderator:read:followers",
    ]
    auth_url = needed.value.auth_url
    assert auth_url is not None
    query = parse_qs(urlsplit(auth_url).query)
    assert query["scope"] == [" ".join(REQUIRED)]
    assert await store.get(STATE_NAMESPACE, query["state"][0]) is not None  # a usable link
    assert any(auth_url in r.getMessage() for r in caplog.records)


async def test_ready_when_every_required_scope_is_granted(
    sim: Any, store: Store, memory_bus: Bus, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    await seed_token(sim, store, REQUIRED)
    manager = make_manager(settings_for(sim, tmp_path), store, memory_bus, http, REQUIRED)
    await manager.start()
    await require_ready(manager)  # returns: nothing is missing


async def test_without_any_token_every_required_scope_is_missing(
    sim: Any, store: Store, memory_bus: Bus, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    manager = make_manager(settings_for(sim, tmp_path), store, memory_bus, http, REQUIRED)
    await manager.start()
    with pytest.raises(AuthRequired) as needed:
        await require_ready(manager)
    assert needed.value.missing_scopes == REQUIRED
    assert (needed.value.auth_url or "").startswith(sim.auth_url)
