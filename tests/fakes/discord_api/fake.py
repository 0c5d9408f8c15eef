"""The fake's server: it records each call, checks auth, rate limits and bodies, and keeps Discord's state."""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from tests.fakes.discord_api.bodies import MAX_UPLOAD_BYTES, read_body
from tests.fakes.discord_api.objects import (
    APPLICATION_ID,
    BOT_TOKEN,
    CALLBACK_ROUTE,
    DISCORD_EPOCH_MS,
    INTERACTION_CHANNEL_ID,
    LOADING_FLAG,
    UploadedFile,
    bot_user,
    check_message_rules,
    numbered,
    stored_embed,
)
from tests.fakes.discord_api.routes import RESPONDERS
from tests.fakes.discord_api.spec import (
    DEFAULT_SPEC_PATH,
    DiscordApiError,
    Json,
    Operation,
    check,
    form_error,
    load_spec,
    most_relevant,
)

RATE_LIMIT_PER_WINDOW: Final = 50
_API_PREFIX: Final = re.compile(r"/api/v[0-9]+(?=/)")


@dataclass
class Call:
    """One request the fake received, and its answer."""

    method: str
    path: str
    template: str | None
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None  # the JSON body, or the parsed ``payload_json`` of a multipart body
    files: list[UploadedFile] = field(default_factory=list)
    status: int = 0
    response: Any = None


@dataclass
class _RateLimit:
    calls_left: int
    retry_after_s: float
    is_global: bool


class DiscordApiFake:
    """Records every call; keeps messages, threads, commands and interaction answers in memory."""

    def __init__(
        self, *, bot_token: str = BOT_TOKEN, application_id: str = APPLICATION_ID, spec_path: Path = DEFAULT_SPEC_PATH
    ) -> None:
        self.spec = load_spec(spec_path)
        self.bot_token = bot_token
        self.application_id = application_id
        self.bot_user = bot_user()
        self.calls: list[Call] = []
        self.messages: dict[str, Json] = {}  # by message id
        self.originals: dict[str, str] = {}  # interaction token -> id of its @original message
        self.answered: dict[str, int] = {}  # interaction token -> callback type
        self.commands: dict[str | None, list[Json]] = {}  # guild id (None: global) -> commands
        self.require_interaction_answer = True  # follow-ups need the interaction answered first
        self._limits: dict[tuple[str, str], _RateLimit] = {}
        self._counter = itertools.count(1)

    def app(self) -> web.Application:
        """The aiohttp application; it serves the API under ``/api/v{N}``."""
        app = web.Application(client_max_size=2 * MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def rate_limit_next(
        self, method: str, template: str, times: int = 1, retry_after_s: float = 0.5, *, is_global: bool = False
    ) -> None:
        """Answer the next ``times`` calls of ``method template`` with 429 (parameter names do not matter)."""
        self._limits[(method.upper(), _shape(template))] = _RateLimit(times, retry_after_s, is_global)

    def calls_to(self, method: str, template: str) -> list[Call]:
        """The calls of ``method template`` (parameter names do not matter), oldest first."""
        return [c for c in self.calls if c.method == method.upper() and _shape(c.template or "") == _shape(template)]

    def answers_off_spec(self) -> list[str]:
        """The fake's own successful answers that do not match the spec's response schemas (should be none)."""
        problems = []
        for call in self.calls:
            if call.template is None or not 200 <= call.status < 300 or call.response is None:
                continue
            op = self.spec.by_route[(call.method, call.template)]
            errors = list(self.spec.response_validator(op, call.status).iter_errors(call.response))
            if errors:
                error = most_relevant(errors)
                problems.append(f"{call.method} {call.template}: {list(error.absolute_path)}: {error.message[:200]}")
        return problems

    def add_message(self, channel_id: str, content: str = "") -> Json:
        """Put a message in a channel, as if it was there before the test (e.g. to start a thread from)."""
        return self.new_message(channel_id, {"content": content}, [])

    def snowflake(self) -> str:
        """A fresh snowflake: milliseconds since Discord's epoch, shifted by 22 bits, plus a counter."""
        return str(((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(self._counter) & 0xFFF))

    def new_message(self, channel_id: str, body: Json, files: list[UploadedFile], **extra: Any) -> Json:
        """Store and return a message object as Discord returns it."""
        message = {
            "id": self.snowflake(),
            "type": 0,
            "channel_id": channel_id,
            "author": self.bot_user,
            "content": body.get("content") or "",
            "embeds": [stored_embed(embed) for embed in body.get("embeds") or []],
            "components": numbered(body.get("components") or []),
            "attachments": [self._attachment(file) for file in files],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "flags": body.get("flags") or 0,
            **extra,
        }
        self.messages[message["id"]] = message
        return message

    def edit_message(self, message_id: str, body: Json, files: list[UploadedFile]) -> Json:
        """Apply a PATCH: given fields replace, ``attachments`` lists the old ones to keep, files are added."""
        message = self.messages.get(message_id)
        if message is None:
            raise DiscordApiError(404, 10008, "Unknown Message")
        if "content" in body:
            message["content"] = body["content"] or ""
        if "embeds" in body:
            message["embeds"] = [stored_embed(embed) for embed in body["embeds"] or []]
        if "components" in body:
            message["components"] = numbered(body["components"] or [])
        if "attachments" in body:
            kept = {str(attachment["id"]) for attachment in body["attachments"] or []}
            message["attachments"] = [old for old in message["attachments"] if old["id"] in kept]
        message["attachments"] += [self._attachment(file) for file in files]
        message["flags"] &= ~LOADING_FLAG
        message["edited_timestamp"] = datetime.now(UTC).isoformat()
        return message

    def record_answer(self, interaction_token: str, answer: Json) -> Json | None:
        """Take the answer the hub gave in its HTTP response to an interaction, checked like a callback body.

        Discord learns an inline answer from the hub's response, not from a call to this fake: tests pass it on
        so that follow-ups and ``@original`` edits work. Raises DiscordApiError when Discord would refuse it.
        """
        op = self.spec.by_route[("POST", CALLBACK_ROUTE)]
        check(op.bodies["application/json"], answer)
        check_message_rules(answer, [], op)
        return self.answer_interaction(interaction_token, answer, [])

    def answer_interaction(self, interaction_token: str, answer: Json, files: list[UploadedFile]) -> Json | None:
        """Apply a valid interaction answer (once per interaction); return the @original message it made, if any."""
        if interaction_token in self.answered:
            raise DiscordApiError(400, 40060, "Interaction has already been acknowledged.")
        self.answered[interaction_token] = answer["type"]
        if answer["type"] not in (4, 5):  # CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
            return None
        data = answer.get("data") or {}
        flags = (data.get("flags") or 0) | (LOADING_FLAG if answer["type"] == 5 else 0)
        extra = {"type": 20, "webhook_id": self.application_id, "application_id": self.application_id}
        message = self.new_message(INTERACTION_CHANNEL_ID, {**data, "flags": flags}, files, **extra)
        self.originals[interaction_token] = message["id"]
        return message

    def follow_up_token(self, call: Call) -> str:
        """The token of a follow-up call for one of our application's interactions, answered before."""
        token = call.params["webhook_token"]
        if call.params["webhook_id"] != self.application_id or (
            self.require_interaction_answer and token not in self.answered
        ):
            raise DiscordApiError(404, 10015, "Unknown Webhook")
        return token

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        prefix = _API_PREFIX.match(request.path)
        found = self.spec.match(request.method, request.path[prefix.end() :]) if prefix else None
        op, params = found or (None, {})
        template = op.template if op else None
        call = Call(request.method, request.path, template, params, dict(request.query), dict(request.headers))
        self.calls.append(call)
        headers = _bucket_headers(call.template or request.path)
        try:
            if op is None:
                raise DiscordApiError(404, 0, "404: Not Found")
            call.status, call.response = await self._answer(request, call, op)
        except DiscordApiError as exc:
            call.status, call.response = exc.status, exc.body
        except _RateLimited as limited:
            call.status, call.response, headers = 429, limited.body, limited.headers
        if call.status == 204:
            return web.Response(status=204, headers=headers)
        # Exactly "application/json": discord.py reads "application/json; charset=utf-8" as text.
        headers["Content-Type"] = "application/json"
        return web.Response(status=call.status, body=json.dumps(call.response).encode(), headers=headers)

    async def _answer(self, request: web.Request, call: Call, op: Operation) -> tuple[int, Any]:
        if op.needs_bot_token and request.headers.get("Authorization") != f"Bot {self.bot_token}":
            raise DiscordApiError(401, 0, "401: Unauthorized")
        limit = self._limits.get((op.method, _shape(op.template)))
        if limit is not None and limit.calls_left > 0:
            limit.calls_left -= 1
            raise _RateLimited(op.template, limit)
        check(op.params, call.params)
        unknown = sorted(set(call.query) - op.query_names)
        if unknown:
            raise form_error(unknown, "UNKNOWN_QUERY", "Unknown query parameter")
        call.json, call.files = await read_body(request, op)
        responder = RESPONDERS.get((op.method, op.template))
        if responder is None:
            raise DiscordApiError(501, 0, f"the fake Discord API does not implement {op.method} {op.template}")
        return await responder(self, call)

    def _attachment(self, file: UploadedFile) -> Json:
        attachment_id = self.snowflake()
        url = f"https://cdn.discordapp.com/attachments/{INTERACTION_CHANNEL_ID}/{attachment_id}/{file.filename}"
        return {
            "id": attachment_id,
            "filename": file.filename,
            "size": len(file.data),
            "url": url,
            "proxy_url": url,
            "content_type": file.content_type,
        }


class _RateLimited(Exception):
    """A 429 answer: Discord's body and headers (``Via`` tells discord.py it is not a Cloudflare ban)."""

    def __init__(self, template: str, limit: _RateLimit) -> None:
        super().__init__("rate limited")
        self.body = {"message": "You are being rate limited.", "retry_after": limit.retry_after_s}
        self.body["global"] = limit.is_global
        self.headers = _bucket_headers(template) | {
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{limit.retry_after_s:.3f}",
            "X-RateLimit-Reset": f"{time.time() + limit.retry_after_s:.3f}",
            "X-RateLimit-Scope": "global" if limit.is_global else "user",
            "Retry-After": str(max(1, round(limit.retry_after_s))),
            "Via": "1.1 google",
        }
        if limit.is_global:
            self.headers["X-RateLimit-Global"] = "true"


def _bucket_headers(template: str) -> dict[str, str]:
    return {
        "X-RateLimit-Bucket": re.sub(r"\W", "", _shape(template))[-32:] or "root",
        "X-RateLimit-Limit": str(RATE_LIMIT_PER_WINDOW),
        "X-RateLimit-Remaining": str(RATE_LIMIT_PER_WINDOW - 1),
        "X-RateLimit-Reset-After": "1.000",
    }


def _shape(template: str) -> str:
    return re.sub(r"{\w+}", "{}", template)
