"""Pure, deterministic generation of the demo server's media: PNG images and WAV tones.

No third-party imaging or audio library: PNG is written with ``zlib`` + ``struct`` and WAV
with the stdlib ``wave`` module, so the same arguments always give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import sys
import wave
import zlib
from array import array

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WAV_SAMPLE_RATE_HZ = 22_050
WAV_AMPLITUDE = 0.5  # of full scale, to leave headroom


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, payload and the CRC of type + payload."""
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _channel_ramp(size: int, offset: int) -> bytes:
    """``size`` bytes ramping 0..255 across the axis, rotated by ``offset``."""
    denominator = max(size - 1, 1)
    return bytes(((i * 255) // denominator + offset) & 0xFF for i in range(size))


def png_bytes(width: int, height: int, text: str = "") -> bytes:
    """An RGB PNG of ``width`` x ``height``: gradients whose colours are seeded by ``text``."""
    if width < 1 or height < 1:
        raise ValueError("width and height must be at least 1")
    seed = hashlib.sha256(text.encode("utf-8")).digest()
    reds = _channel_ramp(width, seed[0])
    greens = _channel_ramp(height, seed[1])
    blues = bytes((x ^ seed[2]) & 0xFF for x in range(width))
    raw = bytearray()
    row = bytearray(3 * width)
    row[0::3] = reds
    row[2::3] = blues
    for y in range(height):
        row[1::3] = bytes((greens[y],)) * width
        raw += b"\x00"  # filter type "None" for this scanline
        raw += row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(raw), 6))
        + _png_chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height read from a PNG's IHDR chunk; ``ValueError`` if it is not a PNG."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def wav_bytes(seconds: float, frequency_hz: float, sample_rate_hz: int = WAV_SAMPLE_RATE_HZ) -> bytes:
    """A mono 16-bit PCM WAV holding a sine tone of ``frequency_hz`` for ``seconds``."""
    if seconds <= 0 or frequency_hz <= 0:
        raise ValueError("seconds and frequency_hz must be positive")
    frames = max(1, round(seconds * sample_rate_hz))
    step = 2 * math.pi * frequency_hz / sample_rate_hz
    scale = WAV_AMPLITUDE * 32767
    samples = array("h", (round(scale * math.sin(step * i)) for i in range(frames)))
    if sys.byteorder == "big":  # pragma: no cover - WAV samples are little-endian
        samples.byteswap()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate_hz)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()
