"""The simulated Twitch users: three with roles (broadcaster, moderator, bot) and other channels.

The role users are the ones OAuth can approve as; the other channels exist so raids, shoutouts
and foreign `stream.online` subscriptions name real (simulated) users.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SimUser:
    """A Twitch user as Helix describes it. Ids are opaque numeric strings, as on Twitch."""

    id: str
    login: str
    display_name: str
    broadcaster_type: str = ""
    description: str = ""
    created_at: str = "2019-03-14T18:22:41Z"
    #: Scopes `issue_token(user=...)` grants when the caller names none.
    default_scopes: tuple[str, ...] = field(default=())

    def as_helix(self, include_email: bool = False) -> dict[str, object]:
        """The Get Users entry for this user."""
        entry: dict[str, object] = {
            "id": self.id,
            "login": self.login,
            "display_name": self.display_name,
            "type": "",
            "broadcaster_type": self.broadcaster_type,
            "description": self.description,
            "profile_image_url": f"https://static-cdn.jtvnw.net/jtv_user_pictures/{self.login}-profile_image-300x300.png",
            "offline_image_url": "",
            "view_count": 0,
            "created_at": self.created_at,
        }
        if include_email:
            entry["email"] = f"{self.login}@example.invalid"
        return entry


BROADCASTER_SCOPES = (
    "bits:read",
    "channel:read:subscriptions",
    "channel:read:redemptions",
    "channel:read:polls",
    "channel:read:predictions",
    "channel:read:hype_train",
    "channel:read:goals",
    "channel:read:ads",
    "channel:read:vips",
    "channel:moderate",
    "channel:bot",
    "moderator:read:followers",
    "moderator:read:shoutouts",
    "moderation:read",
    "user:read:chat",
    "user:write:chat",
    # What a broadcaster's app does through Helix: clips, markers, polls, predictions,
    # announcements and shoutouts.
    "clips:edit",
    "channel:manage:broadcast",
    "channel:manage:polls",
    "channel:manage:predictions",
    "moderator:manage:announcements",
    "moderator:manage:shoutouts",
)
MODERATOR_SCOPES = (
    "moderator:read:followers",
    "moderator:read:shoutouts",
    "moderator:manage:announcements",
    "moderator:manage:shoutouts",
    "user:read:chat",
    "user:write:chat",
)
BOT_SCOPES = ("user:bot", "user:read:chat", "user:write:chat")


def default_role_users() -> dict[str, SimUser]:
    """The users OAuth can approve as, keyed by role."""
    return {
        "broadcaster": SimUser(
            "71092938",
            "lunaria_live",
            "Lunaria_Live",
            broadcaster_type="affiliate",
            description="Cozy games, pixel art and too much tea.",
            created_at="2016-05-02T19:41:07Z",
            default_scopes=BROADCASTER_SCOPES,
        ),
        "moderator": SimUser(
            "49207184",
            "mossmodding",
            "MossModding",
            description="Keeping chat comfy since 2018.",
            default_scopes=MODERATOR_SCOPES,
        ),
        "bot": SimUser(
            "852741963",
            "streamcore_bot",
            "StreamCore_Bot",
            description="Beep boop, I run the overlays.",
            created_at="2023-11-08T09:12:55Z",
            default_scopes=BOT_SCOPES,
        ),
    }


#: Other channels: raid partners, shoutout targets, channels watched without authorization.
OTHER_CHANNELS: tuple[SimUser, ...] = (
    SimUser("12826", "twitch", "Twitch", "partner", created_at="2007-05-22T10:39:54Z"),
    SimUser("31239503", "emberquill", "EmberQuill", "partner"),
    SimUser("57431298", "pixelpanda_tv", "PixelPanda_TV", "affiliate"),
    SimUser("88213907", "corvidcasts", "CorvidCasts", "affiliate"),
    SimUser("103482761", "sirspeedrun", "SirSpeedrun", "partner"),
    SimUser("119284302", "nebulanoodle", "NebulaNoodle", "affiliate"),
    SimUser("140873316", "tidepoolgames", "TidepoolGames", ""),
    SimUser("162930475", "glitchgardener", "GlitchGardener", "affiliate"),
    SimUser("187465093", "kestrel_keys", "Kestrel_Keys", ""),
    SimUser("204917384", "mapleandmana", "MapleAndMana", "affiliate"),
    SimUser("226104739", "voxelvixen", "VoxelVixen", "partner"),
    SimUser("245873120", "quietquasar", "QuietQuasar", ""),
)
