"""`streamcore trigger <type>`: fire events at a running simulator (`streamcore simulate`).

This command only posts one request to the simulator's control API, which generates the
events, checks the `--set` fields against them and answers with a one-line reason for anything
it refuses (an unknown type with the supported ones, an unknown field with that event's
fields). So it imports nothing beyond the standard library and `simulator.errors`: no httpx,
no FastAPI, no pydantic (tests/simulator/test_trigger_cli.py checks it stays so).
"""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_SIMULATOR = "http://127.0.0.1:8090"
#: Seconds to wait for the simulator beyond the time a `--rate` burst takes.
TIMEOUT_S = 30.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("trigger", help="fire EventSub events at a running simulator")
    parser.add_argument(
        "type",
        help="subscription type, e.g. channel.follow (an unknown one lists the supported types)",
    )
    parser.add_argument("--count", type=int, default=1, help="how many events (default 1)")
    parser.add_argument("--rate", type=float, help="events per second (default: all at once)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help=(
            "override an event field (dotted for nested: message.text=hi; JSON for a list or "
            "an object); repeatable. An unknown field lists the event's fields"
        ),
    )
    parser.add_argument(
        "--simulator",
        default=DEFAULT_SIMULATOR,
        help=f"simulator URL (default {DEFAULT_SIMULATOR})",
    )
    parser.set_defaults(func=run)


def _assignments(pairs: list[str]) -> dict[str, str]:
    from simulator.errors import SimulatorError

    assignments = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep or not field:
            raise SimulatorError(f"--set expects FIELD=VALUE, got {pair!r}")
        assignments[field] = value
    return assignments


def _post(url: str, body: dict[str, Any], timeout: float) -> tuple[int, bytes]:
    """POST `body` as JSON; the status and the body of the answer, errors included."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def _detail(raw: bytes) -> str:
    """The simulator's reason in an error body (`message`, or FastAPI's `detail`)."""
    import json

    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip()
    if not isinstance(body, dict):
        return str(body)
    detail = body.get("message") or body.get("detail")
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        where = ".".join(str(part) for part in detail[0].get("loc", ())[1:])
        return f"{where}: {detail[0].get('msg', 'invalid')}" if where else str(detail[0])
    return str(detail)


def run(args: argparse.Namespace) -> int:
    import json

    from simulator.errors import SimulatorError, SimulatorUnreachable

    body: dict[str, Any] = {"type": args.type, "count": args.count, "set": _assignments(args.set)}
    if args.rate is not None:
        body["rate"] = args.rate
    url = args.simulator.rstrip("/") + "/control/trigger"
    timeout = TIMEOUT_S + (args.count / args.rate if args.rate else 0.0)
    try:
        status, raw = _post(url, body, timeout)
    except (OSError, ValueError):  # refused, unreachable, timed out, or not an http URL
        raise SimulatorUnreachable(
            f"no simulator at {args.simulator}; start one with `streamcore simulate`"
        ) from None
    if status == 400:
        raise SimulatorError(_detail(raw))
    if status != 200:
        raise SimulatorError(f"trigger failed ({status}): {_detail(raw)}")
    result = json.loads(raw)
    hint = "" if result["delivered"] else " (no session holds a matching enabled subscription)"
    print(f"{args.type}: delivered {result['delivered']} notification(s){hint}")
    return 0
