"""What ``garageswarm up`` sets up for local use: a dev API token and a local demo agent."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from hub.db.models import ApiToken, Worker
from hub.security.keys import parse_key
from hub.services import admin

DEV_TOKEN_FILE = "dev-token"
LOCAL_AGENT = "local"
LOCAL_AGENT_KEY_FILE = "local-agent.key"
LOCAL_AGENT_CONFIG = "local-agent.toml"


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


async def ensure_dev_token(data_dir: Path) -> str:
    """The token ``garageswarm chat`` uses locally; re-issued if the database lost it."""
    path = data_dir / DEV_TOKEN_FILE
    existing = _read(path)
    parsed = parse_key(existing or "")
    if existing and parsed and await ApiToken.filter(prefix=parsed.prefix, revoked_at__isnull=True).exists():
        return existing
    issued = await admin.add_token("dev", ["jobs"])
    _write_secret(path, issued.key)
    return issued.key


def demo_agent_config() -> str:
    """TOML for the local agent: the demo MCP server over stdio, run by this Python."""
    return (
        "# Written by `garageswarm up`: the local agent and its MCP servers.\n"
        "max_concurrency = 16\n\n"
        "[servers.demo]\n"
        f"command = {json.dumps(sys.executable)}\n"
        'args = ["-m", "integrations.mcp_servers.demo"]\n'
    )


@dataclass(frozen=True)
class LocalAgent:
    key: str
    config: Path


async def ensure_local_agent(data_dir: Path) -> LocalAgent:
    """Register the local agent once (its key lives in the data directory) and write its config."""
    key_path, config_path = data_dir / LOCAL_AGENT_KEY_FILE, data_dir / LOCAL_AGENT_CONFIG
    key = _read(key_path)
    parsed = parse_key(key or "")
    if not (key and parsed and await Worker.filter(api_key_prefix=parsed.prefix).exists()):
        tenant = await admin.ensure_tenant()
        if await Worker.filter(tenant_id=tenant.id, name=LOCAL_AGENT).exists():
            issued = await admin.rotate_worker_key(LOCAL_AGENT)
        else:
            issued = await admin.add_worker(LOCAL_AGENT, {"local": "true"})
        key = issued.key
        _write_secret(key_path, key)
    if not config_path.exists():
        config_path.write_text(demo_agent_config())
    return LocalAgent(key=key, config=config_path)
