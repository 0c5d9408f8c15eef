"""A strict fake of the Discord REST API: an aiohttp app for pytest-aiohttp's ``aiohttp_server``.

Every JSON body (and the ``payload_json`` part of a multipart body) is validated against Discord's official
OpenAPI spec, the operation found by method and path template. Invalid input gets Discord's 400 shape (code
50035, ``errors`` nested by field), a bad ``Authorization: Bot ...`` on a bot route 401, and ``rate_limit_next``
makes the next K calls of a route answer 429. Beyond the spec the fake enforces what Discord enforces without
writing it down (6,000 characters across embeds, no empty message, no blank embed field, an interaction
answered once and before its follow-ups, uploads referenced by ``attachments``), and accepts integer
snowflakes and the few unlisted fields discord.py sends, as Discord does. Unlike Discord it refuses unknown
fields: Discord ignores them, which would hide a typo such as ``custom-id``. Its own answers follow the spec's
response schemas (``answers_off_spec()`` lists any that do not).

Use::

    fake = DiscordApiFake()
    server = await aiohttp_server(fake.app())
    base_url = str(server.make_url("/api/v10"))  # DISCORD_API_URL; for discord.py, discord.http.Route.BASE

The spec is read from ``DISCORD_OPENAPI_SPEC`` (default: the official spec vendored beside this file, gzipped),
once per process.
"""

from tests.fakes.discord_api.bodies import MAX_UPLOAD_BYTES
from tests.fakes.discord_api.fake import Call, DiscordApiFake
from tests.fakes.discord_api.objects import (
    APPLICATION_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    GUILD_ID,
    INTERACTION_CHANNEL_ID,
    UploadedFile,
)
from tests.fakes.discord_api.spec import DiscordApiError, DiscordSpec, Operation, load_spec

__all__ = [
    "APPLICATION_ID",
    "BOT_TOKEN",
    "BOT_USER_ID",
    "GUILD_ID",
    "INTERACTION_CHANNEL_ID",
    "MAX_UPLOAD_BYTES",
    "Call",
    "DiscordApiError",
    "DiscordApiFake",
    "DiscordSpec",
    "Operation",
    "UploadedFile",
    "load_spec",
]
