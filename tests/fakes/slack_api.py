"""A strict fake of the Slack Web API (an aiohttp app): it records every call and refuses what Slack would.

Serve it with pytest-aiohttp and point slack_sdk (or slack-bolt) at it::

    fake = SlackApiFake()
    server = await aiohttp_server(fake.app())
    client = AsyncWebClient(token=BOT_TOKEN, base_url=str(server.make_url("/api/")))

Methods: auth.test, chat.postMessage, chat.update, chat.postEphemeral, conversations.info,
files.getUploadURLExternal, the upload URL it hands out, files.completeUploadExternal. Anything else answers
``unknown_method``. Arguments are read from the query string, a form body or a JSON body, as Slack does; the token
from ``Authorization: Bearer`` (or a ``token`` form field). Only channels made known to the fake exist.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

BOT_TOKEN: Final = "xoxb-1000000001-2000000002-garageswarmtestbottoken"
TEAM_ID: Final = "T0GARAGE01"
BOT_USER_ID: Final = "U0SWARMBOT1"
BOT_ID: Final = "B0SWARMBOT1"
CHANNEL: Final = "C0SWARM0001"
MAX_BLOCKS: Final = 50
MAX_BLOCKS_TEXT_CHARS: Final = 13_000  # Slack answers msg_blocks_too_long from about here
MAX_ALT_TXT_CHARS: Final = 1000
UPLOAD_PATH: Final = "/upload/v1/"
_FIRST_TS_S: Final = 1_700_000_000

Json = dict[str, Any]


class InvalidBlocks(Exception):
    """Blocks Slack would refuse: ``error`` is Slack's error code, the message its explanation."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


class _Refused(Exception):
    def __init__(self, error: str, *messages: str) -> None:
        super().__init__(error)
        self.error, self.messages = error, list(messages)


@dataclass
class RecordedCall:
    """One request as the fake saw it (``args`` without the token, JSON-string arguments decoded)."""

    method: str
    args: Json
    status: int
    response: Json


@dataclass
class FakeFile:
    """A file announced with files.getUploadURLExternal; ``data`` once uploaded, ``shared`` once completed."""

    id: str
    filename: str
    length: int
    ticket: str
    data: bytes | None = None
    shared: bool = False
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None


@dataclass
class _Channel:
    id: str
    name: str
    member: bool


@dataclass
class _Scripted:
    errors: deque[str] = field(default_factory=deque)
    retry_after_s: deque[int] = field(default_factory=deque)


def check_blocks(blocks: Any) -> None:
    """Raise InvalidBlocks unless Slack would take ``blocks`` (slack_sdk's Block Kit models plus Slack's limits)."""
    if not isinstance(blocks, list) or not all(isinstance(block, dict) for block in blocks):
        raise InvalidBlocks("invalid_blocks_format", "blocks must be an array of objects")
    if len(blocks) > MAX_BLOCKS:
        raise InvalidBlocks("invalid_blocks", f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        _check_block(block, f"[json-pointer:/blocks/{index}]")
        if (block_id := block.get("block_id")) is not None:
            if block_id in block_ids:
                raise InvalidBlocks("invalid_blocks", f"duplicate block_id {block_id!r}")
            block_ids.add(block_id)
    if sum(len(text) for text in _texts(blocks)) > MAX_BLOCKS_TEXT_CHARS:
        raise InvalidBlocks("msg_blocks_too_long", f"the blocks hold more than {MAX_BLOCKS_TEXT_CHARS} characters")


def _check_block(block: Json, where: str) -> None:
    """The block must parse to a known type, validate (nested objects too) and survive the round trip unchanged:
    an unknown, misplaced or empty field is dropped by the models, so a difference means Slack would refuse it."""
    try:
        parsed = Block.parse(copy.deepcopy(block))
        if parsed is None:
            raise InvalidBlocks("invalid_blocks", f"unknown block type {block.get('type')!r} {where}")
        parsed.validate_json()
        rendered = parsed.to_dict()  # validates every nested element and text object
    except (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidBlocks("invalid_blocks", f"{exc} {where}") from None
    if rendered != block:
        shown = json.dumps(block)[:300]
        raise InvalidBlocks("invalid_blocks", f"fields Block Kit does not allow here {where}: {shown}")


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if value.get("type") in ("mrkdwn", "plain_text") and isinstance(value.get("text"), str):
            yield value["text"]
        for child in value.values():
            yield from _texts(child)
    elif isinstance(value, list):
        for child in value:
            yield from _texts(child)


class SlackApiFake:
    """The fake's state and its small API for tests: calls, scripted failures and rate limits, what was posted."""

    def __init__(self, *, tokens: Iterable[str] = (BOT_TOKEN,), channels: Iterable[str] = (CHANNEL,)) -> None:
        self.tokens = set(tokens)
        self.log: list[RecordedCall] = []
        self._channels: dict[str, _Channel] = {}
        self._messages: dict[tuple[str, str], Json] = {}
        self._files: dict[str, FakeFile] = {}
        self._scripted: defaultdict[str, _Scripted] = defaultdict(_Scripted)
        self._seq = 0
        self._methods: dict[str, Callable[[Json, str], Json]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "conversations.info": self._conversation_info,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "usergroups.users.list": self._usergroup_users,
        }
        self._user_groups: dict[str, list[str]] = {}
        self._oauth_client: tuple[str, str] | None = None
        self._codes: dict[str, tuple[str, str, str]] = {}
        for channel in channels:
            self.add_channel(channel)

    def app(self) -> web.Application:
        """The aiohttp application: ``/api/<method>`` and the upload URLs."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post(UPLOAD_PATH + "{ticket}", self._upload)
        return app

    def add_channel(self, channel_id: str, *, member: bool = True, name: str | None = None) -> None:
        """Make a channel exist; posting to it answers ``not_in_channel`` unless the bot is a ``member``."""
        self._channels[channel_id] = _Channel(channel_id, name or channel_id.lower(), member)

    def calls(self, method: str) -> list[Json]:
        """The arguments of every request to ``method``, refused ones included, oldest first."""
        return [copy.deepcopy(call.args) for call in self.log if call.method == method]

    def fail_next(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next ``times`` authenticated calls of ``method`` with ``{"ok": false, "error": error}``."""
        self._scripted[method].errors.extend([error] * times)

    def rate_limit_next(self, method: str, retry_after_s: int, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP 429, ``Retry-After: retry_after_s``."""
        self._scripted[method].retry_after_s.extend([retry_after_s] * times)

    def message(self, channel: str, ts: str) -> Json:
        """The message as it reads now (after any chat.update); KeyError when it was never posted."""
        return copy.deepcopy(self._messages[(channel, ts)])

    def files(self) -> list[FakeFile]:
        """Every file announced so far, in order."""
        return list(self._files.values())

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            args, token = await _read_args(request)
        except _Refused as refused:
            return self._answer(method, {}, 200, _error(refused))
        scripted = self._scripted[method]
        if method in self._methods and scripted.retry_after_s:
            retry_after = scripted.retry_after_s.popleft()
            response = {"ok": False, "error": "ratelimited"}
            return self._answer(method, args, 429, response, {"Retry-After": str(retry_after)})
        try:
            response = self._run(method, args, token, request)
        except _Refused as refused:
            response = _error(refused)
        return self._answer(method, args, 200, response)

    def configure_oauth(self, client_id: str, client_secret: str) -> None:
        """Accept oauth.v2.access from this app (HTTP Basic client credentials, as slack_sdk sends them)."""
        self._oauth_client = (client_id, client_secret)

    def issue_code(self, team_id: str, team_name: str, installer: str = "U0INSTALL01") -> str:
        """A one-time OAuth code, as Slack would hand to the redirect URL after a user approves the install."""
        code = f"code-{team_id}-{len(self._codes)}"
        self._codes[code] = (team_id, team_name, installer)
        return code

    def _oauth_access(self, args: Json, request: web.Request) -> Json:
        import base64

        basic = request.headers.get("Authorization", "").removeprefix("Basic ").strip()
        credentials = base64.b64decode(basic).decode() if basic else ""
        client = credentials or f"{args.get('client_id', '')}:{args.get('client_secret', '')}"
        if self._oauth_client is None or client != ":".join(self._oauth_client):
            raise _Refused("invalid_client_id")
        grant = self._codes.pop(_text(args, "code") or "", None)
        if grant is None:
            raise _Refused("invalid_code")
        team_id, team_name, installer = grant
        token = f"xoxb-{team_id.lower()}-installed-token"
        self.tokens.add(token)
        return {
            "ok": True, "access_token": token, "token_type": "bot", "scope": "commands,chat:write,files:write",
            "bot_user_id": "U0SWARMBOT2", "app_id": "A0SWARM0001", "team": {"id": team_id, "name": team_name},
            "enterprise": None, "authed_user": {"id": installer}, "is_enterprise_install": False,
        }  # fmt: skip

    def _run(self, method: str, args: Json, token: str | None, request: web.Request) -> Json:
        if method == "oauth.v2.access":
            return self._oauth_access(args, request)
        handler = self._methods.get(method)
        if handler is None:
            raise _Refused("unknown_method")
        if token is None:
            raise _Refused("not_authed")
        if token not in self.tokens:
            raise _Refused("invalid_auth")
        if self._scripted[method].errors:
            raise _Refused(self._scripted[method].errors.popleft())
        return handler(args, str(request.url.origin()))

    def _answer(
        self, method: str, args: Json, status: int, body: Json, headers: dict[str, str] | None = None
    ) -> web.Response:
        self.log.append(RecordedCall(method, args, status, body))
        return web.json_response(body, status=status, headers=headers)

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        ticket = request.match_info["ticket"]
        file = next((f for f in self._files.values() if f.ticket == ticket), None)
        if file is None or file.data is not None:
            status, text = 404, "upload URL unknown or already used"
        elif len(data) != file.length:
            status, text = 400, f"expected {file.length} bytes, received {len(data)}"
        else:
            file.data = data
            status, text = 200, f"OK - {len(data)}"
        file_id = file.id if file is not None else None
        self.log.append(RecordedCall("upload", {"file_id": file_id, "length": len(data)}, status, {}))
        return web.Response(status=status, text=text, content_type="text/plain")

    def _auth_test(self, args: Json, origin: str) -> Json:
        return {
            "ok": True, "url": "https://garageswarm-test.slack.com/", "team": "GarageSwarm Test", "user": "swarm",
            "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False,
        }  # fmt: skip

    def _post_message(self, args: Json, origin: str) -> Json:
        channel = self._postable(_text(args, "channel"))
        text, blocks = _content(args)
        ts = self._next_ts()
        message: Json = {
            "type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "team": TEAM_ID, "text": text, "ts": ts,
        }  # fmt: skip
        if blocks:
            message["blocks"] = blocks
        if thread_ts := _text(args, "thread_ts"):
            message["thread_ts"] = thread_ts
        self._messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, args: Json, origin: str) -> Json:
        channel = self._postable(_text(args, "channel"))
        ts = _text(args, "ts") or ""
        if (channel, ts) not in self._messages:
            raise _Refused("message_not_found")
        text, blocks = _content(args)
        message = {key: value for key, value in self._messages[(channel, ts)].items() if key != "blocks"}
        message.update({"text": text, "edited": {"user": BOT_USER_ID, "ts": self._next_ts()}})
        if blocks:
            message["blocks"] = blocks
        self._messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "text": text, "message": message}

    def _post_ephemeral(self, args: Json, origin: str) -> Json:
        self._postable(_text(args, "channel"))
        if not _text(args, "user"):
            raise _Refused("user_not_found")
        _content(args)
        return {"ok": True, "message_ts": self._next_ts()}

    def add_user_group(self, group_id: str, users: Iterable[str]) -> None:
        """A user group (``S…``) and its members, for usergroups.users.list."""
        self._user_groups[group_id] = list(users)

    def _usergroup_users(self, args: Json, origin: str) -> Json:
        group = _text(args, "usergroup")
        if not group:
            raise _Refused("invalid_arguments", "[ERROR] missing required field: usergroup")
        if group not in self._user_groups:
            raise _Refused("no_such_subteam")
        return {"ok": True, "users": list(self._user_groups[group])}

    def _conversation_info(self, args: Json, origin: str) -> Json:
        channel = self._channels.get(_text(args, "channel") or "")
        if channel is None:
            raise _Refused("channel_not_found")
        return {
            "ok": True,
            "channel": {
                "id": channel.id, "name": channel.name, "is_channel": True, "is_private": False, "is_archived": False,
                "is_member": channel.member, "created": _FIRST_TS_S,
            },
        }  # fmt: skip

    def _get_upload_url(self, args: Json, origin: str) -> Json:
        filename, length = _text(args, "filename"), _text(args, "length")
        if not filename:
            raise _Refused("invalid_arguments", "[ERROR] missing required field: filename")
        if not length or not length.isdigit() or int(length) == 0:
            raise _Refused("missing_argument", "[ERROR] length must be a positive integer")
        if len(_text(args, "alt_txt") or "") > MAX_ALT_TXT_CHARS:
            raise _Refused("alt_txt_too_large")
        file_id = f"F0FAKE{len(self._files) + 1:05d}"
        file = FakeFile(file_id, filename, int(length), ticket=f"{file_id}-ticket")
        self._files[file_id] = file
        return {"ok": True, "upload_url": origin + UPLOAD_PATH + file.ticket, "file_id": file_id}

    def _complete_upload(self, args: Json, origin: str) -> Json:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise _Refused("invalid_arguments", "[ERROR] files must be a non-empty array of objects")
        files = [self._files.get(str(entry.get("id"))) for entry in entries]
        if any(file is None or file.data is None or file.shared for file in files):
            raise _Refused("file_not_found")
        channel_id = _text(args, "channel_id")
        if channel_id is not None:
            if channel_id not in self._channels:
                raise _Refused("invalid_channel")
            self._postable(channel_id)
        shared = []
        for entry, file in zip(entries, files, strict=True):
            assert file is not None
            file.shared, file.title, file.channel = True, str(entry.get("title") or file.filename), channel_id
            file.thread_ts, file.initial_comment = _text(args, "thread_ts"), _text(args, "initial_comment")
            shared.append({"id": file.id, "title": file.title, "name": file.filename, "size": file.length})
        return {"ok": True, "files": shared}

    def _postable(self, channel_id: str | None) -> str:
        channel = self._channels.get(channel_id or "")
        if channel is None:
            raise _Refused("channel_not_found")
        if not channel.member:
            raise _Refused("not_in_channel")
        return channel.id

    def _next_ts(self) -> str:
        self._seq += 1
        return f"{_FIRST_TS_S + self._seq // 10_000}.{self._seq % 10_000 * 100:06d}"


async def _read_args(request: web.Request) -> tuple[Json, str | None]:
    """The arguments from query string and body (form or JSON), JSON-string values decoded, and the token."""
    args: Json = dict(request.query)
    if request.method == "POST" and request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _Refused("invalid_json") from None
            if not isinstance(body, dict):
                raise _Refused("invalid_json")
            args.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            args.update({key: value for key, value in (await request.post()).items() if isinstance(value, str)})
        else:
            raise _Refused("invalid_post_type")
    authorization = request.headers.get("Authorization", "")
    token = authorization.removeprefix("Bearer ").strip() if authorization.startswith("Bearer ") else None
    form_token = args.pop("token", None)  # Slack reads a token field from forms, never from JSON bodies
    if token is None and isinstance(form_token, str) and request.content_type != "application/json":
        token = form_token
    for key in ("blocks", "files"):
        if isinstance(args.get(key), str):
            with contextlib.suppress(ValueError):  # left as text for the method to refuse
                args[key] = json.loads(args[key])
    return args, token


def _text(args: Json, key: str) -> str | None:
    value = args.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Refused("invalid_arguments", f"[ERROR] {key} must be a string")


def _content(args: Json) -> tuple[str, list[Json] | None]:
    """The message's text and blocks: at least one of them, blocks valid Block Kit."""
    text, blocks = _text(args, "text") or "", args.get("blocks")
    if blocks is not None and blocks != "":
        try:
            check_blocks(blocks)
        except InvalidBlocks as invalid:
            raise _Refused(invalid.error, f"[ERROR] {invalid}") from None
    if not text and not blocks:
        raise _Refused("no_text")
    return text, blocks or None


def _error(refused: _Refused) -> Json:
    body: Json = {"ok": False, "error": refused.error}
    if refused.messages:
        body["response_metadata"] = {"messages": refused.messages}
    return body
