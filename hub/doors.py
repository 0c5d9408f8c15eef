"""What every door does with a request before trusting it: the body read within a size limit, credential
headers taken only when given once, JSON parsed so that any malformation is a 4xx (never a 500).

Python's ``json.loads`` raises more than ``JSONDecodeError`` on hostile input: ``RecursionError`` for deep
nesting, ``ValueError`` for an integer of more than 4,300 digits, ``UnicodeDecodeError`` for bytes in no UTF
encoding. A value that parses but nests deeper than the code after it can walk (jsonschema, ``json.dumps``,
Postgres ``jsonb``), or holds text Postgres cannot store (NUL, unpaired surrogates), is refused here too."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Final

from aiohttp import web
from multidict import CIMultiDictProxy
from pydantic import ValidationError

from .errors import BadRequest, PayloadTooLarge

READ_CHUNK: Final = 64 * 1024
MAX_JSON_DEPTH: Final = 64


async def read_bounded(request: web.Request, limit: int) -> bytes:
    """The raw body, or 413 as soon as it is known to exceed ``limit`` bytes (a declared Content-Length over
    the limit is refused before anything is read, so a lying header cannot hold the request open)."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def repeated_header(headers: CIMultiDictProxy[str], names: Iterable[str]) -> str | None:
    """The first of ``names`` that the request carries more than once (which of two signatures would count?)."""
    return next((name for name in names if len(headers.getall(name, ())) > 1), None)


def parse_json(body: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> object:
    """The JSON value of ``body``; BadRequest with the parser's reason when it is not JSON we can handle."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise BadRequest(f"malformed JSON: nested deeper than {max_depth} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError, so are over-long integers
        raise BadRequest(f"malformed JSON: {str(exc)[:200]}") from None
    check_value(value, max_depth)
    return value


def first_problem(exc: ValidationError) -> str:
    """The first problem of a validation error as ``field.path: message``, without the input it refused."""
    problem = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in problem["loc"])
    return f"{where}: {problem['msg']}" if where else str(problem["msg"])


def check_value(value: object, max_depth: int = MAX_JSON_DEPTH) -> None:
    """BadRequest unless arrays and objects in ``value`` nest at most ``max_depth`` deep and all its text can be
    stored: Postgres refuses NUL characters and unpaired surrogates (JSON allows ``\\u0000`` and ``\\ud800``).
    Walked level by level, without recursion."""
    level, depth = [value], 0
    while level:
        children: list[object] = []
        for item in level:
            if isinstance(item, str):
                _check_text(item)
            elif isinstance(item, dict | list):
                if depth == max_depth:
                    raise BadRequest(f"malformed JSON: nested deeper than {max_depth} levels")
                children.extend((*item.keys(), *item.values()) if isinstance(item, dict) else item)
        level, depth = children, depth + 1


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise BadRequest("text contains a NUL character")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise BadRequest("text contains an unpaired surrogate (not valid Unicode)") from None
