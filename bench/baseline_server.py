"""Baseline servers for ack benchmarks, run in their own process like the hub:
``bare`` answers 200 at once; ``insert`` does one raw asyncpg INSERT per request, then answers."""

from __future__ import annotations

import argparse
from typing import Any

import asyncpg
from aiohttp import web

from hub.db.config import postgres_credentials


async def bare(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="ok")


def insert_app(database_url: str) -> web.Application:
    app = web.Application()
    pool_key = web.AppKey("pool", asyncpg.Pool)

    async def pool(app: web.Application) -> Any:
        creds = postgres_credentials(database_url)
        app[pool_key] = await asyncpg.create_pool(
            host=creds["host"], port=creds["port"], user=creds["user"], password=creds["password"] or None,
            database=creds["database"], min_size=4, max_size=10,
        )  # fmt: skip
        await app[pool_key].execute("CREATE TABLE IF NOT EXISTS bench_ack (id bigserial PRIMARY KEY, body bytea)")
        yield
        await app[pool_key].close()

    async def insert(request: web.Request) -> web.Response:
        await request.app[pool_key].execute("INSERT INTO bench_ack (body) VALUES ($1)", await request.read())
        return web.Response(text="ok")

    app.cleanup_ctx.append(pool)
    app.router.add_post("/{tail:.*}", insert)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["bare", "insert"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    if args.mode == "bare":
        app = web.Application()
        app.router.add_post("/{tail:.*}", bare)
    else:
        app = insert_app(args.database_url)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
