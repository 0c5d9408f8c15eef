"""Discord Ed25519 request signatures: the published-key vector, one-byte changes, other keys, more vectors."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from hub.security.discord import DiscordSignatureError, verify_discord_request

# RFC 8032 section 7.1 TEST 1 key (see /work/shared/VECTORS.md).
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
TIMESTAMP = "1700000000"
BODY = b'{"type":1}'
SIGNATURE = (
    "1695961a47c91a1ec033b819b7e87e3dbc583dd0cee6d1fd0216f58ac87b6228"
    "ae531ddbf91fb7bc28d7edf7f08604da16f54624f38a6bc0614e4dc13cd47f0f"
)


def sign(seed: bytes, timestamp: str, body: bytes) -> str:
    return SigningKey(seed).sign(timestamp.encode() + body).signature.hex()


def flip(text: str, index: int) -> str:
    """Change one character of a hex string or timestamp to another valid one."""
    replacement = "1" if text[index] != "1" else "2"
    return text[:index] + replacement + text[index + 1 :]


def test_the_published_vector_is_accepted() -> None:
    verify_discord_request(PUBLIC_KEY, SIGNATURE, TIMESTAMP, BODY)


def test_the_vector_matches_a_signature_made_with_the_seed() -> None:
    assert SigningKey(SEED).verify_key.encode().hex() == PUBLIC_KEY
    assert sign(SEED, TIMESTAMP, BODY) == SIGNATURE


def test_uppercase_hex_is_accepted() -> None:
    verify_discord_request(PUBLIC_KEY.upper(), SIGNATURE.upper(), TIMESTAMP, BODY)


@pytest.mark.parametrize("index", [0, 5, len(BODY) - 1])
def test_one_byte_of_the_body_changed_is_refused(index: int) -> None:
    body = bytearray(BODY)
    body[index] ^= 0x01
    with pytest.raises(DiscordSignatureError, match="does not match"):
        verify_discord_request(PUBLIC_KEY, SIGNATURE, TIMESTAMP, bytes(body))


@pytest.mark.parametrize("index", [0, 9])
def test_one_digit_of_the_timestamp_changed_is_refused(index: int) -> None:
    with pytest.raises(DiscordSignatureError, match="does not match"):
        verify_discord_request(PUBLIC_KEY, SIGNATURE, flip(TIMESTAMP, index), BODY)


@pytest.mark.parametrize("index", [0, 64, 127])
def test_one_digit_of_the_signature_changed_is_refused(index: int) -> None:
    with pytest.raises(DiscordSignatureError):
        verify_discord_request(PUBLIC_KEY, flip(SIGNATURE, index), TIMESTAMP, BODY)


def test_a_body_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(DiscordSignatureError):
        verify_discord_request(PUBLIC_KEY, SIGNATURE, TIMESTAMP, BODY + b"\n")


def test_a_different_key_is_refused() -> None:
    other = SigningKey(bytes(range(32))).verify_key.encode().hex()
    with pytest.raises(DiscordSignatureError, match="does not match"):
        verify_discord_request(other, SIGNATURE, TIMESTAMP, BODY)


@pytest.mark.parametrize(
    ("seed", "timestamp", "body"),
    [
        (SEED, "1700000123", b'{"type":2,"data":{"name":"swarm"}}'),
        (bytes(range(32)), "1", b""),
        (b"\xff" * 32, "1734567890", '{"content":"h\u00e9llo \u2603"}'.encode()),
    ],
)
def test_signatures_made_with_signing_keys_are_accepted(seed: bytes, timestamp: str, body: bytes) -> None:
    public_key = SigningKey(seed).verify_key.encode().hex()
    verify_discord_request(public_key, sign(seed, timestamp, body), timestamp, body)


def test_a_signature_for_another_message_is_refused() -> None:
    signature = sign(SEED, TIMESTAMP, b'{"type":2}')
    with pytest.raises(DiscordSignatureError):
        verify_discord_request(PUBLIC_KEY, signature, TIMESTAMP, BODY)


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ("", "not 128 hex digits"),
        (SIGNATURE[:-2], "not 128 hex digits"),
        (SIGNATURE + "00", "not 128 hex digits"),
        ("zz" + SIGNATURE[2:], "not 128 hex digits"),
        (SIGNATURE[:2] + " " + SIGNATURE[3:], "not 128 hex digits"),
    ],
)
def test_malformed_signatures_are_refused(signature: str, reason: str) -> None:
    with pytest.raises(DiscordSignatureError, match=reason):
        verify_discord_request(PUBLIC_KEY, signature, TIMESTAMP, BODY)


@pytest.mark.parametrize("public_key", ["", PUBLIC_KEY[:-2], "g" * 64, PUBLIC_KEY + "ab"])
def test_a_malformed_public_key_is_refused(public_key: str) -> None:
    with pytest.raises(DiscordSignatureError, match="public key is not 64 hex digits"):
        verify_discord_request(public_key, SIGNATURE, TIMESTAMP, BODY)


def test_a_missing_timestamp_is_refused() -> None:
    with pytest.raises(DiscordSignatureError, match="timestamp is missing"):
        verify_discord_request(PUBLIC_KEY, SIGNATURE, "", BODY)
