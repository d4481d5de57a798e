"""The EventSub gateway: Twitch's WebSocket in, durable `eventsub:{type}` streams out.

- `gateway.protocol`: the pure protocol core (frames -> typed messages -> decisions), no I/O.
- `gateway.subscriptions`: desired-state reconciliation (pure planning + a thin Helix executor).
- `gateway.handoff`: de-duplication and the durable append, retried while the bus is down.
- `gateway.connection`: the thin WebSocket layer.
- `gateway.service`: the `Gateway` that ties them together (`run`, `stop`, `status`).
"""
