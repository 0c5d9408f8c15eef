"""The box that encrypts webhook secrets at rest: GARAGESWARM_SECRET_KEY, or for a local setup
without it, a key generated once in the data directory (so ``garageswarm up`` works out of the box)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from hub.security.crypto import SecretBox
from hub.settings import Settings

log = logging.getLogger(__name__)
PURPOSE = "webhook-secret"
DEV_KEY_FILE = "webhook-secret.key"


def dev_secret_key(data_dir: Path) -> str:
    """The data directory's generated key (created on first use, readable by its owner only)."""
    path = data_dir / DEV_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of this installation made it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        log.warning("GARAGESWARM_SECRET_KEY is not set: webhook secrets use a key generated in the data directory")
    return path.read_text().strip()


def webhook_box(settings: Settings) -> SecretBox:
    key = settings.secret_key.get() if settings.secret_key else dev_secret_key(settings.data_dir)
    return SecretBox(key, PURPOSE)
