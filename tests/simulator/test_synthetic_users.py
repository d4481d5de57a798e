"""Synthetic channels made through the control API are real to Helix, OAuth and EventSub."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from simulator.testing import run_simulator
from tests.simulator.conduit_helpers import app_api, assert_error
from tests.simulator.helpers import control, helix, oauth

pytestmark = pytest.mark.slow  # the simulator serves on a port

LISTED_FIELDS = {
    "id",
    "login",
    "display_name",
    "broadcaster_type",
    "role",
    "synthetic",
    "authorized",
}


async def test_create_users_numbers_logins_from_the_prefix_and_lists_them(simulator):
    async with control(simulator) as ctl:
        created = await ctl.post("/users", json={"count": 3, "prefix": "chan"})
        more = await ctl.post("/users", json={"count": 1, "prefix": "chan", "logins": ["zed_tv"]})
        listed = await ctl.get("/users", params={"synthetic": "true"})
        everyone = await ctl.get("/users")
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"data", "total_synthetic"} and body["total_synthetic"] == 3
    assert [u["login"] for u in body["data"]] == ["chan0001", "chan0002", "chan0003"]
    assert all(set(u) == {"id", "login", "display_name"} for u in body["data"])
    assert all(u["id"].isdigit() for u in body["data"])  # opaque numeric strings, as on Twitch
    assert len({u["id"] for u in body["data"]}) == 3
    # A second call continues the numbering; explicit logins come first.
    assert [u["login"] for u in more.json()["data"]] == ["zed_tv", "chan0004"]
    assert listed.status_code == 200
    rows = listed.json()["data"]
    assert listed.json()["total"] == 5 and len(rows) == 5
    assert all(set(row) == LISTED_FIELDS for row in rows)
    assert all(row["synthetic"] and row["role"] is None and not row["authorized"] for row in rows)
    roles = {row["role"] for row in everyone.json()["data"]}
    assert {"broadcaster", "moderator", "bot"} <= roles
    assert everyone.json()["total"] == len(simulator.state.users_by_id)


async def test_create_users_refuses_bad_requests_and_changes_nothing(simulator):
    async with control(simulator) as ctl:
        assert (await ctl.post("/users", json={})).status_code == 400
        assert (
            await ctl.post("/users", json={"count": 2, "prefix": "Bad-Prefix"})
        ).status_code == (400)
        assert (await ctl.post("/users", json={"logins": ["ab"]})).status_code == 400
        taken = await ctl.post("/users", json={"logins": ["lunaria_live"]})
        twice = await ctl.post("/users", json={"logins": ["samename", "samename"]})
        too_many = await ctl.post("/users", json={"count": 50_001})
    assert taken.status_code == 409 and set(taken.json()) == {"error", "status", "message"}
    assert twice.status_code == 409
    assert too_many.status_code == 422
    assert simulator.state.directory.synthetic == {}


async def test_thousands_of_users_are_cheap_and_helix_get_users_finds_them():
    async with run_simulator() as sim, control(sim) as ctl:
        created = (await ctl.post("/users", json={"count": 2000, "prefix": "bulk"})).json()["data"]
        ids = [u["id"] for u in created[:60]]
        logins = [u["login"] for u in created[-40:]]
        async with app_api(sim) as api:
            found = await api.get(
                "/users",
                params=[("id", i) for i in ids] + [("login", login.upper()) for login in logins],
            )
            over = await api.get("/users", params=[("id", u["id"]) for u in created[:101]])
    assert found.status_code == 200, found.text
    data = found.json()["data"]
    assert [u["id"] for u in data] == ids + [u["id"] for u in created[-40:]]
    first = data[0]
    assert first["login"] == "bulk0001" and first["display_name"] == "Bulk0001"
    assert {"type", "broadcaster_type", "description", "created_at"} <= set(first)
    assert "Ratelimit-Remaining" in found.headers
    assert_error(over, 400)


async def test_authorization_code_flow_signs_in_as_a_synthetic_user(simulator):
    async with control(simulator) as ctl, oauth(simulator) as client:
        user = (await ctl.post("/users", json={"logins": ["pixelpond"]})).json()["data"][0]
        steered = await ctl.post("/oauth", json={"authorize_as": "pixelpond"})
        params = {
            "client_id": simulator.client_id,
            "redirect_uri": simulator.redirect_uri,
            "response_type": "code",
            "scope": "channel:read:subscriptions bits:read",
            "state": "s1",
        }
        redirect = await client.get("/authorize", params=params)
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        tokens = await client.post(
            "/token",
            data={
                "client_id": simulator.client_id,
                "client_secret": simulator.client_secret,
                "code": code,
                "grant_type": "authorization_code",
                "redirect_uri": simulator.redirect_uri,
            },
        )
        access = tokens.json()["access_token"]
        validated = await client.get("/validate", headers={"Authorization": f"OAuth {access}"})
        unknown = await ctl.post("/oauth", json={"authorize_as": "nobody_here"})
        listed = (await ctl.get("/users", params={"synthetic": "true"})).json()["data"]
    assert steered.json() == {
        "authorize_as": "pixelpond",
        "deny": False,
        "user_id": user["id"],
        "login": "pixelpond",
    }
    assert validated.json()["user_id"] == user["id"] and validated.json()["login"] == "pixelpond"
    assert unknown.status_code == 404
    assert listed[0]["authorized"] is True


async def test_device_flow_and_issue_accept_any_user_id_or_login():
    async with (
        run_simulator(device_poll_interval_s=0.05) as sim,
        control(sim) as ctl,
        oauth(sim) as client,
    ):
        user = (await ctl.post("/users", json={"count": 1, "prefix": "dev"})).json()["data"][0]
        start = (
            await client.post("/device", data={"client_id": sim.client_id, "scopes": "bits:read"})
        ).json()
        approved = await ctl.post(
            "/device/approve", json={"user_code": start["user_code"], "user": user["id"]}
        )
        polled = await client.post(
            "/token",
            data={
                "client_id": sim.client_id,
                "device_code": start["device_code"],
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            },
        )
        issued = await ctl.post("/tokens/issue", json={"user": "dev0001", "scopes": ["bits:read"]})
        missing = await ctl.post("/tokens/issue", json={"user": "99999999999"})
        async with helix(sim, issued.json()["access_token"]) as api:
            me = (await api.get("/users")).json()["data"]
    assert approved.json() == {
        "user_code": start["user_code"],
        "approved": True,
        "user_id": user["id"],
    }
    assert polled.status_code == 200, polled.text
    assert issued.status_code == 200 and issued.json()["scope"] == ["bits:read"]
    assert missing.status_code == 404
    assert [u["login"] for u in me] == ["dev0001"]


async def test_create_users_with_authorize_issues_each_a_broadcaster_token(simulator):
    async with control(simulator) as ctl:
        created = await ctl.post(
            "/users",
            json={"count": 2, "prefix": "auth", "authorize": True, "scopes": ["bits:read"]},
        )
    rows = created.json()["data"]
    assert all(
        set(row) == {"id", "login", "display_name", "access_token", "refresh_token", "scope"}
        for row in rows
    )
    assert all(row["scope"] == ["bits:read"] for row in rows)
    for row in rows:
        assert simulator.state.oauth.validate(row["access_token"])["user_id"] == row["id"]
