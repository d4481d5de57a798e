"""The simulator's root page (`GET /`): what it is, the settings that point StreamCore at it,
the simulated users and the control API, read from the running simulator.

`streamcore demo` and `streamcore simulate` print the simulator's URL, so this is the page a
newcomer opens first. Browsers get HTML; a client asking for JSON only gets the same facts as
JSON. Everything shown comes from the live state (the URL the page was reached at, the
registered client and redirect URIs, the control routes), never from a copy that could drift.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute, APIWebSocketRoute

from simulator import control, control_channels, control_users, webhook_routes
from simulator.state import SimulatorState

__all__ = ["CONTROL_CALLS", "router", "settings_for"]

router = APIRouter()

#: What each control call does, by "METHOD path" (docs/simulator.md, "Control API").
CONTROL_CALLS: dict[str, str] = {
    "GET /control/health": "is the simulator up",
    "POST /control/trigger": (
        'fire events: {"type", "version"?, "event"?, "condition"?, "broadcaster_user_id"?, '
        '"set"?: {"path": "raw"}, "count"?, "rate"?, "message_age_s"?}; '
        'answers {"delivered", "message_ids"}'
    ),
    "POST /control/stale": 'as trigger, plus "age_s": a message_timestamp older than 10 minutes',
    "POST /control/duplicate": "send the last (or the named) notification again, same message_id",
    "POST /control/sessions/{session_id}/reconnect": "send session_reconnect",
    "POST /control/sessions/{session_id}/close": 'close with {"code": 4000..4007}',
    "POST /control/sessions/{session_id}/keepalives": 'stop or resume keepalives {"paused"}',
    "POST /control/sessions/{session_id}/silence": 'send nothing at all {"silent"}',
    "POST /control/subscriptions/{sub_id}/revoke": 'send a revocation {"status"}',
    "POST /control/tokens/revoke": (
        'revoke {"access_token"}, or {"user": role, id or login}: the user revokes the app '
        "(as revoke-authorization)"
    ),
    "POST /control/tokens/expire": "the token(s) get 401 from now on",
    "POST /control/tokens/issue": (
        'mint a token {"user": role, id or login, "scopes"?, "expires_in"?}'
    ),
    "POST /control/oauth": (
        'steer /authorize and the device flow {"authorize_as"?: role, id or login, "deny"?}'
    ),
    "POST /control/device/approve": 'approve or deny a device code {"user_code", "user"?, "deny"?}',
    "GET /control/sessions": (
        "sessions with status, close code, subscription count and the conduit shard they carry"
    ),
    "GET /control/subscriptions": "all subscriptions with their statuses",
    "GET /control/conduits": (
        'conduits with their shards, statuses and "dropped" (notifications no shard could take)'
    ),
    "GET /control/tokens": "tokens as fingerprints, with user, scopes, expiry and status",
    "POST /control/users": (
        'make synthetic channels {"count"?, "prefix"?, "logins"?, "broadcaster_type"?, '
        '"authorize"?, "scopes"?}; answers 201 {"data": [{"id", "login", "display_name", '
        '"access_token"?, ...}], "total_synthetic"}'
    ),
    "GET /control/users": (
        "every user (?synthetic=true: only synthetic ones) with role and whether it authorized"
    ),
    "POST /control/users/{user}/revoke-authorization": (
        "the user revokes the app: tokens die, subscriptions needing them are revoked, "
        "user.authorization.revoke is sent"
    ),
    "GET /control/ratelimit": "Helix token buckets: per_minute and each bucket's remaining/reset",
    "POST /control/ratelimit": 'set the capacity {"per_minute"} (buckets start full) or {"refill"}',
    "GET /control/webhooks": (
        "per webhook subscription and shard: challenge, attempts, delivered, failed, "
        "retries_pending, dropped, last_status; and the faults in force"
    ),
    "POST /control/webhooks/faults": (
        'break delivery to {"callback"?}: {"fail_status"?, "fail_count"?, "delay_s"?, '
        '"duplicate"?, "stale"?, "stale_age_s"?}'
    ),
    "DELETE /control/webhooks/faults": "clear the fault for ?callback=, or every fault",
    "GET /control/channels/{user}": (
        "whether the channel is live (stream_id, started_at, viewer_count), its running poll "
        "and prediction"
    ),
    "POST /control/channels/{user}/live": (
        'go live or offline {"live", "viewer_count"?: 1}; sends stream.online / stream.offline'
    ),
    "POST /control/channels/{user}/end-poll": "end the running poll early (TERMINATED)",
    "POST /control/channels/{user}/end-prediction": (
        'resolve {"winning_outcome_id"} or cancel {} the running prediction'
    ),
    "GET /control/chat": (
        "Send Chat Message calls (?broadcaster_id=): sender_id, message, "
        "reply_parent_message_id, message_id, is_sent, drop_reason"
    ),
    "POST /control/chat/drops": (
        'the next {"count"?: 1} chat messages are dropped {"code"?, "message"?}: is_sent false'
    ),
    "GET /control/actions": (
        "recorded Helix actions (?kind=chat_message|announcement|shoutout|clip|marker|poll|"
        "prediction, ?broadcaster_id=), oldest first"
    ),
    "DELETE /control/actions": "forget the recorded actions (cooldowns and running polls stay)",
}

_SURFACES = (
    ("/ws", "EventSub WebSocket (?keepalive_timeout_seconds=10..600)"),
    (
        "/helix",
        "Helix: /eventsub/subscriptions, /eventsub/conduits, /eventsub/conduits/shards, "
        "/users, /chat/messages, /chat/announcements, /chat/shoutouts, /clips, /streams/markers, "
        "/polls, /predictions",
    ),
    ("/oauth2", "OAuth: /authorize, /token, /device, /activate, /validate, /revoke"),
    ("/control", "the control API below"),
)


def settings_for(base_url: str, state: SimulatorState) -> dict[str, str]:
    """The TWITCH_* settings that point StreamCore at the simulator reached at `base_url`."""
    base = base_url.rstrip("/")
    ws_base = "ws" + base[4:] if base.startswith("http") else base
    return {
        "TWITCH_CLIENT_ID": state.config.client_id,
        "TWITCH_CLIENT_SECRET": state.config.client_secret,
        "TWITCH_AUTH_URL": base + "/oauth2",
        "TWITCH_API_URL": base + "/helix",
        "TWITCH_EVENTSUB_WS_URL": ws_base + "/ws",
        "TWITCH_REDIRECT_URI": state.config.redirect_uri,
    }


def control_calls() -> list[tuple[str, str]]:
    """Every control route the app serves, with what it does."""
    calls = []
    routes = [
        *control.router.routes,
        *control_users.router.routes,
        *control_channels.router.routes,
        *webhook_routes.router.routes,
    ]
    for route in routes:
        if isinstance(route, APIRoute | APIWebSocketRoute):
            for method in sorted(getattr(route, "methods", None) or {"WS"}):
                key = f"{method} {route.path}"
                calls.append((key, CONTROL_CALLS.get(key, "")))
    return calls


def _facts(request: Request) -> dict[str, Any]:
    state: SimulatorState = request.app.state.simulator
    base = str(request.base_url).rstrip("/")
    return {
        "name": "StreamCore Twitch simulator",
        "url": base,
        "settings": settings_for(base, state),
        "redirect_uris": list(state.config.redirect_uris),
        "users": {role: {"id": user.id, "login": user.login} for role, user in state.users.items()},
        "control": [{"call": call, "what": what} for call, what in control_calls()],
        "control_docs": base + "/control/docs",
    }


def _rows(pairs: list[tuple[str, str]], code_first: bool = True) -> str:
    cell = "<td><code>{}</code></td><td>{}</td>" if code_first else "<td>{}</td><td>{}</td>"
    return "\n".join("<tr>" + cell.format(escape(a), escape(b)) + "</tr>" for a, b in pairs)


def render(facts: dict[str, Any]) -> str:
    settings = "\n".join(f"{name}={value}" for name, value in facts["settings"].items())
    users = [(role, f"{user['login']} (id {user['id']})") for role, user in facts["users"].items()]
    redirects = ", ".join(facts["redirect_uris"])
    calls = [(call["call"], call["what"]) for call in facts["control"]]
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>StreamCore Twitch simulator</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
  line-height: 1.5; color: #1d1d24; }}
pre, code {{ font-family: ui-monospace, Menlo, Consolas, monospace; }}
pre {{ background: #f2f0f7; padding: .75rem 1rem; border-radius: 6px; overflow-x: auto; }}
table {{ border-collapse: collapse; width: 100%; }}
td {{ border-bottom: 1px solid #ddd; padding: .3rem .5rem; vertical-align: top; }}
</style>
</head>
<body>
<h1>StreamCore Twitch simulator</h1>
<p>A stand-in for Twitch that runs on this machine: the EventSub WebSocket, a Helix subset,
OAuth (browser and device flows) and a control API that makes it do things on demand. Every
StreamCore test uses it, and so does <code>streamcore demo</code>. Nothing here talks to the
real Twitch.</p>

<h2>Point StreamCore at it</h2>
<p>Put these in StreamCore's <code>.env</code> (this simulator's own values):</p>
<pre id="settings">{escape(settings)}</pre>
<p>Registered redirect URIs: <code id="redirect-uris">{escape(redirects)}</code>. Another one?
Restart with <code>streamcore simulate --redirect-uri URL</code> (repeatable), or set
<code>TWITCH_REDIRECT_URI</code> in its environment.</p>

<h2>Fire events</h2>
<pre>uv run streamcore trigger channel.follow
uv run streamcore trigger channel.cheer --set bits=500
uv run streamcore trigger channel.chat.message --set message.text="hello chat"</pre>
<p>Add <code>--simulator {escape(facts["url"])}</code>
when it is not on the default port. An event reaches only the sockets holding a matching enabled
subscription (start StreamCore first).</p>

<h2>Surfaces</h2>
<table>{_rows(list(_SURFACES))}</table>

<h2>Simulated users</h2>
<table>{_rows(users, code_first=False)}</table>

<h2>Control API (JSON)</h2>
<table id="control">{_rows(calls)}</table>
<p>Request and response schemas: <a href="/openapi.json">/openapi.json</a> (and
<a href="/control/docs">/control/docs</a>, which needs internet for its scripts). The whole
story, with the behaviour worth knowing: <code>docs/simulator.md</code> in the StreamCore
folder.</p>
</body>
</html>
"""


@router.get("/", include_in_schema=False)
async def index(request: Request) -> Response:
    facts = _facts(request)
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return JSONResponse(facts)
    return HTMLResponse(render(facts))
