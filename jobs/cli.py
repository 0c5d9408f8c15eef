"""Subcommands of the job path: ``agent``, ``chat``, ``workers``, ``jobs`` and ``tokens``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from hub.settings import Settings

T = TypeVar("T")


def key_values(pairs: list[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` arguments of ``flag`` as a dict; ValueError names the flag and the pair that is not one."""
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects KEY=VALUE, got {pair!r}")
        found[key] = value
    return found


def _labels(pairs: list[str]) -> dict[str, str]:
    try:
        return key_values(pairs, "--label")
    except ValueError as exc:
        raise SystemExit(f"garageswarm: {exc}") from None


def _with_db(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    from hub.bootstrap import resolve_stores
    from hub.db.lifecycle import close_orm, init_orm

    resolved, _stores = resolve_stores(settings)
    assert resolved.database_url is not None
    database_url = resolved.database_url

    async def run() -> T:
        await init_orm(database_url, maxsize=2)
        try:
            return await work()
        finally:
            await close_orm()

    return asyncio.run(run())


def _cmd_workers(settings: Settings, args: argparse.Namespace) -> int:
    from hub.db.models import Worker
    from hub.services import admin

    if args.action in ("add", "rotate-key"):
        try:
            if args.action == "add":
                issued = _with_db(settings, lambda: admin.add_worker(args.name, _labels(args.label), args.tenant))
            else:
                issued = _with_db(settings, lambda: admin.rotate_worker_key(args.name, args.tenant))
        except admin.AdminError as exc:
            print(f"garageswarm: {exc}", file=sys.stderr)
            return 1
        done = "registered" if args.action == "add" else "has a new key; the old one stops working within seconds"
        print(f"Agent {issued.name} {done}. Its API key (shown once, store it safely):\n{issued.key}")
        print("Run it with: GARAGESWARM_API_KEY=<key> garageswarm agent --config agent.toml")
        return 0

    async def listing() -> list[Worker]:
        return await Worker.all().order_by("name")

    for worker in _with_db(settings, listing):
        seen = worker.last_heartbeat_at.isoformat() if worker.last_heartbeat_at else "never"
        print(f"{worker.name}\t{worker.status.value}\t{len(worker.tools)} tools\tlast beat {seen}")
    return 0


def _cmd_tokens(settings: Settings, args: argparse.Namespace) -> int:
    from hub.services import admin

    issued = _with_db(settings, lambda: admin.add_token(args.name, ["jobs"]))
    print(f"API token {issued.name} (shown once; use it as GARAGESWARM_TOKEN):\n{issued.key}")
    return 0


def _cmd_agent(settings: Settings, args: argparse.Namespace) -> int:
    from .agent.runtime import AgentOptions, main

    api_key = args.api_key or (settings.api_key.get() if settings.api_key else None)
    config = args.config or settings.agent_config
    missing = [name for name, value in (("--api-key / GARAGESWARM_API_KEY", api_key),
                                        ("--config / GARAGESWARM_AGENT_CONFIG", config),
                                        ("REDIS_URL", settings.redis_url)) if not value]  # fmt: skip
    if missing or api_key is None or config is None or settings.redis_url is None:
        print(f"garageswarm agent: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    options = AgentOptions(
        hub_url=args.hub or settings.hub_url, api_key=api_key, config_path=Path(config),
        redis_url=settings.redis_url, spool_dir=settings.data_dir / "agent-spool" / api_key.split("_")[1],
        labels=_labels(args.label),
    )  # fmt: skip
    return main(options)


def read_dev_token(settings: Settings) -> str | None:
    from hub.local import DEV_TOKEN_FILE

    path = settings.data_dir / DEV_TOKEN_FILE
    return path.read_text().strip() if path.exists() else None


def _cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    from bot.console.client import run_chat

    token = settings.token.get() if settings.token else read_dev_token(settings)
    if token is None:
        print("garageswarm chat: set GARAGESWARM_TOKEN (or run `garageswarm up`, which leaves a dev token)",
              file=sys.stderr)  # fmt: skip
        return 2
    text = " ".join(args.text)
    out_dir = Path(args.out)
    return asyncio.run(run_chat(args.hub or settings.hub_url, token, text, out_dir, print, color=sys.stdout.isatty()))


async def _post(hub_url: str, token: str, path: str) -> tuple[int, dict[str, Any]]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.post(hub_url.rstrip("/") + path, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        body = await response.json(content_type=None)
        return response.status, body if isinstance(body, dict) else {}


def _cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    """``jobs retry JOB``: one more attempt of a job that failed, timed out or was cancelled."""
    import aiohttp

    token = settings.token.get() if settings.token else read_dev_token(settings)
    if token is None:
        print("garageswarm jobs: set GARAGESWARM_TOKEN (or run `garageswarm up`, which leaves a dev token)",
              file=sys.stderr)  # fmt: skip
        return 2
    hub_url = args.hub or settings.hub_url
    try:
        status, body = asyncio.run(_post(hub_url, token, f"/api/v1/jobs/{quote(args.job, safe='')}/retry"))
    except (aiohttp.ClientError, OSError) as exc:
        print(f"garageswarm jobs: cannot reach the hub at {hub_url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"garageswarm jobs: {body.get('error', {}).get('message') or f'HTTP {status}'}", file=sys.stderr)
        return 1
    waiting = " (waiting for approval again)" if body["status"] == "awaiting_approval" else ""
    print(f"Retrying job {str(body['id'])[:8]} ({body['tool']}): attempt {body['attempt'] + 1}{waiting}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``agent``, ``chat``, ``workers`` and ``tokens`` on the ``garageswarm`` parser."""
    agent = sub.add_parser("agent", help="run an agent on this AI machine")
    agent.add_argument("--hub", help="hub URL (GARAGESWARM_HUB_URL)")
    agent.add_argument("--api-key", help="the agent's key (GARAGESWARM_API_KEY)")
    agent.add_argument("--config", help="TOML naming the MCP servers (GARAGESWARM_AGENT_CONFIG)")
    agent.add_argument("--label", action="append", default=[], help="KEY=VALUE, repeatable")
    agent.set_defaults(handler=_cmd_agent)

    chat = sub.add_parser("chat", help='send "/swarm ..." through the hub and follow the thread')
    chat.add_argument("text", nargs="+", help='the command, e.g. "/swarm tool demo.echo text=hi"')
    chat.add_argument("--hub", help="hub URL (GARAGESWARM_HUB_URL)")
    chat.add_argument("--out", default="garageswarm-artifacts", help="where attachments are saved")
    chat.set_defaults(handler=_cmd_chat)

    workers = sub.add_parser("workers", help="register and list agents")
    actions = workers.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="register an agent and print its API key once")
    add.add_argument("name")
    add.add_argument("--label", action="append", default=[], help="KEY=VALUE, repeatable")
    add.add_argument("--tenant", default="default", help="tenant slug, e.g. discord-<guild id> or slack-<team id>")
    rotate = actions.add_parser("rotate-key", help="a new API key for an agent (printed once); the old one ends")
    rotate.add_argument("name")
    rotate.add_argument("--tenant", default="default", help="tenant slug")
    actions.add_parser("list", help="list agents")
    workers.set_defaults(handler=_cmd_workers)

    jobs = sub.add_parser("jobs", help="act on jobs through the hub")
    job_actions = jobs.add_subparsers(dest="action", required=True)
    retry = job_actions.add_parser("retry", help="one more attempt of a job that failed, timed out or was cancelled")
    retry.add_argument("job", help="the job's id, or its first 6 or more hex characters")
    retry.add_argument("--hub", help="hub URL (GARAGESWARM_HUB_URL)")
    jobs.set_defaults(handler=_cmd_jobs)

    tokens = sub.add_parser("tokens", help="create API tokens")
    token_actions = tokens.add_subparsers(dest="action", required=True)
    token_actions.add_parser("add", help="create an API token and print it once").add_argument("name")
    tokens.set_defaults(handler=_cmd_tokens)

    from .discord_cli import add_discord_commands

    add_discord_commands(sub)
