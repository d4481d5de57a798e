"""The app's lifespan builds the token manager, the Helix client and one HTTP client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from app.factory import create_app
from app.services import Services
from tests.tokens.conftest import settings_for


async def test_lifespan_builds_tokens_helix_and_http_and_serves_the_link(
    sim: Any, tmp_path: Path
) -> None:
    app = create_app(settings_for(sim, tmp_path))
    async with app.router.lifespan_context(app):
        runtime: Services = app.state.services
        assert runtime.tokens is not None and runtime.helix is not None
        assert isinstance(runtime.http, httpx.AsyncClient)
        assert "tokens.validation" in runtime.tasks.running()
        assert runtime.tokens.state == "auth_required"  # nothing stored yet
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as api:
            link = await api.get("/tokens/link")
            status = await api.get("/tokens")
    assert link.status_code == 200
    assert link.json()["auth_url"].startswith(f"{sim.auth_url}/authorize?")
    assert status.json()["state"] == "auth_required"
    assert runtime.http.is_closed
