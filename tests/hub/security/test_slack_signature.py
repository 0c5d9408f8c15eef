"""Slack request signing, checked against the published vector from Slack's documentation (VECTORS.md)."""

from __future__ import annotations

import math

import pytest
from slack_sdk.signature import SignatureVerifier

from hub.security.slack import SlackSignatureError, verify_slack_request

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TIMESTAMP = "1531420618"
NOW = 1531420618.0
BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def refusal(
    timestamp: str | None = TIMESTAMP,
    signature: str | None = SIGNATURE,
    body: bytes = BODY,
    now: float = NOW,
    window_s: int = 300,
) -> str:
    with pytest.raises(SlackSignatureError) as caught:
        verify_slack_request(SECRET, timestamp, signature, body, now, window_s)
    return caught.value.reason


def with_byte_changed(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_the_published_vector_is_accepted_with_the_clock_frozen_at_its_timestamp() -> None:
    verify_slack_request(SECRET, TIMESTAMP, SIGNATURE, BODY, NOW)


@pytest.mark.parametrize("index", [0, len(BODY) // 2, len(BODY) - 1])
def test_one_changed_byte_of_the_body_is_refused(index: int) -> None:
    assert refusal(body=with_byte_changed(BODY, index)) == "X-Slack-Signature does not match the body"


def test_a_changed_timestamp_is_refused_even_inside_the_window() -> None:
    assert refusal(timestamp="1531420619") == "X-Slack-Signature does not match the body"


@pytest.mark.parametrize("index", [3, 40, len(SIGNATURE) - 1])
def test_one_changed_character_of_the_signature_is_refused(index: int) -> None:
    changed = SIGNATURE[:index] + ("0" if SIGNATURE[index] != "0" else "1") + SIGNATURE[index + 1 :]

    assert refusal(signature=changed) == "X-Slack-Signature does not match the body"


def test_a_body_with_a_trailing_newline_is_a_different_body() -> None:
    assert refusal(body=BODY + b"\n") == "X-Slack-Signature does not match the body"


@pytest.mark.parametrize("now", [NOW + 301, NOW - 301, NOW + 86_400, math.nan, math.inf])
def test_stale_future_or_unknowable_timestamps_are_refused(now: float) -> None:
    assert refusal(now=now) == "X-Slack-Request-Timestamp is more than 300 s away from now"


@pytest.mark.parametrize("now", [NOW + 300, NOW - 300, NOW + 0.5])
def test_the_window_edges_are_inside(now: float) -> None:
    verify_slack_request(SECRET, TIMESTAMP, SIGNATURE, BODY, now)


def test_a_narrower_window_can_be_asked_for() -> None:
    verify_slack_request(SECRET, TIMESTAMP, SIGNATURE, BODY, NOW + 60, window_s=60)

    assert refusal(now=NOW + 61, window_s=60) == "X-Slack-Request-Timestamp is more than 60 s away from now"


@pytest.mark.parametrize(
    ("timestamp", "signature", "reason"),
    [
        (None, SIGNATURE, "missing X-Slack-Request-Timestamp header"),
        ("", SIGNATURE, "missing X-Slack-Request-Timestamp header"),
        (TIMESTAMP, None, "missing X-Slack-Signature header"),
        (TIMESTAMP, "", "missing X-Slack-Signature header"),
        (None, None, "missing X-Slack-Request-Timestamp header"),
    ],
)
def test_missing_headers_are_refused(timestamp: str | None, signature: str | None, reason: str) -> None:
    assert refusal(timestamp=timestamp, signature=signature) == reason


@pytest.mark.parametrize(
    "timestamp", ["abc", " 1531420618", "1531420618 ", "+1531420618", "-1531420618", "1_531_420_618", "1531420618.0"]
)
def test_timestamps_that_are_not_plain_unix_seconds_are_refused(timestamp: str) -> None:
    assert refusal(timestamp=timestamp) == "X-Slack-Request-Timestamp is not a Unix time in seconds"


@pytest.mark.parametrize(
    "signature",
    [
        SIGNATURE.removeprefix("v0="),
        "v1=" + SIGNATURE.removeprefix("v0="),
        SIGNATURE.upper(),
        SIGNATURE[:-1],
        SIGNATURE + "0",
        SIGNATURE[:-1] + "é",  # compare_digest would raise TypeError on non-ASCII text
        SIGNATURE + "," + SIGNATURE,
    ],
)
def test_malformed_signatures_are_refused(signature: str) -> None:
    assert refusal(signature=signature) == "X-Slack-Signature is not shaped like v0=<64 hex digits>"


def test_a_body_that_is_not_utf8_is_refused_not_crashed_on() -> None:
    assert refusal(body=b"\xff\xfe" + BODY) == "the body is not UTF-8"


def test_a_request_signed_with_another_secret_is_refused() -> None:
    other = SignatureVerifier("another-secret").generate_signature(timestamp=TIMESTAMP, body=BODY)
    assert other is not None

    assert refusal(signature=other) == "X-Slack-Signature does not match the body"


def test_a_json_body_signed_by_slack_sdk_is_accepted() -> None:
    body = '{"type":"event_callback","event":{"text":"héllo <@U1>"}}'.encode()
    signature = SignatureVerifier(SECRET).generate_signature(timestamp="1700000000", body=body)
    assert signature is not None

    verify_slack_request(SECRET, "1700000000", signature, body, 1700000000.0)


def test_refusal_reasons_never_contain_the_secret() -> None:
    reasons = [refusal(signature="v0=" + "0" * 64), refusal(timestamp="x"), refusal(now=0.0)]

    assert not any(SECRET in reason for reason in reasons)


@pytest.mark.parametrize(("secret", "window_s"), [("", 300), (SECRET, 301), (SECRET, -1)])
def test_a_misconfiguration_raises_value_error_not_a_refusal(secret: str, window_s: int) -> None:
    with pytest.raises(ValueError, match=r"secret|window"):
        verify_slack_request(secret, TIMESTAMP, SIGNATURE, BODY, NOW, window_s)
