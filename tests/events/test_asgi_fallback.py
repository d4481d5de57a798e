"""Under an ASGI server other than uvicorn (here Starlette's TestClient) the fan-out still works,
through the portable `websocket.send_text` path."""

from __future__ import annotations

from pathlib import Path

import redis
from starlette.testclient import TestClient

from app.factory import create_app
from core.constants import EVENTS_LOG_STREAM
from core.settings import load_settings
from events.keys import ClientKeys
from tests.polling import eventually


async def test_replay_and_live_delivery_work_without_uvicorn(
    tmp_path: Path, redis_url: str
) -> None:
    # TestClient serves the app on its own thread and event loop; this test's loop only polls.
    # Starlette's TestClient sends `Host: testserver`, which the Host allowlist must admit.
    app = create_app(
        load_settings(
            redis_url=redis_url,
            streamcore_data_dir=str(tmp_path),
            streamcore_allowed_hosts="testserver",
        )
    )
    publisher = redis.Redis.from_url(redis_url)
    try:
        # TestClient reports the server as "testserver", not loopback, so a key is required.
        with TestClient(app) as client:
            assert client.portal is not None
            key, _ = client.portal.call(ClientKeys(app.state.services.store).create, "test")

            # A raw publish is wrapped and retained by the broadcaster once it is subscribed.
            def wrapped_and_retained() -> bool:
                if publisher.xlen(EVENTS_LOG_STREAM) > 0:
                    return True
                publisher.publish("events:first", '{"n": 1}')
                return False

            await eventually(
                wrapped_and_retained, what="the broadcaster wrapping the event", interval_s=0.05
            )
            with client.websocket_connect(
                f"/ws/events?since=0&events=first,second&key={key}"
            ) as ws:
                assert ws.receive_json()["event"] == "first"
                publisher.publish("events:second", '{"n": 2}')
                frame = ws.receive_json()
                while frame["event"] == "first":  # extra copies from the retry loop above
                    frame = ws.receive_json()
                assert (frame["event"], frame["data"]) == ("second", {"n": 2})
    finally:
        publisher.close()
