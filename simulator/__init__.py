"""StreamCore's Twitch double: EventSub WebSocket, Helix subset, OAuth and a control API.

Only tests, the CLI and demo mode import this package; StreamCore's own code never does.
Start it with `simulator.testing.run_simulator` or `streamcore simulate`.
"""
