"""``garageswarm hooks ...``: inbound endpoints, their deliveries, and outbound subscriptions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hub.settings import Settings

from .cli import _with_db, key_values


def _box(settings: Settings) -> Any:
    from hub.webhooks.secrets import webhook_box

    return webhook_box(settings)


def _rules(path: str | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    data = json.loads(Path(path).read_text())
    return list(data if isinstance(data, list) else data.get("rules", []))


def _secret_lines(what: str, generated: str | None) -> str:
    """A generated secret is printed once; one the user typed (``--secret``) is never echoed back."""
    if generated is None:
        return f"{what}; secret: the one you gave with --secret (not shown)"
    return f"{what}; secret (shown once):\n{generated}"


def _add(settings: Settings, args: argparse.Namespace) -> Callable[[], Awaitable[str]]:
    from hub.db.webhook_models import HookScheme
    from hub.services.admin import ensure_tenant
    from hub.webhooks import manage

    async def work() -> str:
        tenant = await ensure_tenant()
        options = key_values(args.option, "--option")
        new = manage.NewEndpoint(
            name=args.name, scheme=HookScheme(args.scheme), secret=args.secret, rules=_rules(args.rules),
            channel=manage.parse_channel(args.channel), rate_limit_per_min=args.rate_limit, options=options,
        )  # fmt: skip
        row, generated = await manage.create_endpoint(
            tenant.id, _box(settings), new, settings.webhook_rate_limit_per_min
        )
        return f"Endpoint {row.name}: POST {settings.hub_url}/hooks/{row.public_id}\n" + _secret_lines(
            f"Scheme {row.scheme.value}", generated
        )

    return work


def _set_rules(settings: Settings, args: argparse.Namespace) -> Callable[[], Awaitable[str]]:
    from hub.services.admin import ensure_tenant
    from hub.webhooks import manage

    async def work() -> str:
        tenant = await ensure_tenant()
        row = await manage.find_endpoint(tenant.id, args.name)
        if row is None:
            raise manage.HookConfigError(f"no endpoint {args.name!r}")
        row.rules = await manage.checked_rules(tenant.id, _rules(args.file))
        await row.save(update_fields=["rules", "updated_at"])
        return f"{len(row.rules)} rule(s) set on {row.name}"

    return work


def _list(settings: Settings, args: argparse.Namespace) -> Callable[[], Awaitable[str]]:
    from hub.db.webhook_models import HookEndpoint, Subscription

    async def work() -> str:
        endpoints = await HookEndpoint.all().order_by("name")
        lines = [f"{e.name}\t{e.scheme.value}\t/hooks/{e.public_id}\t{len(e.rules)} rules\t"
                 f"{'enabled' if e.enabled else 'disabled'}" for e in endpoints]  # fmt: skip
        lines += [f"subscription {s.id}\t{s.url}\t{','.join(s.event_types)}\t"
                  f"{'enabled' if s.enabled else 'disabled: ' + (s.disabled_reason or '')}"
                  for s in await Subscription.all().order_by("created_at")]  # fmt: skip
        return "\n".join(lines) or "no endpoints or subscriptions"

    return work


def _deliveries(settings: Settings, args: argparse.Namespace) -> Callable[[], Awaitable[str]]:
    from hub.db.webhook_models import HookDelivery
    from hub.services.admin import ensure_tenant
    from hub.webhooks import manage

    async def work() -> str:
        row = await manage.find_endpoint((await ensure_tenant()).id, args.name)
        if row is None:
            raise manage.HookConfigError(f"no endpoint {args.name!r}")
        rows = await HookDelivery.filter(endpoint_id=row.id).order_by("-id").limit(args.limit)
        return "\n".join(f"{d.id}\t{d.received_at.isoformat()}\t{d.status.value}\t{d.delivery_id}\t"
                         f"{','.join(d.matched) or '-'}\t{d.error or ''}" for d in rows) or "no deliveries"  # fmt: skip

    return work


def _replay(settings: Settings, args: argparse.Namespace) -> Callable[[], Awaitable[str]]:
    from hub.db.webhook_models import HookDelivery
    from hub.webhooks import manage

    async def work() -> str:
        delivery = await HookDelivery.get_or_none(id=args.delivery)
        if delivery is None:
            raise manage.HookConfigError(f"no delivery {args.delivery}")
        copy = await manage.replay(delivery)
        return f"replayed as delivery {copy.id} (the hub worker runs it)"

    return work


def _subscribe(settings: Settings, args: argparse.Namespace) -> Callable[[], Awaitable[str]]:
    from hub.security.ssrf import TargetPolicy, parse_networks
    from hub.services.admin import ensure_tenant
    from hub.webhooks import manage

    async def work() -> str:
        policy = TargetPolicy(parse_networks(",".join(settings.webhook_allow_networks)))
        row, generated = await manage.create_subscription(
            (await ensure_tenant()).id, _box(settings), policy, args.url, args.event, args.secret, args.description
        )
        return _secret_lines(f"Subscription {row.id} to {row.url} for {', '.join(row.event_types)}", generated)

    return work


def _retry(settings: Settings, args: argparse.Namespace) -> Callable[[], Awaitable[str]]:
    from hub.db.webhook_models import OutboundDelivery
    from hub.webhooks import manage

    async def work() -> str:
        row = await OutboundDelivery.get_or_none(id=args.delivery)
        if row is None:
            raise manage.HookConfigError(f"no outbound delivery {args.delivery}")
        await manage.retry_outbound(row)
        return f"outbound delivery {row.id} will be sent again within a second or two"

    return work


ACTIONS = {"add": _add, "rules": _set_rules, "list": _list, "deliveries": _deliveries, "replay": _replay,
           "subscribe": _subscribe, "retry": _retry}  # fmt: skip


def _cmd_hooks(settings: Settings, args: argparse.Namespace) -> int:
    from hub.webhooks.manage import HookConfigError

    try:
        print(_with_db(settings, ACTIONS[args.action](settings, args)))
    except (HookConfigError, ValueError, OSError) as exc:
        print(f"garageswarm hooks: {exc}", file=sys.stderr)
        return 1
    return 0


def add_hook_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``hooks`` on the ``garageswarm`` parser."""
    hooks = sub.add_parser("hooks", help="inbound webhook endpoints and outbound subscriptions")
    actions = hooks.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="create an endpoint; prints its URL and secret once")
    add.add_argument("name")
    add.add_argument("--scheme", required=True, choices=["github", "standard", "hmac", "bearer"])
    add.add_argument("--secret", help="the sender's secret (default: generated)")
    add.add_argument("--option", action="append", default=[], help="KEY=VALUE: header, algorithm, encoding, "
                     "prefix (hmac), delivery_header")  # fmt: skip
    add.add_argument("--rules", help="JSON file with a list of rules")
    add.add_argument("--channel", default="console", help="console[:NAME], slack:CHANNEL[:TEAM], discord:CHANNEL")
    add.add_argument("--rate-limit", type=int, help="requests per minute (GARAGESWARM_WEBHOOK_RATE_LIMIT_PER_MIN)")
    rules = actions.add_parser("rules", help="replace an endpoint's rules from a JSON file")
    rules.add_argument("name")
    rules.add_argument("file")
    actions.add_parser("list", help="endpoints and subscriptions")
    deliveries = actions.add_parser("deliveries", help="an endpoint's latest deliveries")
    deliveries.add_argument("name")
    deliveries.add_argument("--limit", type=int, default=20)
    actions.add_parser("replay", help="run a stored delivery again").add_argument("delivery", type=int)
    subscribe = actions.add_parser("subscribe", help="send events to a URL (Standard Webhooks signed)")
    subscribe.add_argument("url")
    subscribe.add_argument("--event", action="append", required=True, help="job.succeeded, job.failed, ...")
    subscribe.add_argument("--secret", help="whsec_... (default: generated)")
    subscribe.add_argument("--description", default="")
    actions.add_parser("retry", help="send an outbound delivery again now").add_argument("delivery", type=int)
    hooks.set_defaults(handler=_cmd_hooks)
