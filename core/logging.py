"""Logging set-up: text or JSON lines, with every known secret redacted.

Secrets (client secret, admin token, OAuth tokens, keys) are registered with `add_secret` as
soon as StreamCore learns them; the redaction filter replaces them with `***` in every record,
whatever logger emitted it (ours, uvicorn's, httpx's).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

#: Token-shaped secrets (OAuth tokens, codes, client keys: letters, digits, `_` and `-`), by
#: value. A thousand channels bring thousands of them, rotating on every refresh, so they are
#: found by a set lookup per word of a line, not by one alternation of them all (recompiled
#: on every new token, that made adding channels quadratic). Oldest first; bounded.
_token_secrets: dict[str, None] = {}
MAX_TOKEN_SECRETS = 200_000
_WORD = re.compile(r"[A-Za-z0-9_-]{6,}")
#: Other secrets (an admin token or a Fernet key with other characters): few, rarely added.
_other_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
# Bearer/OAuth headers and token-looking query parameters, in case a library logs a request.
_GENERIC = re.compile(
    r"(?i)((?:bearer|oauth)\s+|(?:access_token|refresh_token|client_secret|code|key|token)=)"
    r"([A-Za-z0-9._~+/=-]{8,})"
)
_TOKEN_SHAPED = re.compile(r"[A-Za-z0-9_-]+")


def add_secret(value: str | None) -> None:
    """Redact `value` from every log line from now on (values under 6 characters are ignored).
    A token-shaped value is redacted where it stands as a whole word (between characters that
    no token has: spaces, quotes, `=`, `&`, `/`, ...), as tokens appear in headers, URLs and
    JSON; any other value wherever it appears."""
    global _pattern
    if not value or len(value) < 6:
        return
    if _TOKEN_SHAPED.fullmatch(value):
        if value not in _token_secrets:
            _token_secrets[value] = None
            if len(_token_secrets) > MAX_TOKEN_SECRETS:
                del _token_secrets[next(iter(_token_secrets))]
    elif value not in _other_secrets:
        _other_secrets.add(value)
        _pattern = re.compile(
            "|".join(re.escape(s) for s in sorted(_other_secrets, key=len, reverse=True))
        )


def _hide_token(match: re.Match[str]) -> str:
    word = match.group(0)
    return "***" if word in _token_secrets else word


def redact(text: str) -> str:
    if _pattern is not None:
        text = _pattern.sub("***", text)
    if _token_secrets:
        text = _WORD.sub(_hide_token, text)
    return _GENERIC.sub(lambda m: m.group(1) + "***", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Formatting the traceback later would bypass redaction; freeze it redacted now.
            cleaned += "\n" + redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.exc_text = None
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Route every logger (ours, uvicorn's, httpx's) through one redacting handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # httpx logs every request URL at INFO; keep it at WARNING so query strings stay out.
    logging.getLogger("httpx").setLevel(logging.WARNING)


class SkipAccessLines(logging.Filter):
    """Drops uvicorn's access line for requests to `path`: the webhook callback gets one
    request per event, whose line would cost more than verifying and storing the event
    (measured: about 36 us of a 180 us request) and repeat what the callback's counters in
    GET /system/status already say. Refusals there are still logged, by the callback."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            return not args[2].startswith(self.path)
        return True


def skip_access_lines(path: str) -> None:
    """Install SkipAccessLines for `path` on uvicorn's access logger (once per path)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, SkipAccessLines) and f.path == path for f in access.filters):
        access.addFilter(SkipAccessLines(path))
