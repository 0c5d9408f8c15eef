"""Escaping and cutting mrkdwn text: nothing a tool writes can ping, link, or make Slack refuse a section."""

from __future__ import annotations

import re

import pytest

from bot.slack.mrkdwn import clip, escape, is_user_id, mention, raw_length, split_escaped, unescape


def test_the_three_control_characters_are_escaped_and_nothing_else() -> None:
    assert escape("<!channel> & <@U123|bob> *bold* `code` :tada:") == (
        "&lt;!channel&gt; &amp; &lt;@U123|bob&gt; *bold* `code` :tada:"
    )
    assert escape("&amp;") == "&amp;amp;"  # text that looks escaped is still text


@pytest.mark.parametrize("text", ["", "plain", "&lt; is not <", "&&&<<<>>>", "a&amp;b"])
def test_unescape_is_the_inverse_of_escape(text: str) -> None:
    assert unescape(escape(text)) == text


def test_clip_keeps_short_text_and_marks_a_cut_with_an_ellipsis() -> None:
    assert clip("short", 5) == "short"
    assert clip("longer", 5) == "long…"
    assert len(clip("x" * 1000, 200)) == 200


@pytest.mark.parametrize("user_id", ["U024BE7LH", "W012A3CDE", "U0SWARMBOT1"])
def test_slack_user_ids_become_mentions(user_id: str) -> None:
    assert is_user_id(user_id)
    assert mention(user_id) == f"<@{user_id}>"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("alice", "alice"),
        ("U1>|<!channel", "U1&gt;|&lt;!channel"),
        ("u024be7lh", "u024be7lh"),
        ("C024BE7LH", "C024BE7LH"),  # a channel id is not a person
        ("U024BE7LH ", "U024BE7LH "),
    ],
)
def test_anything_else_is_shown_as_escaped_text(text: str, shown: str) -> None:
    assert not is_user_id(text)
    assert mention(text) == shown


def test_short_text_is_one_piece_and_blank_text_none() -> None:
    assert split_escaped("a < b\nc", 100) == ["a &lt; b\nc"]
    assert split_escaped("", 100) == []
    assert split_escaped(" \n\n \n", 100) == []


def test_text_is_cut_at_line_ends_when_lines_fit() -> None:
    assert split_escaped("aaaa\nbbbb\ncccc\n", 10) == ["aaaa\nbbbb", "cccc"]


def test_a_line_longer_than_a_piece_is_cut_inside() -> None:
    assert split_escaped("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


@pytest.mark.parametrize("offset", range(6))
def test_an_entity_is_never_cut_in_half(offset: int) -> None:
    pieces = split_escaped("y" * offset + "&" * 40, 12)

    assert all(len(piece) <= 12 for piece in pieces)
    assert all(re.fullmatch(r"y*(&amp;)*", piece) for piece in pieces)
    assert raw_length(pieces) == offset + 40


@pytest.mark.parametrize("max_chars", [6, 7, 50, 3000])
@pytest.mark.parametrize("text", ["<>&\n" * 500, "mixed <b> & text\n\n\nwith blank lines\n" * 80, "é🙂&" * 700])
def test_pieces_fit_and_together_hold_the_whole_text(max_chars: int, text: str) -> None:
    pieces = split_escaped(text, max_chars)

    assert all(0 < len(piece) <= max_chars and piece.strip() for piece in pieces)
    assert "".join(unescape(piece) for piece in pieces).replace("\n", "") == text.replace("\n", "")


def test_a_piece_limit_too_small_for_an_entity_is_refused() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        split_escaped("&", 5)
