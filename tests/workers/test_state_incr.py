"""`self.state.incr` on both store backends: what a worker sees (types, expiry, errors)."""

from __future__ import annotations

import asyncio

import pytest

from db_infrastructure.base import Store
from worker_runtime.toolkit import StoredState
from workers.base import WorkerStateError


async def test_a_missing_key_counts_from_zero_with_ints_and_floats(store: Store) -> None:
    state = StoredState(store, "counter")
    assert await state.incr("follows") == 1
    assert await state.incr("follows", 2) == 3
    assert type(await state.get("follows")) is int
    assert await state.incr("goal", 0.25) == 0.25
    total = await state.incr("goal", 0.75)
    assert total == 1.0 and type(total) is float
    assert type(await state.get("goal")) is float
    assert await state.items() == {"follows": 3, "goal": 1.0}


async def test_an_expired_value_counts_as_missing(store: Store) -> None:
    state = StoredState(store, "counter")
    await state.set("follows", 10, ttl_s=0.1)
    await state.set("label", "gone soon", ttl_s=0.1)
    await asyncio.sleep(0.2)
    assert await state.incr("follows") == 1
    assert await state.incr("label", 2) == 2


async def test_incr_keeps_a_counter_that_had_a_ttl(store: Store) -> None:
    state = StoredState(store, "counter")
    await state.set("follows", 10, ttl_s=0.2)
    assert await state.incr("follows") == 11
    await asyncio.sleep(0.3)
    assert await state.get("follows") == 11  # as set() without ttl_s: no expiry any more


@pytest.mark.parametrize(
    ("value", "kind"),
    [("ada", "str"), (True, "bool"), (None, "NoneType"), ([1], "list"), ({"n": 1}, "dict")],
)
async def test_a_value_that_is_not_a_number_raises_and_stays(
    store: Store, value: object, kind: str
) -> None:
    state = StoredState(store, "counter")
    await state.set("last", value)
    expected = (
        f"state 'last' holds {kind}, not a number; use set() for it or another key for the counter"
    )
    with pytest.raises(WorkerStateError) as raised:
        await state.incr("last")
    assert str(raised.value) == expected
    assert await state.get("last") == value


async def test_amounts_and_sums_that_are_not_json_raise_worker_state_errors(store: Store) -> None:
    state = StoredState(store, "counter")
    with pytest.raises(WorkerStateError, match=r"'n'.*not JSON"):
        await state.incr("n", float("nan"))
    await state.set("huge", 1e308)
    with pytest.raises(WorkerStateError, match=r"'huge'.*out of the range of a float"):
        await state.incr("huge", 1e308)
    assert await state.get("huge") == 1e308
