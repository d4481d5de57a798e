"""`Store.incr`, written once and run against SQLite and real PostgreSQL.

The cross-process proof (separate OS processes on one database) is in
tests/workers/test_state_incr_processes.py.
"""

from __future__ import annotations

import asyncio

import pytest

from db_infrastructure.base import Store
from db_infrastructure.errors import NotANumber


async def test_a_missing_key_starts_at_zero_and_ints_stay_ints(store: Store) -> None:
    assert await store.incr("ns", "n", 1) == 1
    total = await store.incr("ns", "n", 41)
    assert total == 42 and type(total) is int
    assert await store.incr("ns", "n", -50) == -8
    assert await store.get("ns", "n") == "-8"
    assert await store.incr("other", "n", 1) == 1  # namespaces stay apart


async def test_ints_beyond_64_bits_stay_exact(store: Store) -> None:
    await store.put("ns", "big", str(2**70))
    assert await store.incr("ns", "big", 1) == 2**70 + 1
    assert await store.incr("ns", "big", 2**80) == 2**70 + 1 + 2**80


async def test_floats_add_as_python_adds_them(store: Store) -> None:
    assert await store.incr("ns", "f", 0.1) == 0.1
    total = await store.incr("ns", "f", 0.2)
    assert total == 0.1 + 0.2 and type(total) is float  # 0.30000000000000004, no rounding
    whole = await store.incr("ns", "whole", 2.0)
    assert whole == 2.0 and type(whole) is float  # "2.0", not "2", so it reads back a float
    assert await store.get("ns", "whole") == "2.0"
    assert await store.incr("ns", "tiny", 1.5e-7) == 1.5e-7
    assert await store.incr("ns", "large", 1e16) == 1e16


async def test_an_int_and_a_float_make_a_float(store: Store) -> None:
    await store.incr("ns", "n", 3)
    mixed = await store.incr("ns", "n", 0.5)
    assert mixed == 3.5 and type(mixed) is float
    back = await store.incr("ns", "n", 1)
    assert back == 4.5 and type(back) is float
    await store.put("ns", "round", "2.5")
    after = await store.incr("ns", "round", 0.5)
    assert after == 3.0 and type(after) is float


async def test_a_bool_amount_adds_as_an_int(store: Store) -> None:
    assert await store.incr("ns", "n", True) == 1
    assert await store.get("ns", "n") == "1"


async def test_an_expired_value_counts_as_missing(store: Store) -> None:
    await store.put("ns", "n", "41", ttl_s=0.1)
    await store.put("ns", "word", '"x"', ttl_s=0.1)  # expired, so not a type error either
    await asyncio.sleep(0.2)
    assert await store.incr("ns", "n", 1) == 1
    assert await store.incr("ns", "word", 2.5) == 2.5


async def test_incr_clears_the_expiry_of_a_live_value(store: Store) -> None:
    await store.put("ns", "n", "41", ttl_s=0.2)
    assert await store.incr("ns", "n", 1) == 42
    await asyncio.sleep(0.3)
    assert await store.get("ns", "n") == "42"


@pytest.mark.parametrize("value", ['"seven"', "true", "null", "[1]", '{"n": 1}', "NaN"])
async def test_a_value_that_is_not_a_number_is_left_alone(store: Store, value: str) -> None:
    await store.put("ns", "v", value, ttl_s=0.3)
    with pytest.raises(NotANumber, match="not a number") as raised:
        await store.incr("ns", "v", 1)
    assert raised.value.stored == value
    assert await store.get("ns", "v") == value
    await asyncio.sleep(0.4)
    assert await store.get("ns", "v") is None  # its expiry was kept, too


async def test_a_sum_out_of_the_float_range_changes_nothing(store: Store) -> None:
    await store.put("ns", "huge", "1e308")
    with pytest.raises(NotANumber, match="out of the range") as raised:
        await store.incr("ns", "huge", 1e308)
    assert raised.value.stored is None
    assert await store.get("ns", "huge") == "1e308"


async def test_amounts_that_json_cannot_hold_are_refused(store: Store) -> None:
    with pytest.raises(NotANumber, match="NaN or infinity"):
        await store.incr("ns", "n", float("inf"))
    with pytest.raises(TypeError, match="int or a float"):
        await store.incr("ns", "n", "1")  # type: ignore[arg-type]
    assert await store.get("ns", "n") is None


async def test_concurrent_increments_on_one_store_are_all_counted(store: Store) -> None:
    # PostgreSQL runs these on up to five pooled connections at once.
    results = await asyncio.gather(*(store.incr("ns", "hits", 1) for _ in range(50)))
    assert sorted(results) == list(range(1, 51))
    assert await store.get("ns", "hits") == "50"
