"""Realistic values the event generator draws from: viewers, chat lines, emotes, rewards.

Kept apart from `events.py` so the generator reads as logic, and this file as data.
"""

from __future__ import annotations

#: Viewers who follow, subscribe, cheer and chat: (id, login, display_name).
VIEWERS: tuple[tuple[str, str, str], ...] = (
    ("518233478", "cozycactus", "CozyCactus"),
    ("402918374", "bytewitch", "ByteWitch"),
    ("733019284", "sleepy_otter_", "sleepy_otter_"),
    ("280193746", "grumblegoose", "GrumbleGoose"),
    ("617204958", "starlit_sam", "starlit_sam"),
    ("159372846", "kraken_kid99", "Kraken_Kid99"),
    ("904718263", "lofi_lemur", "LoFi_Lemur"),
    ("367281940", "nightowlnora", "NightOwlNora"),
    ("821093746", "tacotuesdayz", "TacoTuesdayz"),
    ("245601983", "quietthunder", "QuietThunder"),
    ("690182734", "mellowmarmot", "MellowMarmot"),
    ("130984572", "pixelpirate", "PixelPirate"),
    ("578209314", "velvetvoid", "VelvetVoid"),
    ("812736459", "juniperjam", "JuniperJam"),
    ("473819206", "crit_happens", "crit_happens"),
    ("361029485", "ramen_ronin", "Ramen_Ronin"),
    ("998172634", "wobblywizard", "WobblyWizard"),
    ("205938471", "frostbyte_fi", "FrostByte_FI"),
    ("742019385", "mossymoth", "MossyMoth"),
    ("583920174", "hexhoney", "HexHoney"),
    ("119283745", "tinkertoast", "TinkerToast"),
    ("664738291", "sunny_sprout", "sunny_sprout"),
    ("857201943", "chaoscrumpet", "ChaosCrumpet"),
    ("320194857", "dj_dumpling", "DJ_Dumpling"),
)

#: Emotes chat lines may use: name -> (emote id, emote set id, owner id). Global emotes
#: are owned by "0"; the last ones are the broadcaster's channel emotes.
EMOTES: dict[str, tuple[str, str, str]] = {
    "Kappa": ("25", "0", "0"),
    "LUL": ("425618", "0", "0"),
    "PogChamp": ("305954156", "0", "0"),
    "HeyGuys": ("30259", "0", "0"),
    "SeemsGood": ("64138", "0", "0"),
    "BibleThump": ("86", "0", "0"),
    "CoolCat": ("58127", "0", "0"),
    "lunariHeart": ("emotesv2_3f5c1a0e9b8d4c2fa7e61b0d9c3e5f71", "318420556", "71092938"),
    "lunariTea": ("emotesv2_8a2d6e4b1c9f47d0b3e5a7c9d1f2e4b6", "318420556", "71092938"),
}

#: Chat lines; emote names are matched word by word into emote fragments.
CHAT_LINES: tuple[str, ...] = (
    "hello chat HeyGuys",
    "that jump was insane PogChamp",
    "LUL LUL LUL",
    "first time catching the stream live, the pixel art is so good lunariHeart",
    "tea break? lunariTea",
    "gg that boss fight was wild",
    "Kappa totally planned",
    "can you show the settings for the shader?",
    "BibleThump rip the run",
    "vibing to the music SeemsGood",
    "CoolCat CoolCat",
    "what game is next week?",
    "@cozycactus welcome back! HeyGuys",
    "the chat is so comfy today lunariHeart lunariHeart",
)

#: Resub messages.
RESUB_LINES: tuple[str, ...] = (
    "two years already! lunariHeart",
    "Love the streams, keep it up PogChamp",
    "back for another month of cozy vibes lunariTea",
    "HeyGuys happy to support",
)

#: What cheerers write after their cheermotes (`events_chat.cheer_text` puts the cheermotes,
#: which add up to the bits, in front).
CHEER_LINES: tuple[str, ...] = (
    "great stream!",
    "for the boss fight",
    "hydrate!",
    "double hype",
    "lunariHeart",
)
#: Bits of a simulated cheer.
CHEER_BITS: tuple[int, ...] = (1, 100, 100, 250, 500, 1000, 5000)
#: Cheermote prefixes the simulator writes and recognises (Twitch matches them in any case).
CHEERMOTE_PREFIXES: tuple[str, ...] = ("Cheer",)
#: Cheermote tiers: the least bits of each tier (Twitch's cheermote `tier`).
CHEERMOTE_TIERS: tuple[int, ...] = (1, 100, 1000, 5000, 10000)

#: Channel points rewards: (id, title, cost, prompt, needs input).
REWARDS: tuple[tuple[str, str, int, str, bool], ...] = (
    (
        "92af127c-7326-4483-a52b-b0da0be61c01",
        "Hydrate!",
        500,
        "Make the streamer drink water",
        False,
    ),
    (
        "b8d1c5a0-3e7f-4c2b-9a61-0d4e8f2b7c13",
        "Song request",
        2000,
        "Name a song (artist - title)",
        True,
    ),
    ("5f3e2d1c-7b6a-4958-8e0f-1a2b3c4d5e6f", "Choose the next map", 5000, "Which map?", True),
    ("e7c6b5a4-9382-4716-a5b4-c3d2e1f0a9b8", "Posture check", 300, "Sit up straight!", False),
)
REWARD_INPUTS: tuple[str, ...] = (
    "Lo-fi Girl - Snowman",
    "the volcano level please",
    "C418 - Sweden",
    "the one with the big tree",
)

POLL_TITLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Which game next stream?", ("Stardew Valley", "Celeste", "Hades II")),
    ("Best snack?", ("Dumplings", "Popcorn", "Mochi", "Nachos")),
    ("Should we try the hard mode?", ("Yes", "No")),
)
PREDICTION_TITLES: tuple[tuple[str, tuple[str, str]], ...] = (
    ("Will we beat the boss this try?", ("Yes, easy", "No way")),
    ("How many deaths this level?", ("Under 5", "5 or more")),
    ("Will the tea go cold?", ("It will", "Never")),
)

#: Categories: (id, name).
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("509658", "Just Chatting"),
    ("509660", "Art"),
    ("493057", "Stardew Valley"),
    ("504461", "Celeste"),
    ("1469308723", "Hades II"),
    ("26936", "Music"),
)
STREAM_TITLES: tuple[str, ...] = (
    "cozy pixel art & tea | !socials",
    "first playthrough, no spoilers please!",
    "speedrun practice (any%) | !pb",
    "chill Sunday stream lunariTea",
)
LANGUAGES: tuple[str, ...] = ("en", "en", "de", "fr", "es")

BAN_REASONS: tuple[str, ...] = ("spam links", "be nice in chat", "", "ban evasion")
GOAL_DESCRIPTIONS: tuple[str, ...] = ("Road to 1k followers!", "Sub goal: new emote", "")

#: Badge sets a chatter may show: (set_id, id, info).
BADGES: tuple[tuple[str, str, str], ...] = (
    ("subscriber", "12", "14"),
    ("subscriber", "0", "2"),
    ("moderator", "1", ""),
    ("vip", "1", ""),
    ("bits", "1000", ""),
    ("premium", "1", ""),
)
CHAT_COLORS: tuple[str, ...] = ("#FF4500", "#1E90FF", "#9ACD32", "#8A2BE2", "#DAA520", "")

SUB_TIERS: tuple[str, ...] = ("1000", "1000", "1000", "2000", "3000")
