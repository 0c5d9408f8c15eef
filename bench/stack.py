"""A whole local stack for benchmarks: stores, hub, hub worker and an agent as real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from hub.db.config import postgres_credentials, with_database
from hub.db.lifecycle import apply_migrations, close_orm, init_orm
from hub.services import admin
from hub.settings import Settings
from hub.stores.embedded import EmbeddedStores, start_embedded


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def fresh_database(admin_url: str) -> str:
    """A new migrated database on the server of ``admin_url``."""
    name = f"gs_bench_{uuid.uuid4().hex[:8]}"
    creds = postgres_credentials(admin_url)
    conn = await asyncpg.connect(host=creds["host"], port=creds["port"], user=creds["user"],
                                 password=creds["password"] or None, database=creds["database"])  # fmt: skip
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = with_database(admin_url, name)
    await apply_migrations(url)
    return url


@dataclass
class Stack:
    workdir: Path
    database_url: str = ""
    redis_url: str = ""
    port: int = field(default_factory=free_port)
    token: str = ""
    embedded: EmbeddedStores | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)  # given to every process of the stack

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start_stores(self) -> None:
        settings = Settings.from_env()
        self.embedded = start_embedded(
            self.workdir, postgres=settings.database_url is None, redis=settings.redis_url is None
        )
        admin_url = settings.database_url or (self.embedded.postgres.url() if self.embedded.postgres else "")
        self.redis_url = settings.redis_url or (self.embedded.redis.url() if self.embedded.redis else "")
        self.database_url = await fresh_database(admin_url)
        await init_orm(self.database_url, maxsize=2)
        self.token = (await admin.add_token("bench", ["jobs"])).key

    def env(self, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GARAGESWARM_")}
        env.update(DATABASE_URL=self.database_url, REDIS_URL=self.redis_url, PORT=str(self.port),
                   GARAGESWARM_DATA_DIR=str(self.workdir / "data"), GARAGESWARM_HUB_URL=self.url,
                   LOG_LEVEL="WARNING")  # fmt: skip
        env.update(self.extra_env)
        env.update(more)
        return env

    def spawn(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{args[0]}.log").open("ab")
        process = subprocess.Popen([sys.executable, "-m", "hub.cli", *args], env=self.env(**env),
                                   stdout=log, stderr=log, start_new_session=True)  # fmt: skip
        self.processes.append(process)
        return process

    async def start_hub(self) -> None:
        self.spawn("hub")
        self.spawn("worker")
        await self.wait_healthy()

    async def wait_healthy(self) -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        raise RuntimeError("hub did not start")

    async def start_agent(self, name: str, config: str, *, key: str | None = None) -> str:
        """Register an agent (or reuse ``key``), start it and wait until it is online; its key."""
        key = key or (await admin.add_worker(name, {})).key
        path = self.workdir / f"{name}.toml"
        path.write_text(config)
        self.spawn("agent", "--config", str(path), GARAGESWARM_API_KEY=key)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            for _ in range(300):
                async with session.get(self.url + "/api/v1/workers") as response:
                    workers = (await response.json())["workers"]
                if any(w["name"] == name and w["status"] == "online" and w["tools"] for w in workers):
                    return key
                await asyncio.sleep(0.1)
        raise RuntimeError("agent did not register")

    async def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        await close_orm()
        if self.embedded is not None:
            self.embedded.stop()


def _role(command: str) -> str:
    for marker, role in (("hub.cli hub", "hub"), ("hub.cli worker", "hub worker"), ("hub.cli agent", "agent"),
                         ("mcp_servers.demo", "demo server"), ("mcp_server_time", "time server"),
                         ("postgres", "postgres"), ("redis-server", "redis")):  # fmt: skip
        if marker in command:
            return role
    return "other"


def cpu_by_role(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by each kind of process of ``stack`` (its children, their children, the
    embedded stores in its work directory) and by this benchmark process."""
    import psutil

    me = psutil.Process()
    spawned = [psutil.Process(p.pid) for p in stack.processes if p.poll() is None]
    processes = {p.pid: p for parent in spawned for p in [parent, *parent.children(recursive=True)]}
    for process in psutil.process_iter(["cmdline"]):
        if str(stack.workdir) in " ".join(process.info["cmdline"] or []):  # a store's server and its backends
            for store in [process, *process.children(recursive=True)]:
                processes.setdefault(store.pid, store)
    used = {"benchmark client": sum(me.cpu_times()[:2])}
    for process in processes.values():
        try:
            role, seconds = _role(" ".join(process.cmdline())), sum(process.cpu_times()[:2])
        except psutil.Error:
            continue
        used[role] = used.get(role, 0.0) + seconds
    return used


def new_workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="gs-bench-"))
    path.chmod(0o755)
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values_s: list[float]) -> dict[str, Any]:
    return {"p50_ms": round(percentile(values_s, 50) * 1000, 2), "p99_ms": round(percentile(values_s, 99) * 1000, 2),
            "n": len(values_s)}  # fmt: skip


def now() -> float:
    return time.time()
