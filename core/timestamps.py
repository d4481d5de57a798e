"""Unix times as the ISO 8601 UTC strings that Twitch and our status output use."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(timestamp: float | None) -> str | None:
    """`1700000000.0` -> `"2023-11-14T22:13:20Z"`; None stays None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(float(timestamp), UTC).isoformat().replace("+00:00", "Z")
