"""Typed Helix errors, and tokens kept out of reprs and messages (no network)."""

from __future__ import annotations

from tokens.errors import (
    HelixConflict,
    HelixForbidden,
    HelixGone,
    HelixNotFound,
    HelixRateLimited,
    HelixServerError,
    HelixUnauthorized,
    helix_error_for,
)
from tokens.model import TokenGrant, TokenSet

ACCESS = "accesstokenvalue0123456789abcd"
REFRESH = "refreshtokenvalue0123456789abcdefghijklmnopqrstuv"


def test_each_helix_status_maps_to_its_typed_error_with_advice() -> None:
    cases = {
        401: HelixUnauthorized,
        404: HelixNotFound,
        410: HelixGone,
        500: HelixServerError,
        503: HelixServerError,
    }
    for status, kind in cases.items():
        error = helix_error_for("GET", "users", status, {"message": "nope"})
        assert isinstance(error, kind)
        assert error.status == status
        assert error.message == "nope"
    unauthorized = helix_error_for("GET", "users", 401, {})
    assert "TWITCH_CLIENT_ID" in str(unauthorized)


def test_forbidden_names_the_missing_scope_and_how_to_grant_it() -> None:
    body = {"error": "Forbidden", "status": 403, "message": "Missing scope: bits:read"}
    error = helix_error_for("POST", "eventsub/subscriptions", 403, body)
    assert isinstance(error, HelixForbidden)
    assert error.missing_scope == "bits:read"
    assert "bits:read" in str(error)
    assert "/tokens/link" in str(error)


def test_a_url_in_a_forbidden_message_is_not_mistaken_for_a_scope() -> None:
    body = {"message": "see https://dev.twitch.tv/docs for details"}
    error = helix_error_for("GET", "users", 403, body)
    assert isinstance(error, HelixForbidden)
    assert error.missing_scope is None


def test_conflict_carries_the_existing_subscription_id_when_twitch_sends_it() -> None:
    error = helix_error_for("POST", "eventsub/subscriptions", 409, {"message": "x", "id": "abc"})
    assert isinstance(error, HelixConflict)
    assert error.existing_id == "abc"
    assert helix_error_for("POST", "x", 409, {"message": "x"}).existing_id is None  # type: ignore[attr-defined]


def test_rate_limited_carries_the_reset_time() -> None:
    error = helix_error_for("GET", "users", 429, {"message": "slow"}, reset_at=1700000000.0)
    assert isinstance(error, HelixRateLimited)
    assert error.reset_at == 1700000000.0


def test_token_objects_never_show_their_secrets() -> None:
    token = TokenSet(ACCESS, REFRESH, 1.0, ["bits:read"], user_id="1", login="streamer")
    grant = TokenGrant(ACCESS, REFRESH, 3600, ["bits:read"])
    for text in (repr(token), str(token), repr(grant), str(grant), repr([token, grant])):
        assert ACCESS not in text
        assert REFRESH not in text
    assert "streamer" in repr(token)


def test_token_secrets_are_registered_for_log_redaction() -> None:
    from core.logging import redact

    TokenSet(ACCESS, REFRESH, None, [])
    assert ACCESS not in redact(f"something mentioned {ACCESS} and {REFRESH}")
    assert REFRESH not in redact(f"something mentioned {ACCESS} and {REFRESH}")


def test_thousands_of_channel_tokens_are_redacted_without_slowing_each_addition() -> None:
    """Many channels bring thousands of tokens, rotating on every refresh: each one is a set
    entry (redacted as a whole word in headers, URLs and JSON), so adding one costs the same
    at the 5000th as at the first (an alternation recompiled per token made it quadratic:
    adding 1000 channels took minutes of CPU)."""
    import core.logging
    from core.logging import add_secret, redact

    pattern_before = core.logging._pattern
    tokens = [f"{n:06d}tok{'x' * 20}" for n in range(5000)]
    for token in tokens:
        add_secret(token)
    assert core.logging._pattern is pattern_before  # no regex rebuilt for tokens
    line = (
        f"GET /helix?access_token={tokens[0]}&x=1 Authorization: Bearer {tokens[4999]} "
        f'{{"refresh_token":"{tokens[2500]}"}} (\'{tokens[7]}\',)'
    )
    cleaned = redact(line)
    assert not any(token in cleaned for token in (tokens[0], tokens[4999], tokens[2500], tokens[7]))
    assert "GET /helix?access_token=***&x=1" in cleaned
    # Other secrets (an admin token with any characters) are redacted wherever they appear.
    add_secret("adm!n token/with spaces")
    assert redact("x=adm!n token/with spaces.") == "x=***."
