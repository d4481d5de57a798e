"""`streamcore trigger <type>`: fire events at a running simulator (`streamcore simulate`)."""

from __future__ import annotations

import argparse

DEFAULT_SIMULATOR = "http://127.0.0.1:8090"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("trigger", help="fire EventSub events at a running simulator")
    parser.add_argument("type", help="subscription type, e.g. channel.follow")
    parser.add_argument("--count", type=int, default=1, help="how many events (default 1)")
    parser.add_argument("--rate", type=float, help="events per second (default: all at once)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override an event field (dotted for nested: message.text=hi); repeatable",
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


def run(args: argparse.Namespace) -> int:
    import httpx

    from simulator.errors import SimulatorError, SimulatorUnreachable

    body = {"type": args.type, "count": args.count, "set": _assignments(args.set)}
    if args.rate is not None:
        body["rate"] = args.rate
    url = args.simulator.rstrip("/") + "/control/trigger"
    timeout = 30.0 + (args.count / args.rate if args.rate else 0.0)
    try:
        response = httpx.post(url, json=body, timeout=timeout)
    except httpx.TransportError:
        raise SimulatorUnreachable(
            f"no simulator at {args.simulator}; start one with `streamcore simulate`"
        ) from None
    if response.status_code != 200:
        try:
            detail = response.json().get("message") or response.json().get("detail")
        except ValueError:
            detail = response.text
        raise SimulatorError(f"trigger failed ({response.status_code}): {detail}")
    result = response.json()
    hint = "" if result["delivered"] else " (no session holds a matching enabled subscription)"
    print(f"{args.type}: delivered {result['delivered']} notification(s){hint}")
    return 0
