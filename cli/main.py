"""The `streamcore` command. Each module in `cli/commands/` adds one subcommand.

A command module defines `register(subparsers)`, which adds its parser and sets `func` to a
callable taking the parsed arguments and returning an exit code. Errors StreamCore raises on
purpose end the command with their one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import cli.commands
from core.errors import StreamCoreError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamcore",
        description="StreamCore: a backend for Twitch apps (EventSub, workers, overlays).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(cli.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"cli.commands.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except StreamCoreError as error:
        print(f"streamcore: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
