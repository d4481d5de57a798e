async def test_placeholder_bus(bus):
    assert await bus.publish("x", "y") >= 0


async def test_placeholder_store(store):
    assert await store.schema_version() == 1
