"""Tokens at rest: Fernet-encrypted in the store, under a key from settings or a key file.

With TOKEN_ENCRYPTION_KEY unset, the first start writes a fresh key to
`STREAMCORE_DATA_DIR/token.key` (mode 0600) and warns; later starts reuse that file. Losing the
key only means authorizing again: an undecryptable row is treated as no token.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from core.logging import add_secret
from core.settings import Settings
from db_infrastructure.base import Store
from tokens.constants import TOKEN_KEY, TOKENS_NAMESPACE
from tokens.model import TokenSet

logger = logging.getLogger("streamcore.tokens")

KEY_FILE_NAME = "token.key"


def load_cipher(settings: Settings) -> Fernet:
    """The Fernet used for tokens: TOKEN_ENCRYPTION_KEY, or the data dir's key file."""
    if settings.token_encryption_key is not None:
        key = settings.token_encryption_key.get_secret_value()
        add_secret(key)
        return Fernet(key.encode())
    return Fernet(_key_from_file(settings.streamcore_data_dir / KEY_FILE_NAME))


def _key_from_file(path: Path) -> bytes:
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        key = b""
    if key:
        add_secret(key.decode())
        logger.info("Tokens are encrypted with the key in %s (TOKEN_ENCRYPTION_KEY is unset)", path)
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        # O_EXCL: when two processes start together, exactly one writes the key.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _key_from_file(path)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key + b"\n")
    add_secret(key.decode())
    logger.warning(
        "TOKEN_ENCRYPTION_KEY is unset: generated a token encryption key in %s (mode 0600). "
        "Back it up, or set TOKEN_ENCRYPTION_KEY to a Fernet key, and keep it across restarts; "
        "without it the stored Twitch token cannot be read and you must authorize again.",
        path,
    )
    return key


class TokenVault:
    """Reads and writes one user token, encrypted, through the store: the default channel's
    (`key` TOKEN_KEY) or another channel's (`channel:<id>`).

    Give it a Fernet, or settings to load one from (lazily: no key file is created before
    there is a token to protect).
    """

    def __init__(self, store: Store, cipher: Fernet | Settings, key: str = TOKEN_KEY) -> None:
        self._store = store
        self._key = key
        self._settings = cipher if isinstance(cipher, Settings) else None
        self._fernet = cipher if isinstance(cipher, Fernet) else None

    @property
    def _cipher(self) -> Fernet:
        if self._fernet is None:
            assert self._settings is not None
            self._fernet = load_cipher(self._settings)
        return self._fernet

    async def load(self) -> TokenSet | None:
        sealed = await self._store.get(TOKENS_NAMESPACE, self._key)
        if sealed is None:
            return None
        try:
            return TokenSet.from_json(self._cipher.decrypt(sealed.encode()).decode())
        except InvalidToken:
            logger.warning(
                "The stored Twitch token cannot be decrypted with the current encryption key "
                "(TOKEN_ENCRYPTION_KEY or the key file changed). Authorize again at /tokens/link."
            )
            return None

    async def save(self, token: TokenSet) -> None:
        sealed = self._cipher.encrypt(token.to_json().encode()).decode()
        await self._store.put(TOKENS_NAMESPACE, self._key, sealed)

    async def delete(self) -> None:
        await self._store.delete(TOKENS_NAMESPACE, self._key)
