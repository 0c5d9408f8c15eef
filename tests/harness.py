"""Real processes for end-to-end tests: hub, hub worker and agents, started and stopped by tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from hub.db.lifecycle import close_orm, init_orm
from hub.services import admin
from tests.conftest import free_port

FAST_ENV = {
    "GARAGESWARM_HEARTBEAT_INTERVAL_S": "0.5",
    "GARAGESWARM_HEARTBEAT_TIMEOUT_S": "3",
    "GARAGESWARM_REQUEUE_AFTER_S": "2",
    "LOG_LEVEL": "WARNING",
}
TERMINAL = {"succeeded", "failed", "cancelled", "timed_out"}


def demo_stdio_config(extra: str = "") -> str:
    return f'{extra}\n[servers.demo]\ncommand = "{sys.executable}"\nargs = ["-m", "integrations.mcp_servers.demo"]\n'


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=log, start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL the process group (the process and its MCP servers)."""
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.popen is not None:  # anything the process left in its group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@dataclass
class Swarm:
    """A hub, a hub worker and agents over the test's own database and Redis."""

    database_url: str
    redis_url: str
    workdir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    token: str = ""
    processes: list[Process] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GARAGESWARM_")}
        env.update(FAST_ENV)
        env.update(self.extra_env)
        env.update(DATABASE_URL=self.database_url, REDIS_URL=self.redis_url, PORT=str(self.port),
                   GARAGESWARM_DATA_DIR=str(self.workdir / "data"), GARAGESWARM_HUB_URL=self.url)  # fmt: skip
        env.update(more)
        return env

    def spawn(self, name: str, *args: str, **env: str) -> Process:
        """Run ``garageswarm ARGS`` as a process of this swarm."""
        return self.run(name, [sys.executable, "-m", "hub.cli", *args], **env)

    def run(self, name: str, argv: list[str], **env: str) -> Process:
        process = Process(name, argv, self.env(**env), self.workdir / f"{name}.log")
        self.processes.append(process.start())
        return process

    async def start_hub(self) -> Process:
        hub = self.spawn("hub", "hub")
        await self.wait_healthy()
        return hub

    def start_worker(self) -> Process:
        return self.spawn("worker", "worker")

    async def add_agent(self, name: str, config: str, **env: str) -> Process:
        issued = await admin.add_worker(name, {})
        path = self.workdir / f"{name}.toml"
        path.write_text(config)
        return self.spawn(f"agent-{name}", "agent", "--config", str(path), GARAGESWARM_API_KEY=issued.key, **env)

    async def wait_healthy(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("hub did not come up:\n" + "\n".join(p.logs() for p in self.processes))

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    # --- API helpers -------------------------------------------------------------------------
    async def api(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url + path, headers=headers, **kwargs) as response,
        ):
            body = (
                await response.json(content_type=None)
                if response.content_type == "application/json"
                else (await response.read())
            )
            return response.status, body

    async def submit(self, tool: str, **arguments: Any) -> str:
        status, body = await self.api("POST", "/api/v1/jobs", json={"tool": tool, "arguments": arguments})
        assert status == 201, body
        return str(body["id"])

    async def job(self, job_id: str) -> dict[str, Any]:
        status, body = await self.api("GET", f"/api/v1/jobs/{job_id}")
        assert status == 200, body
        return dict(body)

    async def wait_job(self, job_id: str, *, statuses: set[str] = TERMINAL, timeout_s: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = await self.job(job_id)
            if job["status"] in statuses:
                return job
            await asyncio.sleep(0.05)
        logs = "\n".join(f"--- {p.name}\n{p.logs()}" for p in self.processes)
        raise AssertionError(f"job {job_id} still {job['status']}: {job}\n{logs}")

    async def wait_tools(self, count: int = 1, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            _, body = await self.api("GET", "/api/v1/workers")
            online = [w for w in body["workers"] if w["status"] == "online" and w["tools"]]
            if len(online) >= count:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("agents did not register:\n" + "\n".join(p.logs() for p in self.processes))


async def open_orm(database_url: str) -> None:
    await init_orm(database_url, maxsize=2)


async def close(swarm: Swarm) -> None:
    swarm.stop()
    await close_orm()
