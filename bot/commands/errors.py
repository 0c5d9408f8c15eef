"""The one error a command can raise, and the "did you mean" helper shared by parsing and validation."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

MAX_SUGGESTIONS = 3
SUGGESTION_CUTOFF = 0.6


class CommandError(Exception):
    """A command the user typed cannot be run: ``message`` says why, ``usage`` shows the right form."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage

    def __repr__(self) -> str:
        return f"CommandError(message={self.message!r}, usage={self.usage!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CommandError):
            return NotImplemented
        return (self.message, self.usage) == (other.message, other.usage)

    def __hash__(self) -> int:
        return hash((self.message, self.usage))


def closest(word: str, choices: Iterable[str], limit: int = MAX_SUGGESTIONS) -> list[str]:
    """Return up to ``limit`` of ``choices`` that look most like ``word``: best first, ties alphabetical."""
    scored = []
    for choice in set(choices):
        ratio = difflib.SequenceMatcher(None, choice, word).ratio()
        if ratio >= SUGGESTION_CUTOFF:
            scored.append((-ratio, choice))
    return [choice for _, choice in sorted(scored)[:limit]]


def or_list(names: list[str]) -> str:
    """Quote and join names for a sentence: ``'a'``, ``'a' or 'b'``, ``'a', 'b' or 'c'``."""
    quoted = [f"'{name}'" for name in names]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``"did you mean 'x' or 'y'?"`` for the closest choices, or ``""`` when none is close."""
    matches = closest(word, choices)
    return f"did you mean {or_list(matches)}?" if matches else ""
