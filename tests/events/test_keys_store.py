"""Client keys against every store backend."""

from __future__ import annotations

import pytest

from db_infrastructure.base import Store
from events.constants import CLIENT_KEYS_NAMESPACE
from events.errors import KeyNameTaken, UnknownKey
from events.keys import ClientKeys, hash_key


async def test_key_is_stored_hashed_and_verifies_until_revoked(store: Store) -> None:
    keys = ClientKeys(store)
    key, record = await keys.create("obs", "follow,chat")
    stored = await store.items(CLIENT_KEYS_NAMESPACE)
    assert list(stored) == [hash_key(key)]
    assert key not in next(iter(stored.values()))
    verified = await keys.verify(key)
    assert verified == record and verified.scope.matches("alert.follow")
    assert await keys.verify(key + "x") is None
    assert await keys.verify(None) is None
    await keys.revoke(record.id)
    assert await keys.verify(key) is None


async def test_names_are_unique_and_revoking_an_unknown_key_says_how_to_list(store: Store) -> None:
    keys = ClientKeys(store)
    await keys.create("obs")
    with pytest.raises(KeyNameTaken):
        await keys.create("obs")
    with pytest.raises(UnknownKey, match="keys list"):
        await keys.revoke("nope")
