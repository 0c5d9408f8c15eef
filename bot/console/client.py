"""``garageswarm chat``: send a command through the hub like a chat platform would, then follow the
job's thread live, save its attachments, and exit 0 only when the job succeeded."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bot.console.render import render_result, render_status
from bot.ports import Attachment
from bot.timeline import Timeline, apply_event, attachment_from, result_message, status_message

PRINT_INTERVAL_S = 0.25
RECONNECT_DELAY_S = 1.0
Printer = Callable[[str], None]


class ChatError(Exception):
    """The hub could not be used (unreachable, refused the token)."""


def _now() -> datetime:
    return datetime.now(UTC)


class ConsoleChat:
    def __init__(self, session: aiohttp.ClientSession, hub_url: str, out_dir: Path, echo: Printer, *, color: bool):
        self.session = session
        self.hub = hub_url.rstrip("/")
        self.out_dir = out_dir
        self.echo = echo
        self.color = color

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with self.session.request(method, self.hub + path, **kwargs) as response:
                body = await response.json(content_type=None)
                if response.status >= 400:
                    raise ChatError(body.get("error", {}).get("message", f"HTTP {response.status}"))
                return body
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise ChatError(f"cannot reach the hub at {self.hub}: {exc}") from exc

    async def send(self, text: str) -> int:
        reply = await self._json("POST", "/api/v1/console/commands", json={"text": text})
        for line in str(reply["reply"]).splitlines():
            self.echo(line)
        if not reply["ok"]:
            return 1
        if reply.get("job") is None or not reply.get("follow"):
            return 0
        return await self.follow(reply["job"]["id"], reply["job"]["tool"])

    async def follow(self, job_id: str, tool: str) -> int:
        """Print the thread as it updates until the job finishes; then the result."""
        timeline = Timeline(job_id=job_id, tool=tool)
        last_print, last_state = 0.0, None
        url = self.hub.replace("http", "ws", 1) + f"/api/v1/ws?job={job_id}"
        while not timeline.finished:
            try:
                async with self.session.ws_connect(url, heartbeat=30) as ws:
                    async for message in ws:
                        if message.type is not aiohttp.WSMsgType.TEXT:
                            break
                        timeline = apply_event(timeline, json.loads(message.data))
                        changed = timeline.state is not last_state
                        if changed or time.monotonic() - last_print >= PRINT_INTERVAL_S or timeline.finished:
                            if not timeline.finished:
                                for line in render_status(status_message(timeline, _now()), color=self.color):
                                    self.echo(line)
                            last_print, last_state = time.monotonic(), timeline.state
                        if timeline.finished:
                            break
            except (aiohttp.ClientError, OSError):
                await asyncio.sleep(RECONNECT_DELAY_S)
        return await self._finish(timeline)

    async def _finish(self, timeline: Timeline) -> int:
        job = await self._json("GET", f"/api/v1/jobs/{timeline.job_id}")
        attachments = [await self._save(artifact) for artifact in job.get("artifacts") or []]
        for line in render_result(result_message(timeline, job.get("result"), attachments, _now()), color=self.color):
            self.echo(line)
        return 0 if job["status"] == "succeeded" else 1

    async def _save(self, artifact: dict[str, Any]) -> Attachment:
        target_dir = self.out_dir / artifact_dir_name(artifact)
        target = target_dir / Path(str(artifact["name"])).name
        async with self.session.get(self.hub + str(artifact["url"])) as response:
            if response.status != 200:
                raise ChatError(f"could not download {artifact['name']}: HTTP {response.status}")
            data = await response.read()
        await asyncio.to_thread(_write, target, data)
        return attachment_from(artifact, str(target))


def artifact_dir_name(artifact: dict[str, Any]) -> str:
    return str(artifact["id"])[:8]


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


async def run_chat(hub_url: str, token: str, text: str, out_dir: Path, echo: Printer, *, color: bool = False) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        try:
            return await ConsoleChat(session, hub_url, out_dir, echo, color=color).send(text)
        except ChatError as exc:
            echo(f"error: {exc}")
            return 2
