"""``garageswarm discord register-commands [--guild ID]``: put ``/swarm`` into Discord through the REST API."""

from __future__ import annotations

import argparse
import asyncio
import sys

from hub.settings import Settings


def _cmd_register(settings: Settings, args: argparse.Namespace) -> int:
    from bot.discord.adapter import DiscordAdapter
    from bot.discord.commands import application_commands
    from bot.ports import ChatDeliveryError, ChatRateLimited

    missing = [name for name, value in (("DISCORD_APPLICATION_ID", settings.discord_application_id),
                                        ("DISCORD_BOT_TOKEN", settings.discord_bot_token)) if not value]  # fmt: skip
    if missing or settings.discord_bot_token is None:
        print(f"garageswarm discord: set {' and '.join(missing)}", file=sys.stderr)
        return 2
    if args.guild is not None and not args.guild.isdigit():
        print(f"garageswarm discord: --guild expects a guild id (digits), got {args.guild!r}", file=sys.stderr)
        return 2
    adapter = DiscordAdapter(
        settings.discord_api_url, settings.discord_application_id, settings.discord_bot_token.get()
    )
    try:
        saved = asyncio.run(adapter.register_commands(application_commands(), args.guild))
    except ChatRateLimited as exc:
        print(f"garageswarm discord: rate limited; try again in {exc.retry_after_s:g} s", file=sys.stderr)
        return 1
    except ChatDeliveryError as exc:
        print(f"garageswarm discord: Discord refused the commands: {exc.error}", file=sys.stderr)
        return 1
    where = f"in guild {args.guild}" if args.guild else "globally"
    names = ", ".join(f"/{command.get('name')} ({command.get('id')})" for command in saved)
    print(f"Registered {names} {where}.")
    return 0


def add_discord_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``discord register-commands`` on the ``garageswarm`` parser."""
    discord = sub.add_parser("discord", help="Discord application set-up")
    actions = discord.add_subparsers(dest="action", required=True)
    register = actions.add_parser("register-commands", help="register /swarm (globally, or in one guild)")
    register.add_argument("--guild", help="a guild id: commands there update at once (handy while testing)")
    discord.set_defaults(handler=_cmd_register)
