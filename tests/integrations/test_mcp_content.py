"""Converting MCP tool results into platform-neutral outputs."""

from __future__ import annotations

import base64

import pytest
from mcp.types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from integrations.mcp.content import (
    BinaryOutput,
    CallOutcome,
    ContentError,
    ResourceLinkOutput,
    TextOutput,
    extension_for,
    name_from_uri,
    outcome_from_result,
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_every_content_type_converts_to_a_neutral_output() -> None:
    result = CallToolResult(
        content=[
            TextContent(type="text", text="caption"),
            ImageContent(type="image", data=b64(b"png-bytes"), mime_type="image/png"),
            AudioContent(type="audio", data=b64(b"wav-bytes"), mime_type="audio/wav"),
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(uri="demo://notes/a.txt", mime_type="text/plain", text="notes"),
            ),
            EmbeddedResource(
                type="resource",
                resource=BlobResourceContents(
                    uri="file:///tmp/q3%20report.pdf", mime_type="application/pdf", blob=b64(b"%PDF")
                ),
            ),
            ResourceLink(type="resource_link", uri="demo://docs/readme", name="readme", description="Read me"),
        ],
        structured_content={"ok": True},
    )

    assert outcome_from_result(result) == CallOutcome(
        outputs=[
            TextOutput("caption"),
            BinaryOutput(b"png-bytes", "image/png", "image", "image-2.png"),
            BinaryOutput(b"wav-bytes", "audio/wav", "audio", "audio-3.wav"),
            TextOutput("notes"),
            BinaryOutput(b"%PDF", "application/pdf", "file", "q3_report.pdf"),
            ResourceLinkOutput("demo://docs/readme", "readme", None, "Read me"),
        ],
        structured={"ok": True},
        is_error=False,
    )


def test_blob_without_a_usable_uri_segment_gets_a_numbered_name() -> None:
    result = CallToolResult(
        content=[
            EmbeddedResource(type="resource", resource=BlobResourceContents(uri="blob:///", blob=b64(b"\x00"))),
        ]
    )

    assert outcome_from_result(result).outputs == [
        BinaryOutput(b"\x00", "application/octet-stream", "file", "resource-1.bin")
    ]


@pytest.mark.parametrize(
    ("uri", "mime_type", "name"),
    [
        ("demo://files/data.bin", None, "data.bin"),
        ("demo://readme", "text/markdown", "readme.md"),
        ("file:///tmp/../etc/passwd", None, "passwd"),
        ("https://x.example/a/b%2F..%2Fc d.txt?x=1", None, "b_.._c_d.txt"),
        ("s3://bucket/dir/", "image/png", "dir.png"),
        ("urn:isbn:0451450523", None, "isbn_0451450523"),
    ],
)
def test_file_names_come_from_the_last_uri_segment_made_safe(uri: str, mime_type: str | None, name: str) -> None:
    assert name_from_uri(uri, mime_type) == name


def test_extensions_follow_the_mime_type() -> None:
    assert [extension_for(m) for m in ("image/jpeg", "audio/wav; rate=8000", "text/csv", "x/unknown")] == [
        ".jpg",
        ".wav",
        ".csv",
        ".bin",
    ]


def test_malformed_base64_is_a_content_error() -> None:
    result = CallToolResult(content=[ImageContent(type="image", data="not base64!", mime_type="image/png")])

    with pytest.raises(ContentError, match=r"image-1\.png: content is not valid base64"):
        outcome_from_result(result)


def test_tool_error_and_non_object_structured_content_are_kept() -> None:
    result = CallToolResult(content=[TextContent(type="text", text="no")], structured_content=[1, 2], is_error=True)

    assert outcome_from_result(result) == CallOutcome(
        outputs=[TextOutput("no")], structured={"result": [1, 2]}, is_error=True
    )


def test_outcome_text_joins_its_text_outputs() -> None:
    outcome = CallOutcome(
        outputs=[TextOutput("a"), BinaryOutput(b"", "image/png", "image", "i.png"), TextOutput("b")],
        structured=None,
        is_error=False,
    )

    assert outcome.text == "a\nb"
