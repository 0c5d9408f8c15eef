"""Inbound webhook ingest: signed GitHub-style deliveries at concurrency 64, beside two baselines
measured in the same run with the same load generator.

    .venv/bin/python -m bench.ingest [--quick] [--seconds S] [--concurrency N] [--clients P]

1. a bare aiohttp handler (reads the body, answers 202);
2. a bare handler doing one raw asyncpg INSERT per request;
3. the hub's ``POST /hooks/{endpoint}`` (verify, rate limit, store the delivery: concurrent requests
   share one INSERT and commit);
then the lag from 202 to the job being queued for an agent, and a count proving that every accepted
delivery made exactly one job. Load comes from separate processes (``--clients``) so one event loop
is not the limit. Uses DATABASE_URL / REDIS_URL when set, else embedded stores."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from bench.stack import Stack, free_port, new_workdir, summary
from hub.db.config import postgres_credentials
from hub.services import admin

SECRET = "bench-github-secret"
CONCURRENCY = 64
RULE = {"name": "pr-opened", "when": {"headers": {"X-GitHub-Event": "pull_request"}, "json": {"action": "opened"}},
        "tool": "demo.echo",
        "arguments": {"text": "PR #{{ payload.number }}: {{ payload.pull_request.title }}"}}  # fmt: skip
FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "webhooks" / "fixtures" / "github_pull_request_opened.json"


# --- load generator (runs in child processes) -----------------------------------------------------
async def _load(url: str, body: bytes, concurrency: int, seconds: float, tag: str) -> dict[str, Any]:
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    base = {"Content-Type": "application/json", "X-GitHub-Event": "pull_request", "X-Hub-Signature-256": signature}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            headers = {**base, "X-GitHub-Delivery": f"{tag}-{next(counter)}"}
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            statuses[response.status] = statuses.get(response.status, 0) + 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return {"latencies": latencies, "statuses": statuses}


def _load_process(args: tuple[str, bytes, int, float, str]) -> dict[str, Any]:
    return asyncio.run(_load(*args))


def run_load(url: str, body: bytes, seconds: float, concurrency: int, clients: int, tag: str) -> dict[str, Any]:
    per = max(1, concurrency // clients)
    jobs = [(url, body, per, seconds, f"{tag}-{n}") for n in range(clients)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        parts = pool.map(_load_process, jobs)
    elapsed = time.perf_counter() - started
    latencies = [x for part in parts for x in part["latencies"]]
    statuses: dict[int, int] = {}
    for part in parts:
        for code, n in part["statuses"].items():
            statuses[int(code)] = statuses.get(int(code), 0) + n
    ok = sum(n for code, n in statuses.items() if code == 202)
    return {"req_per_s": round(ok / min(elapsed, seconds + 1), 1), "statuses": statuses, **summary(latencies)}


# --- baseline servers (run as `python -m bench.ingest --serve KIND --port P`) ---------------------
def baseline_app(kind: str, database_url: str | None) -> web.Application:
    app = web.Application()

    async def bare(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "accepted"}, status=202)

    async def insert(request: web.Request) -> web.Response:
        body = await request.read()
        await app["pool"].execute("INSERT INTO bench_ingest (delivery_id, body) VALUES ($1, $2)",
                                  request.headers.get("X-GitHub-Delivery", ""), body)  # fmt: skip
        return web.json_response({"status": "accepted"}, status=202)

    async def pool(app: web.Application) -> Any:
        assert database_url is not None
        creds = postgres_credentials(database_url)
        app["pool"] = await asyncpg.create_pool(
            host=creds["host"], port=creds["port"], user=creds["user"], password=creds["password"] or None,
            database=creds["database"], min_size=1, max_size=10,
        )  # fmt: skip
        await app["pool"].execute(
            "CREATE TABLE IF NOT EXISTS bench_ingest (id bigserial PRIMARY KEY, delivery_id text UNIQUE, body bytea, "
            "received_at timestamptz DEFAULT now())"
        )
        yield
        await app["pool"].close()

    if kind == "insert":
        app.cleanup_ctx.append(pool)
    app.router.add_post("/hooks/{endpoint}", insert if kind == "insert" else bare)
    return app


async def wait_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.post(url, data=b"{}"):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def baseline(kind: str, database_url: str, args: argparse.Namespace, body: bytes) -> dict[str, Any]:
    port = free_port()
    argv = [sys.executable, "-m", "bench.ingest", "--serve", kind, "--port", str(port), "--database-url", database_url]
    server = subprocess.Popen(argv)
    try:
        url = f"http://127.0.0.1:{port}/hooks/bench"
        await wait_up(url)
        return await asyncio.to_thread(run_load, url, body, args.seconds, args.concurrency, args.clients, kind)
    finally:
        server.terminate()
        server.wait(10)


# --- the hub --------------------------------------------------------------------------------------
async def start_hub(stack: Stack) -> None:
    env = {"GARAGESWARM_HEARTBEAT_TIMEOUT_S": "3600", "GARAGESWARM_REQUEUE_AFTER_S": "3600"}
    stack.spawn("hub", **env)
    stack.spawn("worker", **env)
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(stack.url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"hub did not start; see {stack.workdir / 'hub.log'}")


async def prepare(stack: Stack) -> str:
    """An agent that reported demo.echo (registered, not consuming: jobs wait queued) and an endpoint."""
    key = (await admin.add_worker("bench-agent", {})).key
    tool = {"name": "demo.echo", "description": "Echo", "input_schema": {
        "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}  # fmt: skip
    async with aiohttp.ClientSession() as session:
        register = {"tools": [tool], "labels": {}, "max_concurrency": 1024}
        async with session.post(stack.url + "/api/v1/agent/register?restarted=0", json=register,
                                headers={"Authorization": f"Bearer {key}"}) as response:  # fmt: skip
            assert response.status == 200, await response.text()
        hook = {"name": "bench", "scheme": "github", "secret": SECRET, "rules": [RULE], "rate_limit_per_min": 10**7}
        async with session.post(stack.url + "/api/v1/hooks", json=hook,
                                headers={"Authorization": f"Bearer {stack.token}"}) as response:  # fmt: skip
            created = await response.json()
            assert response.status == 201, created
    return str(created["url"])


async def drain_and_count(stack: Stack, accepted: int, timeout_s: float) -> dict[str, Any]:
    creds = postgres_credentials(stack.database_url)
    conn = await asyncpg.connect(host=creds["host"], port=creds["port"], user=creds["user"],
                                 password=creds["password"] or None, database=creds["database"])  # fmt: skip
    try:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout_s:
            pending = await conn.fetchval("SELECT count(*) FROM hook_deliveries WHERE status = 'received'")
            if pending == 0:
                break
            await asyncio.sleep(0.5)
        drained_s = time.perf_counter() - started
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM hook_deliveries) AS deliveries, "
            "(SELECT count(*) FROM hook_deliveries WHERE status = 'processed') AS processed, "
            "(SELECT count(*) FROM jobs WHERE idempotency_key LIKE 'hook:%') AS jobs, "
            "(SELECT count(DISTINCT idempotency_key) FROM jobs WHERE idempotency_key LIKE 'hook:%') AS distinct_jobs"
        )
        lags = await conn.fetch(
            "SELECT extract(epoch FROM j.queued_at - d.received_at) AS lag FROM hook_deliveries d "
            "JOIN jobs j ON j.idempotency_key = 'hook:' || d.id || ':pr-opened' WHERE j.queued_at IS NOT NULL"
        )
    finally:
        await conn.close()
    counts = dict(row)
    counts["accepted_202"] = accepted
    counts["lost"] = accepted - counts["jobs"]
    counts["doubled"] = counts["jobs"] - counts["distinct_jobs"]
    return {"counts": counts, "lag": summary([float(r["lag"]) for r in lags]) if lags else {},
            "drain_after_load_s": round(drained_s, 1)}  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    body = FIXTURE.read_bytes()
    stack = Stack(new_workdir())
    await stack.start_stores()
    try:
        print(f"ingest: {len(body)}-byte GitHub pull_request deliveries, concurrency {args.concurrency}, "
              f"{args.seconds:g} s each, {args.clients} load processes", flush=True)  # fmt: skip
        bare = await baseline("bare", stack.database_url, args, body)
        print(f"1. bare aiohttp handler            {bare}", flush=True)
        insert = await baseline("insert", stack.database_url, args, body)
        print(f"2. bare handler + asyncpg INSERT   {insert}", flush=True)
        await start_hub(stack)
        url = stack.url + await prepare(stack)
        hub = await asyncio.to_thread(run_load, url, body, args.seconds, args.concurrency, args.clients, "hub")
        print(f"3. hub POST /hooks/{{endpoint}}      {hub}", flush=True)
        print(f"   rate vs raw INSERT baseline     {hub['req_per_s'] / max(insert['req_per_s'], 1):.0%} "
              f"(target ≥ 50 %), p99 {hub['p99_ms']} ms (target < 50 ms)", flush=True)  # fmt: skip
        result = await drain_and_count(stack, hub["statuses"].get(202, 0), timeout_s=max(120.0, args.seconds * 10))
        print(f"4. 202 → job queued for an agent   {result['lag']} (all made within "
              f"{result['drain_after_load_s']} s after the load stopped)", flush=True)  # fmt: skip
        counts = result["counts"]
        verdict = "none lost, none doubled" if counts["lost"] == 0 and counts["doubled"] == 0 else "MISMATCH"
        print(f"5. accounting                      {json.dumps(counts)} → {verdict}", flush=True)
    finally:
        await stack.stop()


def serve(kind: str, port: int, database_url: str) -> None:
    web.run_app(baseline_app(kind, database_url), host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5 s per measurement instead of 30 s")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--clients", type=int, default=2, help="load-generating processes")
    parser.add_argument("--serve", choices=["bare", "insert"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        serve(options.serve, options.port, options.database_url)
    else:
        options.seconds = options.seconds or (5.0 if options.quick else 30.0)
        asyncio.run(main(options))
