"""deploy/nginx.conf, read two ways: parsed into directives (what the static checks assert on),
and rewritten for a local nginx (what tests/deploy/test_proxy.py runs).

The rewrite replaces only what a machine without Docker must change, each on a line of its
own and each exactly once, so the config under test is the shipped one: the `user`, `pid`,
log and temp paths, the `listen` port, and the `server app:8000 ...` line, which becomes one
line per local replica with the same parameters minus `resolve` (those addresses need no DNS,
and Debian's nginx predates the parameter).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"

_TOKEN = re.compile(r"""\s+|#[^\n]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[{};]|[^\s{};"'#]+""")


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str, ...]
    #: The directives of its block, or None for a simple directive (`name args;`).
    block: tuple[Directive, ...] | None = None

    def all(self, name: str) -> list[Directive]:
        """Every directive called `name` in this block and the blocks below it."""
        return [d for d in walk(self.block or ()) if d.name == name]

    def one(self, name: str, *args: str) -> Directive:
        """The one directive of this block (not below) called `name` with these first args."""
        found = [d for d in self.block or () if d.name == name and d.args[: len(args)] == args]
        assert len(found) == 1, f"{len(found)} `{name} {' '.join(args)}` in `{self.name}`"
        return found[0]

    def values(self, name: str) -> dict[str, str]:
        """`proxy_set_header Host $http_host;` lines of this block as {"Host": "$http_host"}."""
        return {d.args[0]: d.args[1] for d in self.block or () if d.name == name}


def walk(directives: tuple[Directive, ...]) -> Iterator[Directive]:
    for directive in directives:
        yield directive
        yield from walk(directive.block or ())


def parse(text: str) -> Directive:
    """The whole file as the block of a directive named `main`; quotes are kept off values."""
    tokens = [t for t in _TOKEN.findall(text) if not t.isspace() and not t.startswith("#")]
    position = 0

    def block(closing: bool) -> tuple[Directive, ...]:
        nonlocal position
        directives: list[Directive] = []
        words: list[str] = []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token == ";":
                directives.append(Directive(words[0], tuple(words[1:])))
                words = []
            elif token == "{":
                directives.append(Directive(words[0], tuple(words[1:]), block(True)))
                words = []
            elif token == "}":
                assert closing and not words, f"unexpected }} after {words}"
                return tuple(directives)
            else:
                words.append(token[1:-1] if token[0] in "\"'" else token)
        assert not closing and not words, "unterminated block or directive"
        return tuple(directives)

    return Directive("main", (), block(False))


def _replace_line(text: str, pattern: str, replacement: str) -> str:
    """`text` with the one line matching `pattern` (a whole line, indentation kept) replaced;
    `replacement` may use the match's groups."""
    regex = re.compile(r"^(?P<indent>[ \t]*)" + pattern + r"[ \t]*$", re.MULTILINE)
    matches = regex.findall(text)
    assert len(matches) == 1, f"{len(matches)} lines match {pattern!r} in {NGINX_CONF.name}"
    return regex.sub(lambda m: m.expand(replacement), text)


def for_local_nginx(text: str, *, prefix: Path, port: int, replicas: list[int]) -> str:
    """deploy/nginx.conf for a local nginx listening on 127.0.0.1:`port` in front of the
    replicas on 127.0.0.1:`replicas`, every file under `prefix` (see the module docstring)."""
    server = re.search(r"^[ \t]*server app:8000 (.*);[ \t]*$", text, re.MULTILINE)
    assert server is not None, "no `server app:8000 ...;` line"
    parameters = " ".join(p for p in server.group(1).split() if p != "resolve")
    servers = "\n".join(
        rf"\g<indent>server 127.0.0.1:{replica} {parameters};" for replica in replicas
    )
    # The master runs as this user: as root, workers running as root too can reach the temp
    # folder (pytest's is private to its owner); otherwise nginx ignores the directive.
    user = "root" if os.geteuid() == 0 else "nobody"
    temp_paths = "".join(
        f"\\g<indent>{kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    for pattern, replacement in (
        (r"user nginx;", rf"\g<indent>user {user};"),
        (r"pid /var/run/nginx\.pid;", rf"\g<indent>pid {prefix / 'nginx.pid'};"),
        (
            r"error_log /dev/stderr (?P<level>\w+);",
            rf"\g<indent>error_log {prefix / 'error.log'} \g<level>;",
        ),
        (
            r"access_log /dev/stdout (?P<format>\w+);",
            rf"\g<indent>access_log {prefix / 'access.log'} \g<format>;\n{temp_paths.rstrip()}",
        ),
        (r"listen 80 default_server;", rf"\g<indent>listen 127.0.0.1:{port} default_server;"),
        (r"server app:8000 .*;", servers),
    ):
        text = _replace_line(text, pattern, replacement)
    return text
