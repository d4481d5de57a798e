"""Chat commands: `!so raider` in chat runs a worker's method, with permission and cooldowns.

    class Shoutouts(CommandWorker):
        @command("so", aliases=["shoutout"], cooldown_s=30, user_cooldown_s=60,
                 permission="moderator")
        async def so(self, ctx: CommandContext) -> None:
            await ctx.reply(f"Go follow {ctx.args[0]}!")

A `CommandWorker` reads `channel.chat.message` and routes each message that starts with
PREFIX to the command named by its first word (or an alias), case-insensitively:
- **permission** from the chatter's badges: everyone < subscriber < vip < moderator <
  broadcaster (a higher rank may use what a lower one may);
- **cooldowns**, global (`cooldown_s`) and per chatter (`user_cooldown_s`), kept in the
  worker's state with a time to live, so they hold across replicas and restarts. The
  broadcaster and moderators skip cooldowns (Twitch bots' usual rule);
- a refused or cooling command is ignored (no reply: chat stays quiet).
`ctx.reply(text)` answers in chat as a reply to the command's message (as the bot account when
one is authorized, else as StreamCore's user). Each use is emitted as `chat.command` for
overlays and logs.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel

from tokens.errors import HelixError
from workers.base import BaseWorker
from workers.models import ChannelChatMessage

__all__ = [
    "PREFIX",
    "CommandContext",
    "CommandSpec",
    "CommandWorker",
    "CommandsWorker",
    "command",
]

PREFIX = "!"
Permission = Literal["everyone", "subscriber", "vip", "moderator", "broadcaster"]
RANKS: dict[str, int] = {
    "everyone": 0,
    "subscriber": 1,
    "vip": 2,
    "moderator": 3,
    "broadcaster": 4,
}
COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,25}$")
_MARK = "__streamcore_command__"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class CommandSpec:
    name: str
    method: str
    aliases: tuple[str, ...] = ()
    cooldown_s: float = 0.0
    user_cooldown_s: float = 0.0
    permission: Permission = "everyone"
    description: str = ""


def command(
    name: str,
    *,
    aliases: list[str] | tuple[str, ...] = (),
    cooldown_s: float = 0.0,
    user_cooldown_s: float = 0.0,
    permission: Permission = "everyone",
    description: str | None = None,
) -> Callable[[F], F]:
    """Declare `async def method(self, ctx: CommandContext)` as `!name` (module docstring)."""
    for word in (name, *aliases):
        if not COMMAND_NAME.match(word):
            raise ValueError(f"command {word!r}: use 1-25 lower-case letters, digits or _")
    if permission not in RANKS:
        raise ValueError(f"permission must be one of {', '.join(RANKS)}")

    def mark(method: F) -> F:
        if not inspect.iscoroutinefunction(method):
            raise TypeError(f"@command({name!r}) needs an `async def` method")
        doc = description or (inspect.getdoc(method) or "").split("\n\n")[0].strip()
        spec = CommandSpec(
            name, method.__name__, tuple(aliases), cooldown_s, user_cooldown_s, permission, doc
        )
        setattr(method, _MARK, spec)
        return method

    return mark


def rank_of(badges: list[Any]) -> int:
    """The highest rank among a chatter's badges (`set_id`s)."""
    names = {getattr(badge, "set_id", None) for badge in badges}
    return max((RANKS[name] for name in names if name in RANKS), default=0)


@dataclass
class CommandContext:
    """One use of a command: who, where, with which words."""

    worker: CommandWorker
    spec: CommandSpec
    event: ChannelChatMessage
    args: list[str] = field(default_factory=list)

    @property
    def user_login(self) -> str:
        return self.event.chatter_user_login

    @property
    def user_name(self) -> str:
        return self.event.chatter_user_name

    @property
    def text(self) -> str:
        """Everything after the command word."""
        return " ".join(self.args)

    async def reply(self, text: str) -> dict[str, Any]:
        """Answer in chat, as a reply to the command's message."""
        return await self.worker.say(
            text[:500], self.event.broadcaster_user_id, reply_to=self.event.message_id
        )


class CommandWorker(BaseWorker):
    """A worker whose `@command` methods answer chat (subclass it; see the module docstring)."""

    abstract = True
    required_scopes: ClassVar[list[str]] = ["user:read:chat", "user:write:chat"]

    def get_subscriptions(self, broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
        condition = {"broadcaster_user_id": broadcaster_id, "user_id": moderator_id}
        return [{"type": "channel.chat.message", "version": "1", "condition": condition}]

    @classmethod
    def commands(cls) -> dict[str, CommandSpec]:
        """Every name and alias -> its command."""
        found: dict[str, CommandSpec] = {}
        for _, member in inspect.getmembers(cls, inspect.iscoroutinefunction):
            spec = getattr(member, _MARK, None)
            if isinstance(spec, CommandSpec):
                for word in (spec.name, *spec.aliases):
                    found[word] = spec
        return found

    async def handle(self, event_type: str, payload: dict[str, Any]) -> None:
        event = self.parse(payload)
        if not isinstance(event, ChannelChatMessage):
            return
        words = event.message.text.strip().split()
        if not words or not words[0].startswith(PREFIX):
            return
        spec = self.commands().get(words[0][len(PREFIX) :].lower())
        if spec is None:
            return
        rank = rank_of(list(event.badges))
        if rank < RANKS[spec.permission]:
            self.logger.info(
                "!%s refused for %s (%s only)", spec.name, event.chatter_user_login, spec.permission
            )
            return
        if rank < RANKS["moderator"] and not await self._cooled(spec, event.chatter_user_id):
            return
        await getattr(self, spec.method)(CommandContext(self, spec, event, words[1:]))
        await self.emit(
            "chat.command",
            {
                "command": spec.name,
                "args": words[1:],
                "user": {"id": event.chatter_user_id, "login": event.chatter_user_login},
            },
        )

    async def _cooled(self, spec: CommandSpec, user_id: str) -> bool:
        """True when neither cooldown runs; starts both. Kept in state with a TTL."""
        keys = []
        if spec.cooldown_s > 0:
            keys.append((f"cooldown:{spec.name}", spec.cooldown_s))
        if spec.user_cooldown_s > 0:
            keys.append((f"cooldown:{spec.name}:{user_id}", spec.user_cooldown_s))
        for key, _ in keys:
            if await self.state.get(key) is not None:
                return False
        now = time.time()
        for key, ttl_s in keys:
            await self.state.set(key, now, ttl_s=ttl_s)
        return True

    async def say(
        self, text: str, broadcaster_id: str, reply_to: str | None = None
    ) -> dict[str, Any]:
        """A chat message in that channel (the bot account's voice when one is authorized)."""
        sender = await self.twitch_as("bot")
        return await sender.send_chat_message(
            text, broadcaster_id, reply_parent_message_id=reply_to
        )


class CommandUse(BaseModel):
    command: str
    args: list[str]
    user: dict[str, str]


class CommandsWorker(CommandWorker):
    """The shipped commands: !uptime, !so (moderators) and !commands."""

    name = "commands"
    emits = {"chat.command": CommandUse}

    @command("uptime", cooldown_s=10, description="How long the stream has been live")
    async def uptime(self, ctx: CommandContext) -> None:
        broadcaster = ctx.event.broadcaster_user_id
        params = [("user_id", broadcaster)]
        streams = (await self.twitch.request("GET", "streams", params=params)).json()["data"]
        login = ctx.event.broadcaster_user_login
        if not streams:
            await ctx.reply(f"{login} is offline.")
            return
        started = datetime.fromisoformat(streams[0]["started_at"].replace("Z", "+00:00"))
        minutes = int((datetime.now(UTC) - started).total_seconds() // 60)
        await ctx.reply(f"{login} has been live for {minutes // 60}h {minutes % 60:02d}m.")

    @command(
        "so",
        aliases=["shoutout"],
        cooldown_s=30,
        user_cooldown_s=60,
        permission="moderator",
        description="Shout out a channel: !so <login>",
    )
    async def so(self, ctx: CommandContext) -> None:
        if not ctx.args:
            await ctx.reply("Usage: !so <channel>")
            return
        login = ctx.args[0].lstrip("@").lower()
        users = (await self.twitch.request("GET", "users", params=[("login", login)])).json()
        if not users.get("data"):
            await ctx.reply(f"There is no channel named {login}.")
            return
        target = users["data"][0]
        moderator = await self.twitch_as("moderator")
        params = [
            ("from_broadcaster_id", ctx.event.broadcaster_user_id),
            ("to_broadcaster_id", target["id"]),
            ("moderator_id", await moderator.own_user_id()),
        ]
        try:
            await moderator.request("POST", "chat/shoutouts", params=params)
        except HelixError as error:
            # Twitch's own shoutout may be refused (offline, cooldown, a scope): still say it.
            self.logger.info("Twitch refused the shoutout of %s: %s", login, error.message)
        await ctx.reply(f"Go follow {target['display_name']}: https://twitch.tv/{target['login']}")

    @command("commands", aliases=["help"], cooldown_s=10, description="What you can use here")
    async def list_commands(self, ctx: CommandContext) -> None:
        rank = rank_of(list(ctx.event.badges))
        usable = sorted(
            {spec.name for spec in self.commands().values() if RANKS[spec.permission] <= rank}
        )
        await ctx.reply("Commands: " + ", ".join(PREFIX + name for name in usable))
