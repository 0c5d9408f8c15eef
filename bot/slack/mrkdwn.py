"""Slack mrkdwn text: escaping what users and tools wrote, and cutting it into pieces Slack accepts."""

from __future__ import annotations

import re
from typing import Final

ELLIPSIS: Final = "…"
_ENTITY_MAX_CHARS: Final = len("&amp;")
_USER_ID_RE: Final = re.compile(r"[UW][A-Z0-9]{2,20}")


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` so that text cannot mention, link or ping (``<!channel>``) in Slack."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(escaped: str) -> str:
    """The inverse of :func:`escape`."""
    return escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def raw_length(pieces: list[str]) -> int:
    """How many characters of the original text escaped ``pieces`` hold (line breaks at the cuts not counted)."""
    return sum(len(unescape(piece)) for piece in pieces)


def clip(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, the last one an ellipsis when something was cut (raw text)."""
    if len(text) <= max_chars:
        return text
    return text[: max(max_chars - 1, 0)] + ELLIPSIS


def is_user_id(text: str) -> bool:
    """Whether ``text`` is shaped like a Slack user id (``U…`` or ``W…``)."""
    return _USER_ID_RE.fullmatch(text) is not None


def mention(user_id: str) -> str:
    """``<@U…>`` for a Slack user id; anything else is shown as escaped text, never as a mention."""
    return f"<@{user_id}>" if is_user_id(user_id) else escape(user_id)


def split_escaped(text: str, max_chars: int) -> list[str]:
    """Escape ``text`` and cut it into non-blank pieces of at most ``max_chars``, at line ends where possible."""
    if max_chars <= _ENTITY_MAX_CHARS:
        raise ValueError(f"max_chars must be more than {_ENTITY_MAX_CHARS}")
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        escaped = escape(line)
        if len(current) + len(escaped) <= max_chars:
            current += escaped
            continue
        pieces.append(current)
        while len(escaped) > max_chars:
            cut = _cut_at(escaped, max_chars)
            pieces.append(escaped[:cut])
            escaped = escaped[cut:]
        current = escaped
    pieces.append(current)
    return [piece.rstrip("\r\n") for piece in pieces if piece.strip()]


def _cut_at(escaped: str, max_chars: int) -> int:
    """Where to cut escaped text at most ``max_chars`` long without splitting an ``&…;`` entity."""
    amp = escaped.rfind("&", max_chars - _ENTITY_MAX_CHARS + 1, max_chars)
    if amp != -1 and escaped.find(";", amp) >= max_chars:
        return amp
    return max_chars
