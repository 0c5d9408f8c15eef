"""Durable delivery of run results: sent at once, kept on disk while the hub is unreachable.

A :class:`Report` is a run's whole ending: its outcome plus the binary outputs to upload first.
``deliver`` tries the hub right away; when the hub is down the report is written to the spool
directory (blobs beside a JSON file, renamed into place atomically) and a background loop keeps
retrying with backoff until the hub takes it. Uploads and results are idempotent on the hub
(job id + attempt, artifact content hash), so a report delivered twice counts once. A report the hub
refuses for good (too large, malformed) is replaced by a failure naming the refusal, so its job ends."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .hub_client import HubClient, HubError, HubUnreachable, backoff_delay_s
from .reports import Blob, Report, failure_report

log = logging.getLogger(__name__)
NOTHING_TO_REPORT_TO = (401, 403, 404, 409)  # the hub refuses this agent, or knows no such job or attempt


async def send_report(client: HubClient, report: Report) -> dict[str, Any]:
    """Upload the blobs, then post the result with artifact references in their places."""
    uploaded = [
        await client.upload(report.job_id, report.attempt, blob.name, blob.mime_type, blob.data)
        for blob in report.blobs
    ]
    outputs = []
    for output in report.result.get("outputs", []):
        if output.get("type") == "blob":
            blob, artifact = report.blobs[output["index"]], uploaded[output["index"]]
            output = {"type": "artifact", "artifact_id": artifact["id"], "name": blob.name,
                      "mime_type": blob.mime_type, "kind": blob.kind, "size_bytes": len(blob.data)}  # fmt: skip
        outputs.append(output)
    return await client.result(report.job_id, {**report.result, "outputs": outputs})


class Spool:
    """Reports waiting for the hub, on disk under ``directory``."""

    def __init__(self, directory: Path, client: HubClient) -> None:
        self.directory = directory
        self.client = client
        self.wake = asyncio.Event()
        directory.mkdir(parents=True, exist_ok=True)

    async def deliver(self, report: Report) -> None:
        """Send now; on a hub outage keep it on disk for the background loop."""
        try:
            await self._send(report)
        except HubUnreachable as exc:
            log.warning("hub unreachable; result kept on disk", extra={"job_id": report.job_id, "error": str(exc)})
            await asyncio.to_thread(self._write, report)
            self.wake.set()

    async def _send(self, report: Report) -> None:
        """Send ``report``; when the hub refuses it for good (too large, malformed), report the run failed
        with the hub's reason instead, so that its job ends rather than staying running. A run the hub does
        not know (or a stale attempt of), or an agent it does not accept, has nothing left to report to."""
        try:
            await send_report(self.client, report)
            return
        except HubError as exc:
            if exc.status in NOTHING_TO_REPORT_TO:
                log.error("hub refused a result", extra={"job_id": report.job_id, "error": str(exc)})
                return
            reason = f"the hub refused this run's result ({exc})"
        log.error("hub refused a result; reporting the run failed", extra={"job_id": report.job_id, "error": reason})
        failed = failure_report(report.job_id, report.attempt, "failed", reason, retryable=False)
        try:
            await send_report(self.client, failed)
        except HubError as exc:
            log.error("hub refused the failure report too", extra={"job_id": report.job_id, "error": str(exc)})

    def _write(self, report: Report) -> None:
        staging = Path(tempfile.mkdtemp(dir=self.directory, prefix=".tmp-"))
        blobs = [{"name": b.name, "mime_type": b.mime_type, "kind": b.kind} for b in report.blobs]
        meta = {"job_id": report.job_id, "attempt": report.attempt, "result": report.result, "blobs": blobs}
        for index, blob in enumerate(report.blobs):
            (staging / f"blob-{index}").write_bytes(blob.data)
        (staging / "report.json").write_text(json.dumps(meta))
        os.replace(staging, self.directory / f"{time.time_ns():020d}-{report.job_id}-{report.attempt}")

    def pending(self) -> list[Path]:
        return sorted(p for p in self.directory.iterdir() if p.is_dir() and not p.name.startswith("."))

    @staticmethod
    def _read(entry: Path) -> Report:
        meta = json.loads((entry / "report.json").read_text())
        blobs = [Blob(b["name"], b["mime_type"], b["kind"], (entry / f"blob-{i}").read_bytes())
                 for i, b in enumerate(meta["blobs"])]  # fmt: skip
        return Report(meta["job_id"], meta["attempt"], meta["result"], blobs)

    async def flush(self) -> bool:
        """Send every spooled report in order; False when the hub is still unreachable."""
        for entry in self.pending():
            try:
                await self._send(await asyncio.to_thread(self._read, entry))
            except HubUnreachable:
                return False
            except (OSError, ValueError, KeyError) as exc:
                log.error("unreadable spool entry; dropping it", extra={"entry": entry.name, "error": str(exc)})
            shutil.rmtree(entry, ignore_errors=True)
        return True

    async def run(self) -> None:
        """Retry spooled reports with backoff until each is delivered."""
        failures = 0
        while True:
            if await self.flush():
                failures = 0
                self.wake.clear()
                await self.wake.wait()
            else:
                failures += 1
                await asyncio.sleep(backoff_delay_s(failures))
