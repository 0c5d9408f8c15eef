import pytest

from hub.security.crypto import DecryptionError, SecretBox

KEY = "k" * 40


def test_round_trip_and_ciphertext_hides_the_plaintext() -> None:
    box = SecretBox(KEY, "slack-token")
    sealed = box.encrypt("xoxb-secret-token")
    assert "xoxb" not in sealed
    assert box.decrypt(sealed) == "xoxb-secret-token"


def test_another_key_or_purpose_cannot_decrypt() -> None:
    sealed = SecretBox(KEY, "slack-token").encrypt("xoxb-secret-token")
    with pytest.raises(DecryptionError):
        SecretBox("z" * 40, "slack-token").decrypt(sealed)
    with pytest.raises(DecryptionError):
        SecretBox(KEY, "webhook-secret").decrypt(sealed)


def test_tampered_ciphertext_is_refused() -> None:
    box = SecretBox(KEY, "slack-token")
    sealed = box.encrypt("xoxb-secret-token")
    middle = len(sealed) // 2  # every bit of a base64 character in the middle counts (unlike the last one's)
    tampered = sealed[:middle] + ("A" if sealed[middle] != "A" else "B") + sealed[middle + 1 :]
    with pytest.raises(DecryptionError):
        box.decrypt(tampered)


def test_a_short_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="32 characters"):
        SecretBox("short", "slack-token")
