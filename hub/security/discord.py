"""Discord interaction signatures: Ed25519 over ``X-Signature-Timestamp`` + raw body, with the app's public key.

Discord probes the interactions endpoint with bad signatures and expects 401; every failure here is one
``DiscordSignatureError`` so that the door maps it to 401 in one place.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from nacl.exceptions import BadSignatureError
from nacl.exceptions import ValueError as NaclValueError
from nacl.signing import VerifyKey

PUBLIC_KEY_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64
_HEX: Final = re.compile(r"[0-9a-fA-F]*")


class DiscordSignatureError(Exception):
    """The request is not signed by the Discord application's key; ``reason`` says what failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify_discord_request(public_key_hex: str, signature_hex: str, timestamp: str, body: bytes) -> None:
    """Check ``X-Signature-Ed25519`` over ``timestamp + body``; raise DiscordSignatureError on any failure."""
    key = _verify_key(public_key_hex)
    signature = _fixed_hex(signature_hex, SIGNATURE_BYTES, "signature")
    if not timestamp:
        raise DiscordSignatureError("the signature timestamp is missing")
    try:
        key.verify(timestamp.encode() + body, signature)
    except (BadSignatureError, NaclValueError):
        raise DiscordSignatureError("the signature does not match") from None


@functools.lru_cache(maxsize=8)
def _verify_key(public_key_hex: str) -> VerifyKey:
    """Parse the application's public key once per process (it is configuration, not input)."""
    return VerifyKey(_fixed_hex(public_key_hex, PUBLIC_KEY_BYTES, "public key"))


def _fixed_hex(text: str, size: int, what: str) -> bytes:
    """Decode exactly ``size`` bytes of hex (``bytes.fromhex`` alone would also accept spaces)."""
    if len(text) != size * 2 or not _HEX.fullmatch(text):
        raise DiscordSignatureError(f"the {what} is not {size * 2} hex digits")
    return bytes.fromhex(text)
