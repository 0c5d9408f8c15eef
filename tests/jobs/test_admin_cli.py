"""`garageswarm workers add|list` and `garageswarm tokens add`: a key is printed once, stored hashed, and works."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from hub.db.models import ApiToken, Worker
from hub.security.keys import hash_key


async def _cli(tmp_path: Path, database_url: str, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"GARAGESWARM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "DATABASE_URL": database_url,
           "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING"}  # fmt: skip
    command = [sys.executable, "-m", "hub.cli", *args]
    return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60)


async def test_workers_add_prints_the_key_once_and_stores_only_its_hash(
    hub_client: TestClient[Any, Any], database_url: str, redis_url: str, tmp_path: Path
) -> None:
    added = await _cli(tmp_path, database_url, redis_url, "workers", "add", "gpu-box", "--label", "gpu=4090")

    assert added.returncode == 0, added.stderr
    key = added.stdout.splitlines()[1]
    assert key.startswith("gsw_") and len(key) > 40
    worker = await Worker.get(name="gpu-box")
    assert worker.labels == {"gpu": "4090"} and worker.api_key_prefix == key.split("_")[1]
    assert worker.api_key_hash == hash_key(key) and key not in (worker.api_key_hash, worker.api_key_prefix)
    registered = await hub_client.post("/api/v1/agent/register", json={"tools": []},
                                       headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert registered.status == 200, "the printed key is the agent's key"

    listed = await _cli(tmp_path, database_url, redis_url, "workers", "list")
    assert listed.returncode == 0 and listed.stdout.startswith("gpu-box\tonline\t0 tools\tlast beat 20")
    assert key not in listed.stdout


async def test_workers_add_refuses_a_taken_name_and_a_bad_label(
    orm: None, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    assert (await _cli(tmp_path, database_url, redis_url, "workers", "add", "box")).returncode == 0

    taken = await _cli(tmp_path, database_url, redis_url, "workers", "add", "box")
    bad_label = await _cli(tmp_path, database_url, redis_url, "workers", "add", "other", "--label", "nokey")
    bad_name = await _cli(tmp_path, database_url, redis_url, "workers", "add", "no spaces")

    assert taken.returncode == 1 and "an agent named 'box' already exists" in taken.stderr
    assert bad_label.returncode != 0 and "--label expects KEY=VALUE, got 'nokey'" in bad_label.stderr
    assert bad_name.returncode == 1 and "an agent name is 1-64 letters" in bad_name.stderr
    assert await Worker.all().count() == 1


async def test_tokens_add_prints_a_token_that_calls_the_api(
    hub_client: TestClient[Any, Any], database_url: str, redis_url: str, tmp_path: Path
) -> None:
    added = await _cli(tmp_path, database_url, redis_url, "tokens", "add", "ci")

    assert added.returncode == 0, added.stderr
    token = added.stdout.splitlines()[1]
    stored = await ApiToken.get(name="ci")
    assert stored.token_hash == hash_key(token) and token not in stored.token_hash
    listed = await hub_client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
    assert listed.status == 200


async def test_rotate_key_gives_a_new_key_and_the_old_one_stops_working(
    hub_client: TestClient[Any, Any], database_url: str, redis_url: str, tmp_path: Path
) -> None:
    old = (await _cli(tmp_path, database_url, redis_url, "workers", "add", "box")).stdout.splitlines()[1]

    rotated = await _cli(tmp_path, database_url, redis_url, "workers", "rotate-key", "box")
    missing = await _cli(tmp_path, database_url, redis_url, "workers", "rotate-key", "nobody")

    assert rotated.returncode == 0 and "the old one stops working" in rotated.stdout
    new = rotated.stdout.splitlines()[1]
    assert new.startswith("gsw_") and new != old
    for key, status in ((old, 401), (new, 200)):
        answer = await hub_client.post("/api/v1/agent/heartbeat", json={}, headers={"Authorization": f"Bearer {key}"})
        assert answer.status == status
    assert missing.returncode == 1 and "no agent named 'nobody'" in missing.stderr
