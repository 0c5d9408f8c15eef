"""What the Slack door accepts, type-checked (strictly: an id is a string, never an object) before bolt or a
listener sees it; any other shape is refused with 400.

Slack sends slash commands and interactivity form-encoded (interactivity as JSON in ``payload``) and the
Events API as JSON. :func:`parse_slack_body` turns a verified body into one of the models below; the door
hands bolt the model's JSON, so that bolt routes exactly what was checked and nothing else."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.doors import check_value, first_problem, parse_json
from hub.errors import BadRequest, UnsupportedMediaType

SLACK_ID_MAX = 64
DELIVERY_ID_MAX = 200  # inbound_deliveries.delivery_id
FORM = "application/x-www-form-urlencoded"
_INBOUND = ConfigDict(strict=True, extra="ignore", frozen=True)
SlackId = Annotated[str, Field(max_length=SLACK_ID_MAX)]


class SlashCommand(BaseModel):
    """A ``/swarm`` invocation."""

    command: str = Field(max_length=100)
    team_id: SlackId
    channel_id: SlackId
    user_id: SlackId
    text: str = ""
    trigger_id: str = Field(default="", max_length=DELIVERY_ID_MAX)
    response_url: str = Field(default="", max_length=DELIVERY_ID_MAX)

    model_config = _INBOUND


class SslCheck(BaseModel):
    """Slack checking the certificate of a slash command's URL (answered 200 by bolt)."""

    ssl_check: Literal["1"]

    model_config = _INBOUND


class Ref(BaseModel):
    id: SlackId

    model_config = _INBOUND


class ButtonAction(BaseModel):
    action_id: str = Field(max_length=255)
    value: str = Field(default="", max_length=2000)
    action_ts: str = Field(default="", max_length=SLACK_ID_MAX)

    model_config = _INBOUND


class BlockActions(BaseModel):
    """A click on one of our buttons."""

    type: Literal["block_actions"]
    user: Ref
    team: Ref | None = None
    channel: Ref | None = None
    actions: list[ButtonAction] = Field(min_length=1, max_length=25)

    model_config = _INBOUND


class AppMention(BaseModel):
    type: Literal["app_mention"]
    channel: SlackId
    user: str = Field(default="", max_length=SLACK_ID_MAX)
    text: str = ""
    ts: SlackId
    thread_ts: str | None = Field(default=None, max_length=SLACK_ID_MAX)

    model_config = _INBOUND


class EventCallback(BaseModel):
    """An Events API delivery; ``app_mention`` is the one event the app subscribes to."""

    type: Literal["event_callback"]
    event_id: str = Field(min_length=1, max_length=100)
    team_id: SlackId
    event: AppMention

    model_config = _INBOUND


class UrlVerification(BaseModel):
    """Slack checking the Events API URL: bolt answers the challenge."""

    type: Literal["url_verification"]
    challenge: str = Field(max_length=200)

    model_config = _INBOUND


SlackRequest = SlashCommand | SslCheck | BlockActions | EventCallback | UrlVerification
_BY_TYPE: dict[str, type[BaseModel]] = {
    "block_actions": BlockActions, "event_callback": EventCallback, "url_verification": UrlVerification,
}  # fmt: skip


def parse_slack_body(body: str, content_type: str) -> SlackRequest:
    """The request a verified body carries; 400 (415 for a content type Slack does not use) when it is not one
    this door handles, saying why."""
    if content_type == FORM:
        fields = _form(body)
        if "payload" in fields:
            return _validate(_json_object(fields["payload"]))
        return _validate(fields, SslCheck if "ssl_check" in fields else SlashCommand)
    if content_type == "application/json":
        return _validate(_json_object(body))
    raise UnsupportedMediaType(f"expected Content-Type {FORM} or application/json, got {content_type or 'none'}")


def _form(body: str) -> dict[str, str]:
    try:
        fields = parse_qs(body, keep_blank_values=True, strict_parsing=bool(body), errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:  # strict parsing: a field without '=', bad %-escapes
        raise BadRequest(f"malformed form body: {str(exc)[:200]}") from None
    if repeated := [name for name, values in fields.items() if len(values) > 1]:
        raise BadRequest(f"form field {repeated[0][:40]!r} given more than once")
    single = {name: values[0] for name, values in fields.items()}
    check_value(single)  # no NUL (%00) or unpaired surrogate: Postgres could not store it
    return single


def _json_object(text: str) -> dict[str, Any]:
    value = parse_json(text)
    if not isinstance(value, dict):
        raise BadRequest(f"expected a JSON object, got {type(value).__name__}")
    return value


def _validate(data: dict[str, Any], model: type[BaseModel] | None = None) -> SlackRequest:
    kind = data.get("type")
    chosen = model or (_BY_TYPE.get(kind) if isinstance(kind, str) else None)
    if chosen is None:
        raise BadRequest(f"not a Slack request this endpoint handles (type {str(kind)[:40]!r})")
    try:
        return cast(SlackRequest, chosen.model_validate(data))
    except ValidationError as exc:
        raise BadRequest(f"not a Slack {chosen.__name__}: {first_problem(exc)}") from None
