"""Inbound webhook verifiers against the published vectors, with the one-byte and replay negatives."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest

from hub.security.webhooks import (
    GITHUB_SCHEME,
    HmacScheme,
    WebhookSignatureError,
    header_value,
    sign_standard_webhook,
    standard_webhook_key,
    verify_bearer_token,
    verify_github_signature,
    verify_hmac_signature,
    verify_standard_webhook,
)

# GitHub docs, "Validating webhook deliveries".
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

# Standard Webhooks reference libraries' shared `sign` test.
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def sw_headers(
    signature: str = SW_SIGNATURE, msg_id: str = SW_ID, timestamp: str = str(SW_TIMESTAMP)
) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}


def flip_byte(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


def flip_char(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


# --- GitHub -----------------------------------------------------------------------------------------------


def test_the_github_vector_is_accepted() -> None:
    verify_github_signature(GITHUB_SECRET, {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_BODY)


def test_github_header_names_are_case_insensitive_and_hex_may_be_uppercase() -> None:
    upper = "sha256=" + GITHUB_SIGNATURE.removeprefix("sha256=").upper()
    verify_github_signature(GITHUB_SECRET, {"x-hub-signature-256": upper}, GITHUB_BODY)


@pytest.mark.parametrize("index", [0, 6, len(GITHUB_BODY) - 1])
def test_a_github_body_with_one_byte_changed_is_refused(index: int) -> None:
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_github_signature(GITHUB_SECRET, {"X-Hub-Signature-256": GITHUB_SIGNATURE}, flip_byte(GITHUB_BODY, index))


@pytest.mark.parametrize("index", [7, 40, len(GITHUB_SIGNATURE) - 1])
def test_a_github_signature_with_one_digit_changed_is_refused(index: int) -> None:
    digit = "0" if GITHUB_SIGNATURE[index] != "0" else "1"
    signature = GITHUB_SIGNATURE[:index] + digit + GITHUB_SIGNATURE[index + 1 :]
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_github_signature(GITHUB_SECRET, {"X-Hub-Signature-256": signature}, GITHUB_BODY)


def test_a_github_signature_made_with_another_secret_is_refused() -> None:
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_github_signature("It's a secret to everybody", {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_BODY)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "X-Hub-Signature-256 header is missing"),
        ({"X-Hub-Signature-256": ""}, "X-Hub-Signature-256 header is missing"),
        ({"X-Hub-Signature": "sha1=0123"}, "X-Hub-Signature-256 header is missing"),
        ({"X-Hub-Signature-256": GITHUB_SIGNATURE.removeprefix("sha256=")}, "does not start with 'sha256='"),
        ({"X-Hub-Signature-256": "sha1=" + GITHUB_SIGNATURE[7:]}, "does not start with 'sha256='"),
        ({"X-Hub-Signature-256": "sha256=xyz"}, "is not hex"),
        ({"X-Hub-Signature-256": GITHUB_SIGNATURE[:-1]}, "is not hex"),
        ({"X-Hub-Signature-256": GITHUB_SIGNATURE[:-2]}, "does not match"),
    ],
)
def test_missing_or_malformed_github_headers_are_refused(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(WebhookSignatureError, match=reason):
        verify_github_signature(GITHUB_SECRET, headers, GITHUB_BODY)


def test_an_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        verify_github_signature("", {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_BODY)


# --- Standard Webhooks ------------------------------------------------------------------------------------


def test_the_standard_webhooks_vector_is_signed_as_published() -> None:
    assert sign_standard_webhook(SW_SECRET, SW_ID, SW_TIMESTAMP, SW_BODY) == SW_SIGNATURE


@pytest.mark.parametrize("now", [SW_TIMESTAMP, SW_TIMESTAMP - 300, SW_TIMESTAMP + 300, SW_TIMESTAMP + 12.5])
def test_the_standard_webhooks_vector_is_accepted_within_the_window(now: float) -> None:
    verify_standard_webhook(SW_SECRET, sw_headers(), SW_BODY, now=now)


def test_the_secret_may_be_given_without_the_whsec_prefix_or_as_raw_bytes() -> None:
    bare = SW_SECRET.removeprefix("whsec_")
    verify_standard_webhook(bare, sw_headers(), SW_BODY, now=SW_TIMESTAMP)
    verify_standard_webhook(base64.b64decode(bare), sw_headers(), SW_BODY, now=SW_TIMESTAMP)
    assert sign_standard_webhook(bare, SW_ID, SW_TIMESTAMP, SW_BODY) == SW_SIGNATURE


def test_an_unpadded_base64_secret_is_accepted() -> None:
    key = b"0123456789abcdefghij"  # 20 bytes: base64 needs padding
    unpadded = "whsec_" + base64.b64encode(key).decode().rstrip("=")
    assert standard_webhook_key(unpadded) == key


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not base64!"])
def test_an_unusable_standard_webhooks_secret_is_a_configuration_error(secret: str) -> None:
    with pytest.raises(ValueError):
        verify_standard_webhook(secret, sw_headers(), SW_BODY, now=SW_TIMESTAMP)


@pytest.mark.parametrize("index", [0, 3, len(SW_BODY) - 1])
def test_a_standard_webhooks_body_with_one_byte_changed_is_refused(index: int) -> None:
    with pytest.raises(WebhookSignatureError, match="no webhook-signature matches"):
        verify_standard_webhook(SW_SECRET, sw_headers(), flip_byte(SW_BODY, index), now=SW_TIMESTAMP)


def test_a_standard_webhooks_timestamp_changed_by_one_second_is_refused() -> None:
    headers = sw_headers(timestamp=str(SW_TIMESTAMP + 1))
    with pytest.raises(WebhookSignatureError, match="no webhook-signature matches"):
        verify_standard_webhook(SW_SECRET, headers, SW_BODY, now=SW_TIMESTAMP)


def test_a_standard_webhooks_id_changed_is_refused() -> None:
    with pytest.raises(WebhookSignatureError, match="no webhook-signature matches"):
        verify_standard_webhook(SW_SECRET, sw_headers(msg_id=flip_char(SW_ID, 5)), SW_BODY, now=SW_TIMESTAMP)


@pytest.mark.parametrize("index", [3, 20, len(SW_SIGNATURE) - 2])
def test_a_standard_webhooks_signature_with_one_character_changed_is_refused(index: int) -> None:
    with pytest.raises(WebhookSignatureError, match="no webhook-signature matches"):
        verify_standard_webhook(SW_SECRET, sw_headers(flip_char(SW_SIGNATURE, index)), SW_BODY, now=SW_TIMESTAMP)


def test_a_stale_standard_webhooks_timestamp_is_refused() -> None:
    with pytest.raises(WebhookSignatureError, match="too old"):
        verify_standard_webhook(SW_SECRET, sw_headers(), SW_BODY, now=SW_TIMESTAMP + 301)


def test_a_future_standard_webhooks_timestamp_is_refused() -> None:
    with pytest.raises(WebhookSignatureError, match="too far in the future"):
        verify_standard_webhook(SW_SECRET, sw_headers(), SW_BODY, now=SW_TIMESTAMP - 301)


def test_the_replay_window_can_be_narrowed() -> None:
    with pytest.raises(WebhookSignatureError, match="too old"):
        verify_standard_webhook(SW_SECRET, sw_headers(), SW_BODY, now=SW_TIMESTAMP + 31, tolerance_s=30)


@pytest.mark.parametrize("timestamp", ["1614265330.5", "-1614265330", "0x60376", "soon", " 1614265330", "1" * 20])
def test_a_standard_webhooks_timestamp_that_is_not_whole_seconds_is_refused(timestamp: str) -> None:
    with pytest.raises(WebhookSignatureError, match="not a Unix time"):
        verify_standard_webhook(SW_SECRET, sw_headers(timestamp=timestamp), SW_BODY, now=SW_TIMESTAMP)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_standard_webhooks_header_is_refused(missing: str) -> None:
    headers = sw_headers()
    del headers[missing]
    with pytest.raises(WebhookSignatureError, match=f"the {missing} header is missing"):
        verify_standard_webhook(SW_SECRET, headers, SW_BODY, now=SW_TIMESTAMP)


def test_standard_webhooks_header_names_are_case_insensitive() -> None:
    headers = {"Webhook-Id": SW_ID, "WEBHOOK-TIMESTAMP": str(SW_TIMESTAMP), "Webhook-Signature": SW_SIGNATURE}
    verify_standard_webhook(SW_SECRET, headers, SW_BODY, now=SW_TIMESTAMP)


def test_a_v2_only_signature_header_is_refused() -> None:
    v2 = "v2," + SW_SIGNATURE.removeprefix("v1,")
    with pytest.raises(WebhookSignatureError, match="has no v1 signature"):
        verify_standard_webhook(SW_SECRET, sw_headers(v2), SW_BODY, now=SW_TIMESTAMP)


@pytest.mark.parametrize(
    "signature",
    [
        f"v1,Zm9v {SW_SIGNATURE}",
        f"{SW_SIGNATURE} v1,Zm9vYmFy",
        f"v2,abc v1a,xyz {SW_SIGNATURE}",
        f"v1,not-base64!  garbage {SW_SIGNATURE}",
        f"v1,{'A' * 44} {SW_SIGNATURE} v1,{'B' * 44}",
    ],
)
def test_several_signatures_with_one_valid_v1_are_accepted(signature: str) -> None:
    verify_standard_webhook(SW_SECRET, sw_headers(signature), SW_BODY, now=SW_TIMESTAMP)


def test_several_signatures_none_valid_are_refused() -> None:
    wrong = sign_standard_webhook("whsec_" + base64.b64encode(b"another key").decode(), SW_ID, SW_TIMESTAMP, SW_BODY)
    with pytest.raises(WebhookSignatureError, match="no webhook-signature matches"):
        verify_standard_webhook(SW_SECRET, sw_headers(f"{wrong} v1,Zm9v v2,x"), SW_BODY, now=SW_TIMESTAMP)


def test_what_we_sign_we_verify() -> None:
    body = '{"event": "job.succeeded", "text": "h\u00e9llo"}'.encode()
    signature = sign_standard_webhook(SW_SECRET, "msg_1", 1_700_000_000, body)
    verify_standard_webhook(SW_SECRET, sw_headers(signature, "msg_1", "1700000000"), body, now=1_700_000_100)


def test_the_reference_library_accepts_what_we_sign() -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")
    now = int(time.time())
    body = b'{"type": "job.succeeded", "data": {"job_id": "1b4e28ba"}}'
    signature = sign_standard_webhook(SW_SECRET, "msg_2Lx", now, body)
    headers = {"webhook-id": "msg_2Lx", "webhook-timestamp": str(now), "webhook-signature": signature}
    assert standardwebhooks.Webhook(SW_SECRET).verify(body, headers) == {
        "type": "job.succeeded",
        "data": {"job_id": "1b4e28ba"},
    }
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SW_SECRET).verify(body + b" ", headers)


def test_we_accept_what_the_reference_library_signs() -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")
    sent_at = datetime.fromtimestamp(SW_TIMESTAMP, UTC)
    signature = standardwebhooks.Webhook(SW_SECRET).sign(SW_ID, sent_at, SW_BODY.decode())
    verify_standard_webhook(SW_SECRET, sw_headers(signature), SW_BODY, now=SW_TIMESTAMP)


# --- generic HMAC -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
@pytest.mark.parametrize("prefix", ["", "sha=", "v0:"])
def test_generic_hmac_schemes_accept_their_own_signatures(algorithm: str, encoding: str, prefix: str) -> None:
    scheme = HmacScheme(header="X-Signature", algorithm=algorithm, encoding=encoding, prefix=prefix)  # type: ignore[arg-type]
    digest = hmac.new(b"s3cret", b'{"a": 1}', getattr(hashlib, algorithm)).digest()
    value = prefix + (digest.hex() if encoding == "hex" else base64.b64encode(digest).decode())
    verify_hmac_signature(scheme, "s3cret", {"x-signature": value}, b'{"a": 1}')
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_hmac_signature(scheme, "s3cret", {"X-Signature": value}, b'{"a": 2}')


def test_a_generic_scheme_with_the_wrong_algorithm_is_refused() -> None:
    digest = hmac.new(b"s3cret", b"body", hashlib.sha1).hexdigest()
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_hmac_signature(HmacScheme("X-Signature", "sha256"), "s3cret", {"X-Signature": digest}, b"body")


def test_github_is_the_generic_scheme_with_its_settings() -> None:
    verify_hmac_signature(GITHUB_SCHEME, GITHUB_SECRET, {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_BODY)


@pytest.mark.parametrize("value", ["@@@@", "Zm9v=Zm9v", "Zm9vYg", "Zm9vYmFy\n"])
def test_generic_base64_signatures_must_be_strict_base64(value: str) -> None:
    scheme = HmacScheme("X-Signature", encoding="base64")
    with pytest.raises(WebhookSignatureError):
        verify_hmac_signature(scheme, "s3cret", {"X-Signature": value + "x"}, b"body")


@pytest.mark.parametrize(
    "kwargs",
    [{"header": ""}, {"header": "X-Sig", "algorithm": "md5"}, {"header": "X-Sig", "encoding": "base32"}],
)
def test_an_unsupported_generic_scheme_is_a_configuration_error(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        HmacScheme(**kwargs)  # type: ignore[arg-type]


# --- bearer token -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["Bearer tok_123", "bearer tok_123", "BEARER  tok_123 "])
def test_the_right_bearer_token_is_accepted(value: str) -> None:
    verify_bearer_token("tok_123", {"authorization": value})


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "Authorization header is missing"),
        ({"Authorization": "Bearer tok_124"}, "does not match"),
        ({"Authorization": "Bearer tok_1234"}, "does not match"),
        ({"Authorization": "Bearer tok_12"}, "does not match"),
        ({"Authorization": "Basic dG9rXzEyMw=="}, "not a bearer token"),
        ({"Authorization": "tok_123"}, "not a bearer token"),
        ({"Authorization": "Bearer tok_123 extra"}, "not a bearer token"),
    ],
)
def test_a_wrong_or_missing_bearer_token_is_refused(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(WebhookSignatureError, match=reason):
        verify_bearer_token("tok_123", headers)


def test_an_empty_expected_token_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        verify_bearer_token("", {"Authorization": "Bearer "})


def test_header_lookup_prefers_the_exact_name_then_any_case() -> None:
    assert header_value({"X-A": "1"}, "X-A") == "1"
    assert header_value({"x-a": "2"}, "X-A") == "2"
    assert header_value({"x-b": "2"}, "X-A") is None
