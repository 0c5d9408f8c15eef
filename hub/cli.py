"""The ``garageswarm`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from .logs import configure_logging
from .settings import Settings, SettingsError

log = logging.getLogger("garageswarm")


def _cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from .supervisor import up

    return up(settings, exit_with_parent=args.exit_with_parent, with_agent=not args.no_agent)


def _cmd_hub(settings: Settings, args: argparse.Namespace) -> int:
    from .bootstrap import resolve_stores
    from .serve import serve

    resolved, _stores = resolve_stores(settings)  # embedded stores outlive a lone hub on purpose
    asyncio.run(serve(resolved))
    return 0


def _cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from .bootstrap import migrate, resolve_stores

    resolved, _stores = resolve_stores(settings)
    migrate(resolved)
    return 0


def _cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.worker import run_hub_worker

    from .bootstrap import resolve_stores

    resolved, _stores = resolve_stores(settings)
    return run_hub_worker(resolved)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="garageswarm", description="Chat-ops hub for AI agents.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="all-in-one: stores, migrations, hub, hub worker, local agent")
    up.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process dies")
    up.add_argument("--no-agent", action="store_true", help="do not run the local demo agent")
    up.set_defaults(handler=_cmd_up)
    sub.add_parser("hub", help="serve the hub (HTTP)").set_defaults(handler=_cmd_hub)
    sub.add_parser("worker", help="run the hub worker (arq)").set_defaults(handler=_cmd_worker)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(handler=_cmd_migrate)
    _add_job_path_commands(sub)
    return parser


def _add_job_path_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from jobs.cli import add_commands
    from jobs.hooks_cli import add_hook_commands

    add_commands(sub)
    add_hook_commands(sub)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"garageswarm: invalid configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, process=args.command)
    handler: Callable[[Settings, argparse.Namespace], int] = args.handler
    try:
        return handler(settings, args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
