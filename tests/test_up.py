"""``garageswarm up``: comes up ready, stops cleanly, and survives its parent being SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.stores.embedded import postgres_bin
from tests.conftest import free_port

READY_TIMEOUT_S = 60


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(GARAGESWARM_DATA_DIR=str(data_dir), PORT=str(port), LOG_LEVEL="WARNING")
    return env


def _ready(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            body: dict[str, object] = json.loads(response.read())
            return body
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "garageswarm up exited early"
        if _ready(port) is not None:
            return
        time.sleep(0.2)
    pytest.fail("readyz did not answer 200 in time")


def _wait_not_serving(port: int, timeout_s: float = 30) -> None:
    """Wait until nothing answers on ``port``: a killed ``up``'s hub child takes a moment to stop."""
    deadline = time.monotonic() + timeout_s
    while _ready(port) is not None:
        assert time.monotonic() < deadline, "the killed up's hub still answers"
        time.sleep(0.1)


def _processes_using(data_dir: Path) -> list[int]:
    """Live (non-zombie) processes whose command line or environment mentions the data dir."""
    needle = str(data_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                continue
            if needle in (entry / "cmdline").read_bytes() or needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _wait_no_processes(data_dir: Path, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while _processes_using(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_using(data_dir) == [], "orphan processes left behind"


def _psql(data_dir: Path, sql: str) -> str:
    command = [str(postgres_bin() / "psql"), "-h", str(data_dir / "postgres"), "-U", "postgres"]
    command += ["-X", "-A", "-t", "-d", "garageswarm", "-c", sql]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout.strip()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    tmp_path.chmod(0o755)
    yield tmp_path / "data"
    for pid in _processes_using(tmp_path / "data"):
        os.kill(pid, signal.SIGKILL)


def _start_up(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """Start ``up`` under a shell, as ``make run`` does (the shell is the parent we kill)."""
    command = f"{sys.executable} -m hub.cli up --exit-with-parent --no-agent; exit $?"
    return subprocess.Popen(["/bin/sh", "-c", command], env=_env(data_dir, port), start_new_session=True)


@pytest.mark.timeout(180)
def test_up_comes_up_ready_and_sigterm_stops_everything(data_dir: Path) -> None:
    port = free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "up", "--no-agent"],
        env=_env(data_dir, port),
        start_new_session=True,
    )
    _wait_ready(port, up)
    assert _ready(port) == {
        "status": "ready",
        "checks": {"postgres": "ok", "migrations": "ok", "redis": "ok"},
    }
    up.send_signal(signal.SIGTERM)
    assert up.wait(timeout=30) == 0
    _wait_no_processes(data_dir)


@pytest.mark.timeout(180)
def test_sigkill_of_the_parent_then_a_new_start_keeps_the_data(data_dir: Path) -> None:
    port = free_port()
    first = _start_up(data_dir, port)
    _wait_ready(port, first)
    _psql(
        data_dir,
        "INSERT INTO tenants (id, slug, name, created_at) VALUES (gen_random_uuid(), 'kept', 'Kept', now())",
    )
    first.kill()  # SIGKILL of the parent, like `kill -9` of `make run`
    first.wait()
    _wait_no_processes(data_dir)  # up noticed, stopped its children and the stores

    second = _start_up(data_dir, port)
    try:
        _wait_ready(port, second)
        assert _psql(data_dir, "SELECT name FROM tenants WHERE slug = 'kept'") == "Kept"
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)
    _wait_no_processes(data_dir)


@pytest.mark.timeout(180)
def test_sigkill_of_up_itself_leaves_stores_that_the_next_start_reuses(data_dir: Path) -> None:
    port = free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "up", "--no-agent"],
        env=_env(data_dir, port),
        start_new_session=True,
    )
    _wait_ready(port, up)
    _psql(
        data_dir,
        "INSERT INTO tenants (id, slug, name, created_at) VALUES (gen_random_uuid(), 'a', 'A', now())",
    )
    up.kill()
    up.wait()
    # Its hub child gets SIGTERM from the kernel (PDEATHSIG) and stops gracefully; until it has,
    # it still answers /readyz on this port and would pass for the new start.
    _wait_not_serving(port)
    again = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "up", "--no-agent"],
        env=_env(data_dir, port),
        start_new_session=True,
    )
    try:
        _wait_ready(port, again)
        assert _psql(data_dir, "SELECT count(*) FROM tenants WHERE slug = 'a'") == "1"
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=30) == 0
    _wait_no_processes(data_dir)


def test_a_second_up_on_the_same_data_dir_is_refused(data_dir: Path) -> None:
    from hub.supervisor import DataDirLocked, lock_data_dir

    with lock_data_dir(data_dir), pytest.raises(DataDirLocked, match="another garageswarm up"):
        lock_data_dir(data_dir)
