"""Embedded stores: data survives restarts, and a crash (SIGKILL, stale files) heals itself."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import asyncpg
from redis import Redis

from hub.db.config import postgres_credentials
from hub.stores.embedded import start_embedded


def _pg_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.split(")")[1].split()[0] != "Z"


def _wait_dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


async def _pg(url: str) -> asyncpg.Connection:
    creds = postgres_credentials(url)
    return await asyncpg.connect(host=creds["host"], user=creds["user"], database=creds["database"])


async def test_a_second_start_reuses_the_running_servers(tmp_path: Path) -> None:
    first = start_embedded(tmp_path, postgres=True, redis=True)
    try:
        assert first.postgres is not None and first.redis is not None
        pg_pid = _pg_pid(first.postgres.pgdata)
        second = start_embedded(tmp_path, postgres=True, redis=True)
        assert second.postgres is not None and _pg_pid(second.postgres.pgdata) == pg_pid
        assert second.redis is not None and second.redis.url() == first.redis.url()
        conn = await _pg(first.postgres.url())
        assert await conn.fetchval("SELECT extname FROM pg_extension WHERE extname = 'vector'") == "vector"
        await conn.close()
    finally:
        first.stop()


async def test_sigkilled_stores_come_back_with_their_data(tmp_path: Path) -> None:
    stores = start_embedded(tmp_path, postgres=True, redis=True)
    assert stores.postgres is not None and stores.redis is not None
    try:
        conn = await _pg(stores.postgres.url())
        await conn.execute("CREATE TABLE keep (v text); INSERT INTO keep VALUES ('kept')")
        await conn.close()
        Redis(unix_socket_path=str(stores.redis.socket_path)).set("keep", "kept")
        time.sleep(1.2)  # appendfsync everysec: what was acknowledged a second ago is on disk
        redis_pid = int(stores.redis.pidfile.read_text())
        pg_pid = _pg_pid(stores.postgres.pgdata)
        os.kill(redis_pid, signal.SIGKILL)
        os.kill(pg_pid, signal.SIGKILL)
        _wait_dead(redis_pid)
        _wait_dead(pg_pid)
        assert stores.redis.pidfile.exists() and (stores.postgres.pgdata / "postmaster.pid").exists()

        again = start_embedded(tmp_path, postgres=True, redis=True)
        assert again.postgres is not None and again.redis is not None
        conn = await _pg(again.postgres.url())
        assert await conn.fetchval("SELECT v FROM keep") == "kept"
        await conn.close()
        assert Redis(unix_socket_path=str(again.redis.socket_path)).get("keep") == b"kept"
    finally:
        stores.stop()


def test_a_stale_redis_pidfile_naming_another_process_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "redis.pid").write_text(str(os.getpid()))  # alive, but not redis
    (tmp_path / "redis" / "redis.sock").write_text("stale")
    stores = start_embedded(tmp_path, postgres=False, redis=True)
    try:
        assert stores.redis is not None
        assert Redis(unix_socket_path=str(stores.redis.socket_path)).ping()
        assert int(stores.redis.pidfile.read_text()) != os.getpid()
    finally:
        stores.stop()


def test_stop_leaves_no_server_running(tmp_path: Path) -> None:
    stores = start_embedded(tmp_path, postgres=True, redis=True)
    assert stores.postgres is not None and stores.redis is not None
    pids = [_pg_pid(stores.postgres.pgdata), int(stores.redis.pidfile.read_text())]
    stores.stop()
    for pid in pids:
        _wait_dead(pid)
