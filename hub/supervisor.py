"""``garageswarm up``: embedded stores, migrations and the hub's processes in one process group.

Children get ``PR_SET_PDEATHSIG`` so none outlives the supervisor; with ``--exit-with-parent``
(``make run``) the supervisor itself stops when whatever started it dies, even by SIGKILL. The
embedded stores are daemons that survive a crash and are reused on the next start."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .settings import Settings

log = logging.getLogger("garageswarm.up")
PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 10.0
RESTART_BACKOFF_MAX_S = 30.0


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig)


class DataDirLocked(RuntimeError):
    pass


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the data directory; the kernel drops it if we die."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / "up.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        raise DataDirLocked(f"another garageswarm up (pid {owner}) is using {data_dir}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)


class Supervisor:
    """Starts the children, restarts a crashed one with backoff, stops all on request."""

    def __init__(self, children: list[Child], env: Mapping[str, str]) -> None:
        self.children = children
        self.env = dict(env)
        self.stopping = False

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(child.argv, env=self.env, preexec_fn=die_with_parent)
        child.started_at = time.monotonic()
        log.info("started", extra={"child": child.name, "pid": child.process.pid})

    def _check(self, child: Child, now: float) -> None:
        if child.process is None:
            if now >= child.next_start:
                self._start(child)
            return
        code = child.process.poll()
        if code is None:
            if now - child.started_at > RESTART_BACKOFF_MAX_S:
                child.restarts = 0
            return
        child.restarts += 1
        delay = min(RESTART_BACKOFF_MAX_S, 0.5 * 2 ** min(child.restarts, 8))
        log.warning("child exited; restarting", extra={"child": child.name, "code": code, "in_s": delay})
        child.process = None
        child.next_start = now + delay

    def run(self, should_stop: Callable[[], bool]) -> None:
        for child in self.children:
            self._start(child)
        while not should_stop():
            now = time.monotonic()
            for child in self.children:
                self._check(child, now)
            time.sleep(0.2)
        self.stop()

    def stop(self) -> None:
        running = [c.process for c in self.children if c.process is not None and c.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def child_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "hub.cli", *args]


def up(settings: Settings, *, exit_with_parent: bool, with_agent: bool) -> int:
    """Run everything locally until SIGINT/SIGTERM; return the exit code."""
    from .bootstrap import prepare_local

    stop_requested = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    if exit_with_parent:
        parent = os.getppid()
        die_with_parent()
        if os.getppid() != parent:  # the parent died before prctl took effect
            return 1
    try:
        lock = lock_data_dir(settings.data_dir)
    except DataDirLocked as exc:
        log.error(str(exc))
        return 2
    with lock:
        local = prepare_local(settings, with_agent=with_agent)
        try:
            children = [Child("hub", child_command("hub")), Child("worker", child_command("worker"))]
            if local.agent_config is not None:
                children.append(Child("agent", child_command("agent", "--config", str(local.agent_config))))
            Supervisor(children, local.child_env).run(lambda: stop_requested)
        finally:
            local.stores.stop()
    log.info("stopped")
    return 0
