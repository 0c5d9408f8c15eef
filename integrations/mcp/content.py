"""Platform-neutral outputs of a tool call, converted once from MCP's ``CallToolResult``.

Chat adapters render these without knowing MCP: text, binary payloads (image, audio or a file
with a name) and links to resources the server can serve.

Conversion rules (:func:`outcome_from_result`):

* ``TextContent`` and embedded *text* resources become :class:`TextOutput`;
* ``ImageContent`` / ``AudioContent`` become :class:`BinaryOutput` of kind ``"image"`` / ``"audio"``
  named ``image-N.ext`` / ``audio-N.ext`` (N is the block's position);
* embedded *blob* resources become :class:`BinaryOutput` of kind ``"file"``, named after the last
  segment of the resource URI (sanitised), else ``resource-N.ext``;
* ``ResourceLink`` becomes :class:`ResourceLinkOutput`;
* structured content is kept as a dict; a non-object JSON value (allowed from 2026-07-28) is
  wrapped as ``{"result": value}``, as MCPServer wraps non-object return values.

Malformed base64 raises :class:`ContentError`.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import posixpath
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from mcp.types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    ContentBlock,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
)

BinaryKind = Literal["image", "audio", "file"]
MAX_NAME_CHARS = 128
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
# Stable extensions for common types; `mimetypes` answers differ between platforms for some.
_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/svg+xml": ".svg",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/flac": ".flac",
    "application/pdf": ".pdf",
    "application/json": ".json",
    "application/zip": ".zip",
    "application/octet-stream": ".bin",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/csv": ".csv",
}


class ContentError(ValueError):
    """A content block could not be decoded (for example, malformed base64)."""


@dataclass(frozen=True)
class TextOutput:
    """Text for the user (or the model)."""

    text: str


@dataclass(frozen=True)
class BinaryOutput:
    """Decoded binary content with its MIME type and a file name to show or upload it under."""

    data: bytes
    mime_type: str
    kind: BinaryKind
    name: str


@dataclass(frozen=True)
class ResourceLinkOutput:
    """A link to a resource the server can serve; not fetched."""

    uri: str
    name: str
    mime_type: str | None
    description: str | None


Output = TextOutput | BinaryOutput | ResourceLinkOutput


@dataclass(frozen=True)
class CallOutcome:
    """What a tool call produced. ``is_error`` marks the tool's own failure (not an exception)."""

    outputs: list[Output]
    structured: dict[str, Any] | None
    is_error: bool

    @property
    def text(self) -> str:
        """All text outputs joined by newlines (handy for captions and error messages)."""
        return "\n".join(output.text for output in self.outputs if isinstance(output, TextOutput))


def outcome_from_result(result: CallToolResult) -> CallOutcome:
    """Convert an MCP ``CallToolResult`` to a :class:`CallOutcome`."""
    structured = result.structured_content
    if structured is not None and not isinstance(structured, dict):
        structured = {"result": structured}
    return CallOutcome(
        outputs=[output_from_block(block, index) for index, block in enumerate(result.content, start=1)],
        structured=structured,
        is_error=result.is_error,
    )


def output_from_block(block: ContentBlock, index: int) -> Output:
    """Convert one content block; ``index`` (1-based) numbers generated file names."""
    if isinstance(block, TextContent):
        return TextOutput(block.text)
    if isinstance(block, ImageContent | AudioContent):
        kind: BinaryKind = "image" if isinstance(block, ImageContent) else "audio"
        name = f"{kind}-{index}{extension_for(block.mime_type)}"
        return BinaryOutput(_decode(block.data, name), block.mime_type, kind, name)
    if isinstance(block, ResourceLink):
        return ResourceLinkOutput(block.uri, block.name, block.mime_type, block.description)
    if isinstance(block, EmbeddedResource):
        return _embedded_output(block, index)
    raise ContentError(f"unsupported content block type {type(block).__name__}")


def _embedded_output(block: EmbeddedResource, index: int) -> Output:
    resource = block.resource
    if not isinstance(resource, BlobResourceContents):
        return TextOutput(resource.text)
    mime_type = resource.mime_type or "application/octet-stream"
    name = name_from_uri(resource.uri, mime_type) or f"resource-{index}{extension_for(mime_type)}"
    return BinaryOutput(_decode(resource.blob, name), mime_type, "file", name)


def name_from_uri(uri: str, mime_type: str | None = None) -> str:
    """A safe file name from a URI's last segment (``""`` if it has none).

    ``file:///tmp/report%201.pdf`` gives ``report_1.pdf``; ``demo://readme`` with ``text/markdown``
    gives ``readme.md``.
    """
    parts = urlsplit(uri)
    segments = [parts.netloc, *parts.path.split("/")]
    last = next((segment for segment in reversed(segments) if segment), "")
    name = _UNSAFE_NAME_CHARS.sub("_", unquote(last)).strip("._")[:MAX_NAME_CHARS]
    if name and mime_type and not posixpath.splitext(name)[1]:
        name += extension_for(mime_type)
    return name


def extension_for(mime_type: str) -> str:
    """The usual file extension for a MIME type, ``.bin`` when unknown."""
    base = mime_type.split(";", 1)[0].strip().lower()
    return _EXTENSIONS.get(base) or mimetypes.guess_extension(base) or ".bin"


def _decode(data: str, name: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ContentError(f"{name}: content is not valid base64") from exc
