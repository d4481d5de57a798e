"""The simulated id.twitch.tv: code flow, refresh rotation, app tokens, device flow, revoke."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import pytest

from simulator.testing import run_simulator
from tests.polling import eventually
from tests.simulator.helpers import control, helix, oauth

pytestmark = pytest.mark.slow  # the simulator serves on a port


def _query(response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


async def _authorize(sim, client, scope: str = "bits:read user:read:chat", state: str = "xyz123"):
    params = {
        "client_id": sim.client_id,
        "redirect_uri": sim.redirect_uri,
        "response_type": "code",
        "scope": scope,
        "state": state,
    }
    return await client.get("/authorize", params=params)


async def _exchange(sim, client, code: str):
    return await client.post(
        "/token",
        data={
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "code": code,
            "grant_type": "authorization_code",
            "redirect_uri": sim.redirect_uri,
        },
    )


async def test_authorization_code_flow_issues_a_user_token(simulator):
    async with oauth(simulator) as client:
        redirect = await _authorize(simulator, client)
        assert redirect.headers["location"].startswith(simulator.redirect_uri + "?")
        query = _query(redirect)
        assert query["state"] == "xyz123" and query["scope"] == "bits:read user:read:chat"
        tokens = (await _exchange(simulator, client, query["code"])).json()
        assert tokens["token_type"] == "bearer" and tokens["scope"] == [
            "bits:read",
            "user:read:chat",
        ]
        assert tokens["expires_in"] == 14400 and tokens["refresh_token"]
        again = await _exchange(simulator, client, query["code"])  # codes are single-use
        assert again.status_code == 400 and again.json()["status"] == 400
        validated = await client.get(
            "/validate", headers={"Authorization": f"OAuth {tokens['access_token']}"}
        )
    assert validated.json() == {
        "client_id": simulator.client_id,
        "scopes": ["bits:read", "user:read:chat"],
        "login": "lunaria_live",
        "user_id": simulator.users["broadcaster"].id,
        "expires_in": validated.json()["expires_in"],
    }


async def test_authorize_can_deny_and_approve_as_another_user():
    async with run_simulator(authorize_deny=True) as sim, oauth(sim) as client, control(sim) as ctl:
        denied = _query(await _authorize(sim, client))
        assert denied == {
            "error": "access_denied",
            "error_description": "The user denied you access",
            "state": "xyz123",
        }
        await ctl.post("/oauth", json={"authorize_as": "moderator", "deny": False})
        code = _query(await _authorize(sim, client))["code"]
        token = (await _exchange(sim, client, code)).json()["access_token"]
        validated = await client.get("/validate", headers={"Authorization": f"Bearer {token}"})
    assert validated.json()["login"] == "mossmodding"


async def test_authorize_rejects_an_unregistered_redirect_uri(simulator):
    async with oauth(simulator) as client:
        response = await client.get(
            "/authorize",
            params={
                "client_id": simulator.client_id,
                "redirect_uri": "http://evil.example/cb",
                "response_type": "code",
            },
        )
    assert response.status_code == 400 and set(response.json()) == {"status", "message"}


async def test_refresh_tokens_are_single_use_and_rotate(simulator):
    first = await simulator.issue_token()
    form = {
        "client_id": simulator.client_id,
        "client_secret": simulator.client_secret,
        "grant_type": "refresh_token",
    }
    async with oauth(simulator) as client:
        second = (
            await client.post("/token", data={**form, "refresh_token": first["refresh_token"]})
        ).json()
        assert second["refresh_token"] != first["refresh_token"]
        reused = await client.post("/token", data={**form, "refresh_token": first["refresh_token"]})
        assert reused.status_code == 400
        assert reused.json() == {"status": 400, "message": "Invalid refresh token"}
        third = await client.post("/token", data={**form, "refresh_token": second["refresh_token"]})
        assert third.status_code == 200


async def test_client_credentials_gives_an_app_token_without_user(simulator):
    async with oauth(simulator) as client:
        body = (
            await client.post(
                "/token",
                data={
                    "client_id": simulator.client_id,
                    "client_secret": simulator.client_secret,
                    "grant_type": "client_credentials",
                },
            )
        ).json()
        assert set(body) == {"access_token", "expires_in", "token_type"}
        validated = (
            await client.get(
                "/validate", headers={"Authorization": f"OAuth {body['access_token']}"}
            )
        ).json()
        wrong = await client.post(
            "/token",
            data={
                "client_id": simulator.client_id,
                "client_secret": "nope",
                "grant_type": "client_credentials",
            },
        )
    assert "user_id" not in validated and "login" not in validated
    assert wrong.status_code == 403


async def test_revoke_makes_the_token_401_everywhere(simulator):
    token = (await simulator.issue_token())["access_token"]
    async with oauth(simulator) as client, helix(simulator, token) as api:
        assert (await api.get("/users")).status_code == 200
        revoked = await client.post(
            "/revoke", data={"client_id": simulator.client_id, "token": token}
        )
        assert revoked.status_code == 200 and revoked.content == b""
        assert (await api.get("/users")).status_code == 401
        invalid = await client.get("/validate", headers={"Authorization": f"OAuth {token}"})
        assert invalid.json() == {"status": 401, "message": "invalid access token"}
        assert (
            await client.post("/revoke", data={"client_id": simulator.client_id, "token": token})
        ).status_code == 400
        assert (
            await client.post("/revoke", data={"client_id": "nobody", "token": token})
        ).status_code == 404


async def test_short_token_lifetime_expires_to_401():
    async with run_simulator(token_lifetime_s=0.5) as sim:
        token = (await sim.issue_token())["access_token"]
        async with helix(sim, token) as api, oauth(sim) as client:
            assert (await api.get("/users")).status_code == 200

            async def expired() -> bool:
                return (await api.get("/users")).status_code == 401

            await eventually(expired, what="the token to expire")
            assert (await api.get("/users")).status_code == 401
            assert (
                await client.get("/validate", headers={"Authorization": f"OAuth {token}"})
            ).status_code == 401


async def _poll(sim, client, device_code: str):
    return await client.post(
        "/token",
        data={
            "client_id": sim.client_id,
            "device_code": device_code,
            "scopes": "user:read:chat",
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        },
    )


async def test_device_flow_pending_then_approved_on_the_activation_page():
    async with run_simulator(device_poll_interval_s=0.2) as sim, oauth(sim) as client:
        start = (
            await client.post(
                "/device", data={"client_id": sim.client_id, "scopes": "user:read:chat user:bot"}
            )
        ).json()
        assert start["interval"] == 0.2 and len(start["user_code"]) == 8
        assert start["verification_uri"].endswith(f"?public=true&device-code={start['user_code']}")
        pending = await _poll(sim, client, start["device_code"])
        assert pending.json() == {"status": 400, "message": "authorization_pending"}
        page = await client.get(start["verification_uri"].removeprefix(sim.auth_url))
        assert start["user_code"] in page.text
        await client.post(
            "/activate", data={"user_code": start["user_code"], "decision": "approve"}
        )
        await asyncio.sleep(0.25)  # honour the polling interval
        tokens = (await _poll(sim, client, start["device_code"])).json()
        assert tokens["scope"] == ["user:read:chat", "user:bot"] and tokens["refresh_token"]
        await asyncio.sleep(0.25)
        reused = await _poll(sim, client, start["device_code"])
        assert reused.json() == {"status": 400, "message": "invalid device code"}


async def test_device_flow_polling_too_fast_gets_slow_down_and_expired_codes_are_invalid():
    async with (
        run_simulator(device_poll_interval_s=5, device_code_lifetime_s=0.5) as sim,
        oauth(sim) as client,
    ):
        start = (
            await client.post("/device", data={"client_id": sim.client_id, "scopes": ""})
        ).json()
        assert (await _poll(sim, client, start["device_code"])).json()[
            "message"
        ] == "authorization_pending"
        assert (await _poll(sim, client, start["device_code"])).json()["message"] == "slow_down"
        await asyncio.sleep(0.6)  # past the code's lifetime
        assert (await _poll(sim, client, start["device_code"])).json()[
            "message"
        ] == "invalid device code"
        assert (await _poll(sim, client, "made-up")).json()["message"] == "invalid device code"


async def test_device_flow_can_auto_approve_after_n_polls():
    async with (
        run_simulator(
            device_poll_interval_s=0.1, device_auto_approve_after_polls=2, authorize_as="bot"
        ) as sim,
        oauth(sim) as client,
    ):
        start = (
            await client.post("/device", data={"client_id": sim.client_id, "scopes": "user:bot"})
        ).json()
        assert (await _poll(sim, client, start["device_code"])).status_code == 400
        await asyncio.sleep(0.15)
        token = (await _poll(sim, client, start["device_code"])).json()["access_token"]
        validated = (
            await client.get("/validate", headers={"Authorization": f"OAuth {token}"})
        ).json()
    assert validated["login"] == "streamcore_bot"
