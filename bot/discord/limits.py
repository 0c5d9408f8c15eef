"""Fitting text into Discord's message limits without losing any: previews, overflow files, embed splitting.

Pure functions. Long text is never cut silently: what does not fit goes out whole as a ``TextFile``, or the
message says how much is not shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

MAX_CONTENT_CHARS: Final = 2_000
MAX_EMBEDS: Final = 10
MAX_EMBED_TITLE_CHARS: Final = 256
MAX_EMBED_DESCRIPTION_CHARS: Final = 4_096
MAX_EMBED_FIELD_VALUE_CHARS: Final = 1_024
MAX_EMBEDS_TOTAL_CHARS: Final = 6_000
TEXT_FILE_CONTENT_TYPE: Final = "text/plain; charset=utf-8"
FENCE: Final = "```"

_PREVIEW_LINES_MIN_CHARS: Final = 200  # cut a preview at a line break only if that keeps at least this much
_NOTE_RESERVE_CHARS: Final = 100


@dataclass(frozen=True)
class TextFile:
    """Text sent as a file attachment because it is too long for the message itself."""

    name: str
    content: str
    content_type: str = TEXT_FILE_CONTENT_TYPE

    @property
    def data(self) -> bytes:
        """The bytes to upload (UTF-8)."""
        return self.content.encode()


@dataclass(frozen=True)
class Section:
    """A part of a description: shown whole if it fits, else previewed, with ``raw`` attached as ``file_name``."""

    raw: str
    file_name: str
    what: str  # what the text is, for the note: "output", "error"
    heading: str = ""
    language: str | None = None  # shown as a code block in this language when not None

    @property
    def shown(self) -> str:
        """The text as shown (a ``` inside a code block is defused)."""
        return self.raw if self.language is None else defuse_fences(self.raw)

    def render(self, body: str) -> str:
        """The heading and ``body`` (wrapped in the code block when the section has a language)."""
        return self.heading + (body if self.language is None else f"{FENCE}{self.language}\n{body}\n{FENCE}")


def describe(sections: list[Section], budget: int) -> tuple[str, list[TextFile]]:
    """The sections whole when they fit in ``budget`` characters; else previews of the long ones, attached in full.

    Shorter sections are placed first so that what they leave over goes to the longer ones; the text keeps the
    sections' order, separated by blank lines.
    """
    rendered = [section.render(section.shown) for section in sections]
    separators = 2 * max(len(sections) - 1, 0)
    if sum(map(len, rendered)) + separators <= budget:
        return "\n\n".join(rendered), []
    left, parts, attached = budget - separators, list(rendered), {}
    for count, index in enumerate(sorted(range(len(sections)), key=lambda index: len(rendered[index]))):
        share = left // (len(sections) - count)
        if len(rendered[index]) > share:
            section = sections[index]
            attached[index] = TextFile(section.file_name, section.raw)
            note = f"\n… the full {section.what} ({len(section.raw):,} characters) is attached as {section.file_name}"
            room = share - len(section.render("")) - len(note)
            parts[index] = section.render(preview(section.shown, room)) + note
        left -= len(parts[index])
    return "\n\n".join(parts), [attached[index] for index in sorted(attached)]


def text_embeds(text: str) -> list[dict[str, Any]]:
    """Split text over embed descriptions (4,096 each, 6,000 in all); past that, the last says what is not shown."""
    room = MAX_EMBEDS_TOTAL_CHARS - (_NOTE_RESERVE_CHARS if len(text) > MAX_EMBEDS_TOTAL_CHARS else 0)
    embeds: list[dict[str, Any]] = []
    rest = text
    while rest and room > 0 and len(embeds) < MAX_EMBEDS:
        chunk = preview(rest, min(MAX_EMBED_DESCRIPTION_CHARS, room))
        embeds.append({"description": chunk})
        rest, room = rest[len(chunk) :], room - len(chunk)
    if rest:
        embeds[-1]["description"] += f"\n… {len(rest):,} more characters not shown (too long for one Discord message)"
    return embeds


def preview(text: str, limit: int) -> str:
    """The start of ``text`` in at most ``limit`` characters, cut at a line break when one is near the end."""
    cut = text[: max(limit, 0)]
    newline = cut.rfind("\n")
    return cut[:newline] if newline >= _PREVIEW_LINES_MIN_CHARS and len(cut) < len(text) else cut


def embed_chars(embed: Mapping[str, Any]) -> int:
    """The characters Discord counts towards its 6,000 across a message's embeds."""
    texts = [embed.get("title"), embed.get("description")]
    texts += [(embed.get("footer") or {}).get("text"), (embed.get("author") or {}).get("name")]
    for item in embed.get("fields") or []:
        texts += [item.get("name"), item.get("value")]
    return sum(len(text) for text in texts if isinstance(text, str))


def clip(text: str, limit: int) -> str:
    """Shorten ``text`` to ``limit`` characters with a visible ``…`` (for labels, never for a result's text)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def defuse_fences(text: str) -> str:
    """Keep a code block closed: a ``` inside it gets a zero-width space."""
    return text.replace(FENCE, "`\u200b``")
