"""POST /eventsub/callback (TWITCH_EVENTSUB_TRANSPORT=webhook): every rejection, the challenge
byte for byte, and notifications handed off once, on real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bus.memory import MemoryBus
from gateway.webhook import sign
from gateway.webhook_intake import WebhookIntake
from tests.system.test_system_flow import Deployment, deploy
from tokens.webhook_secret import WebhookSecret

SECRET = "a-webhook-secret-for-tests"
PATH = "/eventsub/callback"


def stamp(delta_s: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=delta_s)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def signed(
    kind: str, body: dict[str, Any], *, secret: str = SECRET, delta_s: float = 0.0, **extra: str
) -> tuple[dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    message_id, timestamp = extra.pop("message_id", str(uuid.uuid4())), stamp(delta_s)
    headers = {
        "Twitch-Eventsub-Message-Id": message_id,
        "Twitch-Eventsub-Message-Retry": "0",
        "Twitch-Eventsub-Message-Type": kind,
        "Twitch-Eventsub-Message-Timestamp": timestamp,
        "Twitch-Eventsub-Message-Signature": sign(secret.encode(), message_id, timestamp, raw),
        "Twitch-Eventsub-Subscription-Type": "channel.follow",
        "Twitch-Eventsub-Subscription-Version": "2",
        "Content-Type": "application/json",
        **extra,
    }
    return headers, raw


SUBSCRIPTION = {"id": "sub-1", "type": "channel.follow", "version": "2", "condition": {}}


def follow(name: str = "Ada") -> dict[str, Any]:
    return {"subscription": SUBSCRIPTION, "event": {"user_name": name}}


@pytest.fixture
async def webhook(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with deploy(
        tmp_path,
        twitch_eventsub_transport="webhook",
        streamcore_public_url="http://127.0.0.1",
        twitch_eventsub_secret=SecretStr(SECRET),
    ) as deployment:
        yield deployment


async def stream_length(deployment: Deployment, sub_type: str = "channel.follow") -> int:
    entries = await deployment.app.state.services.bus.read_range(f"eventsub:{sub_type}")
    return len(entries)


async def test_the_challenge_is_answered_with_the_raw_text_and_its_exact_length(
    webhook: Deployment,
) -> None:
    challenge = "pogchamp-kappa-360noscope-vohiyo"
    headers, body = signed(
        "webhook_callback_verification", {"challenge": challenge, "subscription": SUBSCRIPTION}
    )
    response = await webhook.api.post(PATH, content=body, headers=headers)
    assert response.status_code == 200
    assert response.content == challenge.encode()
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["content-length"] == str(len(challenge))


async def test_a_conduit_shard_challenge_is_answered_like_a_subscriptions(
    webhook: Deployment,
) -> None:
    # A webhook shard's verification names the conduit and shard, not a subscription.
    challenge = "shard-challenge-0123456789"
    body = {"challenge": challenge, "conduit_shard": {"conduit_id": "c-1", "shard": "0"}}
    headers, raw = signed("webhook_callback_verification", body)
    for name in ("Twitch-Eventsub-Subscription-Type", "Twitch-Eventsub-Subscription-Version"):
        del headers[name]
    response = await webhook.api.post(PATH, content=raw, headers=headers)
    assert response.status_code == 200
    assert response.content == challenge.encode()
    assert response.headers["content-type"] == "text/plain"
    # Unsigned, it is refused like anything else.
    headers["Twitch-Eventsub-Message-Signature"] = "sha256=" + "0" * 64
    refused = await webhook.api.post(PATH, content=raw, headers=headers)
    assert refused.status_code == 403


async def test_a_notification_is_stored_once_then_answered_204(webhook: Deployment) -> None:
    headers, body = signed("notification", follow(), message_id="m-1")
    first = await webhook.api.post(PATH, content=body, headers=headers)
    again = await webhook.api.post(PATH, content=body, headers=headers)  # Twitch's retry
    assert (first.status_code, again.status_code) == (204, 204)
    assert await stream_length(webhook) == 1
    status = (await webhook.api.get("/system/status")).json()["gateway"]
    assert status["received"] == {"channel.follow": 2}
    assert status["deduplicated"] == {"channel.follow": 1}


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("bad_signature", 403, "bad_signature"),
        ("missing_signature", 400, "missing_headers"),
        ("missing_id", 400, "missing_headers"),
        ("stale", 400, "stale"),
        ("future", 400, "from_the_future"),
    ],
)
async def test_every_rejection_has_its_status_and_stores_nothing(
    webhook: Deployment, case: str, status: int, code: str
) -> None:
    cases: dict[str, dict[str, Any]] = {
        "bad_signature": {"secret": "another-secret-entirely"},
        "stale": {"delta_s": -11 * 60},
        "future": {"delta_s": 5 * 60},
    }
    options = cases.get(case, {})
    headers, body = signed("notification", follow(), **options)
    if case == "missing_signature":
        del headers["Twitch-Eventsub-Message-Signature"]
    if case == "missing_id":
        del headers["Twitch-Eventsub-Message-Id"]
    response = await webhook.api.post(PATH, content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == code
    assert await stream_length(webhook) == 0


async def test_a_tampered_body_fails_the_signature(webhook: Deployment) -> None:
    headers, body = signed("notification", follow("Ada"))
    tampered = body.replace(b"Ada", b"Eve")
    response = await webhook.api.post(PATH, content=tampered, headers=headers)
    assert response.status_code == 403


async def test_an_oversized_body_is_refused_before_it_is_read(webhook: Deployment) -> None:
    headers, body = signed("notification", {**follow(), "padding": "x" * 300_000})
    response = await webhook.api.post(PATH, content=body, headers=headers)
    assert response.status_code == 413
    assert await stream_length(webhook) == 0


async def test_a_revocation_is_answered_and_announced(webhook: Deployment) -> None:
    services = webhook.app.state.services
    async with services.bus.psubscribe("events:system.subscription.revoked") as revoked:
        sub = {**SUBSCRIPTION, "status": "authorization_revoked"}
        headers, body = signed("revocation", {"subscription": sub})
        response = await webhook.api.post(PATH, content=body, headers=headers)
        assert response.status_code == 204
        message = await revoked.get()
    assert json.loads(message.data)["data"]["status"] == "authorization_revoked"


async def test_other_methods_and_unknown_hosts_are_refused(webhook: Deployment) -> None:
    assert (await webhook.api.get(PATH)).status_code == 405
    headers, body = signed("notification", follow())
    evil = await webhook.api.post(PATH, content=body, headers={**headers, "Host": "evil.example"})
    assert evil.status_code == 400


class DownBus(MemoryBus):
    async def append_unique_many(self, items: Any) -> list[str | None]:
        from bus import BusUnavailable

        raise BusUnavailable("Redis is down")


async def test_a_bus_outage_answers_503_so_twitch_retries() -> None:
    async def emit(name: str, data: Any) -> None:
        return None

    intake = WebhookIntake(DownBus(), None, emit, WebhookSecret(SECRET), 1000)  # type: ignore[arg-type]
    headers, body = signed("notification", follow())
    answer = await intake.take({k.lower(): v for k, v in headers.items()}, body, "test")
    assert answer.status == 503
    assert answer.retry_after is not None
    assert intake.unavailable == 1


async def test_replicas_that_generated_secrets_at_once_converge_on_the_stored_one(
    tmp_path: Path,
) -> None:
    """Three replicas start together with no TWITCH_EVENTSUB_SECRET: each may generate one,
    the store keeps the last; a request signed with the stored one is accepted by all."""
    from core.settings import load_settings
    from db_infrastructure import create_store
    from tokens.webhook_secret import WebhookSecrets

    settings = load_settings(_env_file=None, streamcore_data_dir=str(tmp_path))
    store = create_store(settings)
    await store.connect()
    try:
        secrets = WebhookSecrets(settings, store)
        loaded = await asyncio.gather(*(secrets.load() for _ in range(3)))
        stored = await secrets.stored()
        assert stored is not None

        async def emit(name: str, data: Any) -> None:
            return None

        for secret in loaded:
            intake = WebhookIntake(
                MemoryBus(),
                None,  # type: ignore[arg-type]
                emit,
                secret,
                1000,
                reload=secrets.stored,
            )
            headers, body = signed("notification", follow(), secret=stored.current)
            answer = await intake.take({k.lower(): v for k, v in headers.items()}, body, "t")
            assert answer.status == 204
            assert intake.secret.current == stored.current
            # A forged request is still refused, and does not re-read at once again.
            headers, body = signed("notification", follow(), secret="not-the-secret-at-all")
            answer = await intake.take({k.lower(): v for k, v in headers.items()}, body, "t")
            assert answer.status == 403
    finally:
        await store.close()


def test_the_signature_is_twitchs_hmac_over_id_timestamp_and_raw_body() -> None:
    # The reference computation from Twitch's docs, written out independently.
    import hashlib
    import hmac

    expected = hmac.new(b"s3cre7s3cre7", b"id-1" + b"2024-01-01T00:00:00Z" + b"{}", hashlib.sha256)
    assert sign(b"s3cre7s3cre7", "id-1", "2024-01-01T00:00:00Z", b"{}") == (
        "sha256=" + expected.hexdigest()
    )


def test_uvicorn_logs_no_access_line_per_webhook_event() -> None:
    import logging

    from core.logging import SkipAccessLines

    skip = SkipAccessLines(PATH)

    def line(path: str) -> logging.LogRecord:
        args = ("127.0.0.1:5000", "POST", path, "1.1", 204)
        return logging.LogRecord("uvicorn.access", 20, "", 0, '%s - "%s %s HTTP/%s" %d', args, None)

    assert not skip.filter(line(PATH + "?v=abc"))
    assert skip.filter(line("/system/status"))
