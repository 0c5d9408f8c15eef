"""The demo server's pure media generators: valid, deterministic PNG and WAV bytes."""

from __future__ import annotations

import io
import struct
import wave
import zlib
from collections.abc import Callable

import pytest

from integrations.mcp_servers.demo.__main__ import parse_args
from integrations.mcp_servers.demo.media import PNG_SIGNATURE, WAV_SAMPLE_RATE_HZ, png_bytes, png_size, wav_bytes


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split a PNG into (type, payload) chunks, checking every CRC."""
    assert data.startswith(PNG_SIGNATURE)
    chunks, offset = [], len(PNG_SIGNATURE)
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        payload = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF, kind
        chunks.append((kind, payload))
        offset += 12 + length
    return chunks


def test_png_is_a_valid_rgb_image_of_the_requested_size() -> None:
    data = png_bytes(7, 3, "hi")

    chunks = png_chunks(data)

    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (7, 3, 8, 2, 0, 0, 0)
    scanlines = zlib.decompress(chunks[1][1])
    assert len(scanlines) == 3 * (1 + 7 * 3)
    assert scanlines[:: 1 + 7 * 3] == b"\x00\x00\x00"  # every scanline uses filter "None"
    assert png_size(data) == (7, 3)


def test_png_is_deterministic_and_seeded_by_its_text() -> None:
    assert png_bytes(16, 16, "a") == png_bytes(16, 16, "a")
    assert png_bytes(16, 16, "a") != png_bytes(16, 16, "b")


def test_png_of_the_largest_allowed_size_is_generated() -> None:
    assert png_size(png_bytes(1024, 1024)) == (1024, 1024)


def test_png_size_refuses_other_data() -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(b"GIF89a" + bytes(30))


def test_wav_is_mono_16_bit_pcm_of_the_requested_length() -> None:
    data = wav_bytes(0.25, 440.0)

    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, WAV_SAMPLE_RATE_HZ)
        assert wav.getnframes() == round(0.25 * WAV_SAMPLE_RATE_HZ)
        frames = wav.readframes(wav.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    assert samples[0] == 0
    assert max(samples) == pytest.approx(0.5 * 32767, rel=0.01)  # half scale, a full sine period
    assert wav_bytes(0.25, 440.0) == data


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: png_bytes(0, 5), "at least 1"),
        (lambda: wav_bytes(0, 440.0), "positive"),
        (lambda: wav_bytes(1.0, -1.0), "positive"),
    ],
)
def test_generators_refuse_non_positive_sizes(make: Callable[[], bytes], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_demo_command_line_defaults_to_stdio_and_checks_the_port() -> None:
    args = parse_args([])
    assert (args.http, args.sse, args.host, args.log_level) == (False, False, "127.0.0.1", "INFO")
    assert parse_args(["--http", "--port", "9000"]).port == 9000
    with pytest.raises(SystemExit):
        parse_args(["--http", "--port", "70000"])
    with pytest.raises(SystemExit):
        parse_args(["--http", "--sse"])
