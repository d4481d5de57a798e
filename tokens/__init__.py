"""Twitch authorization for StreamCore: tokens obtained once, kept valid, stored encrypted.

- `tokens.manager.TokenManager`: hands out a valid user access token (refresh, validation,
  single-flight across processes, `auth_required` state with a link).
- `tokens.helix.HelixClient`: every Helix call, with Client-Id, bearer token and retry policy.
- `app.routes.tokens.router`: /tokens/link, /tokens/callback, /tokens/device, DELETE /tokens.
- `tokens.readiness.require_ready`: raises `AuthRequired` (with the link) when auth is needed.
- `tokens.errors`: the exception tree (root `TokenError`).
"""
