"""Encrypting secrets at rest (chat tokens, webhook secrets) with a key from GARAGESWARM_SECRET_KEY.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with its key derived by HKDF-SHA256 from the
configured secret and a purpose label, so one setting yields independent keys per use."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecryptionError(ValueError):
    """The ciphertext was not made with this key (or was tampered with)."""


class SecretBox:
    """Encrypts and decrypts short strings for one purpose (``"slack-token"``, ``"webhook-secret"``)."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        if len(secret_key) < 32:
            raise ValueError("the secret key must have at least 32 characters")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"garageswarm:{purpose}".encode()).derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise DecryptionError("cannot decrypt: wrong GARAGESWARM_SECRET_KEY or tampered data") from None
