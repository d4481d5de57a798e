"""The `streamcore` command. Each module in `cli/commands/` adds one subcommand.

A command module defines `register(subparsers)`, which adds its parser and sets `func` to a
callable taking the parsed arguments and returning an exit code. Errors StreamCore raises on
purpose end the command with their one-line message, never a traceback; so does a closed
stdout (`streamcore status | head -1`), quietly, with status 141.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import cli.commands
from core.errors import StreamCoreError

#: The exit status when stdout's reader has gone: 128 + SIGPIPE, as the shell reports it.
EXIT_BROKEN_PIPE = 141


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
    try:
        try:
            return _dispatch(argv)
        finally:
            # Flush here, not at exit: a reader that went away (`streamcore status | head -1`)
            # shows as BrokenPipeError now, where it is handled, instead of at interpreter
            # exit, where Python can only print it.
            sys.stdout.flush()
    except BrokenPipeError:
        # The Python docs' recipe (library/signal.html, "Note on SIGPIPE"): point stdout at
        # devnull so the final flush cannot fail again. Exit as a program killed by SIGPIPE
        # does (128 + 13), which is what the shell reports for `cat` or `ls` in its place.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _dispatch(argv: list[str] | None) -> int:
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
