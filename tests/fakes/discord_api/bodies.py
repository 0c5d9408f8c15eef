"""Reading a request body as Discord does: JSON or multipart (``payload_json`` + ``files[n]``), then checking it."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from aiohttp import BodyPartReader, web

from tests.fakes.discord_api.objects import MESSAGE_ROUTES, UploadedFile, check_message_rules
from tests.fakes.discord_api.spec import DiscordApiError, Operation, check, form_error

MAX_UPLOAD_BYTES: Final = 10 * 1024 * 1024
_FILE_PART: Final = re.compile(r"files\[([0-9]+)\]")


async def read_body(request: web.Request, op: Operation) -> tuple[Any, list[UploadedFile]]:
    """The JSON body (or multipart ``payload_json``), checked against the operation, and the uploaded files."""
    if not op.bodies:
        return None, []
    kind = request.content_type
    if kind not in op.bodies:
        raise form_error([], "CONTENT_TYPE_INVALID", f"Content type {kind} is not accepted here")
    body, files = await _read_multipart(request) if kind == "multipart/form-data" else (_json(await request.read()), [])
    check(op.bodies[kind], body)
    if op.template in MESSAGE_ROUTES:
        check_message_rules(body, files, op)
    return body, files


async def _read_multipart(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    reader = await request.multipart()
    body: Any = None
    files: list[UploadedFile] = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise form_error([], "NESTED_MULTIPART", "Nested multipart bodies are not accepted")
        file_index = _FILE_PART.fullmatch(part.name or "")
        if not (part.name == "payload_json" or file_index):
            raise form_error([str(part.name)], "UNKNOWN_FIELD", "Unknown form field")
        if file_index is None:
            body = _json(await part.read())
        else:
            kind = part.headers.get("Content-Type", "application/octet-stream")
            files.append(UploadedFile(int(file_index.group(1)), part.filename or "", kind, bytes(await part.read())))
    if sum(len(file.data) for file in files) > MAX_UPLOAD_BYTES:
        raise DiscordApiError(413, 40005, "Request entity too large")
    return body, files


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise DiscordApiError(400, 50109, "The request body contains invalid JSON.") from None
