"""Commands become jobs that a real agent runs through real MCP servers, end to end."""

from __future__ import annotations

import asyncio
import struct
import sys
from typing import Any

import pytest

from tests.conftest import StartSwarm, free_port
from tests.harness import Swarm, demo_stdio_config

pytestmark = pytest.mark.timeout(90)


def _events(job: dict[str, object], kind: str) -> list[dict[str, object]]:
    return [e for e in job["events"] if e["kind"] == kind]  # type: ignore[attr-defined, index]


async def test_echo_runs_on_the_agent_and_the_log_tells_the_story(swarm: Swarm) -> None:
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    job = await swarm.wait_job(await swarm.submit("demo.echo", text="hello"))
    assert job["status"] == "succeeded"
    assert job["result"]["outputs"] == [{"type": "text", "text": "hello"}]
    assert job["worker"] == "garage-1"
    assert [e["kind"] for e in job["events"]] == ["created", "queued", "started", "succeeded"]
    assert [e["seq"] for e in job["events"]] == [1, 2, 3, 4]


async def test_image_output_is_stored_as_an_artifact_and_downloadable(swarm: Swarm) -> None:
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    job = await swarm.wait_job(await swarm.submit("demo.image", width=32, height=16, text="hi"))
    assert job["status"] == "succeeded", job
    (artifact,) = job["artifacts"]
    assert artifact["mime_type"] == "image/png"
    status, data = await swarm.api("GET", artifact["url"])
    assert status == 200 and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (32, 16)
    refs = [o for o in job["result"]["outputs"] if o["type"] == "artifact"]
    assert refs[0]["artifact_id"] == artifact["id"]
    assert _events(job, "artifact")[0]["data"]["name"] == artifact["name"]


async def test_progress_notifications_become_progress_events(swarm: Swarm) -> None:
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    job = await swarm.wait_job(await swarm.submit("demo.progress", steps=5, delay_s=0.15))
    progress = _events(job, "progress")
    assert job["status"] == "succeeded"
    assert progress, "no progress events recorded"
    values = [e["data"]["progress"] for e in progress]
    assert values == sorted(values) and values[-1] == 5
    assert progress[-1]["data"]["total"] == 5


async def test_a_tool_error_fails_the_job_at_once_without_retry(swarm: Swarm) -> None:
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    job = await swarm.wait_job(await swarm.submit("demo.fail", message="boom"))
    assert job["status"] == "failed"
    assert job["attempt"] == 0 and not _events(job, "retried")
    assert "boom" in job["error"]


async def test_demo_server_over_streamable_http(swarm: Swarm) -> None:
    port = free_port()
    swarm.run("demo-http", [sys.executable, "-m", "integrations.mcp_servers.demo", "--http", "--port", str(port)])
    await swarm.add_agent("garage-http", f'[servers.demo]\nurl = "http://127.0.0.1:{port}/mcp"\n')
    await swarm.wait_tools()
    job = await swarm.wait_job(await swarm.submit("demo.echo", text="over http"))
    assert job["status"] == "succeeded", job
    assert job["result"]["outputs"] == [{"type": "text", "text": "over http"}]


async def test_mcp_server_time_from_pypi_over_stdio(swarm: Swarm) -> None:
    config = f'[servers.time]\ncommand = "{sys.executable}"\nargs = ["-m", "mcp_server_time"]\n'
    await swarm.add_agent("clock", config)
    await swarm.wait_tools()
    ok = await swarm.wait_job(await swarm.submit("time.get_current_time", timezone="UTC"))
    assert ok["status"] == "succeeded", ok
    assert '"timezone": "UTC"' in ok["result"]["outputs"][0]["text"]
    bad = await swarm.wait_job(await swarm.submit("time.get_current_time", timezone="Mars/Olympus"))
    assert bad["status"] == "failed" and bad["attempt"] == 0


async def test_unknown_tool_and_bad_arguments_are_refused_with_help(swarm: Swarm) -> None:
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    status, body = await swarm.api("POST", "/api/v1/jobs", json={"tool": "demo.ecko", "arguments": {}})
    assert status == 422 and "demo.echo" in body["error"]["message"]
    status, body = await swarm.api("POST", "/api/v1/jobs", json={"tool": "demo.progress", "arguments": {"steps": "x"}})
    assert status == 422 and "steps" in body["error"]["message"]
    assert body["error"]["details"]["usage"].startswith("tool demo.progress")
    status, body = await swarm.api("GET", "/api/v1/jobs")
    assert body["jobs"] == [], "a refused request must create nothing"


async def _command(swarm: Swarm, text: str) -> dict[str, Any]:
    status, answer = await swarm.api("POST", "/api/v1/console/commands", json={"text": text})
    assert status == 200, answer
    return dict(answer)


async def test_cancel_reaches_the_running_call(swarm: Swarm) -> None:
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    job_id = await swarm.submit("demo.sleep", seconds=30, report_progress=True)
    await swarm.wait_job(job_id, statuses={"running"})
    answer = await _command(swarm, f"/swarm cancel {job_id[:8]}")
    assert answer["ok"] and answer["reply"].startswith(f"Cancelling job {job_id[:8]} (demo.sleep)"), answer
    job = await swarm.wait_job(job_id, timeout_s=15)
    assert job["status"] == "cancelled"
    # progress the call reported before it stopped may arrive between the two
    assert [e["kind"] for e in job["events"] if e["kind"] != "progress"][-2:] == ["cancel_requested", "cancelled"]
    who = _events(job, "cancel_requested")[0]["data"]["by"]  # type: ignore[index]
    assert job["error"] == f"cancelled by {who}" and who.startswith("console:")
    again = await _command(swarm, f"/swarm cancel {job_id[:8]}")
    assert again["ok"] and "already finished" in again["reply"], again
    assert len(_events(await swarm.job(job_id), "cancel_requested")) == 1, "a second cancel must change nothing"
    after = await swarm.wait_job(await swarm.submit("demo.echo", text="still fine"))
    assert after["status"] == "succeeded", "the session must stay usable after a cancellation"


async def test_a_silent_call_times_out_and_is_retried_up_to_the_limit(start_swarm: StartSwarm) -> None:
    swarm = await start_swarm(GARAGESWARM_MAX_RETRIES="1")
    await swarm.add_agent("garage-1", demo_stdio_config("idle_timeout_s = 1"))
    await swarm.wait_tools()
    job = await swarm.wait_job(await swarm.submit("demo.sleep", seconds=5), timeout_s=40)
    assert job["status"] == "timed_out"
    assert job["attempt"] == 1 and len(_events(job, "retried")) == 1


async def test_a_call_that_keeps_reporting_progress_outlives_the_idle_timeout(swarm: Swarm) -> None:
    await swarm.add_agent("garage-1", demo_stdio_config("idle_timeout_s = 1"))
    await swarm.wait_tools()
    job = await swarm.wait_job(await swarm.submit("demo.sleep", seconds=2.5, report_progress=True))
    assert job["status"] == "succeeded", job


async def test_a_tool_list_change_is_re_reported_and_the_new_tool_runs(swarm: Swarm) -> None:
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    status, body = await swarm.api("POST", "/api/v1/jobs", json={"tool": "demo.extra", "arguments": {}})
    assert status == 422, "demo.extra does not exist yet"
    assert (await swarm.wait_job(await swarm.submit("demo.enable_extra")))["status"] == "succeeded"
    for _ in range(100):
        _, body = await swarm.api("GET", "/api/v1/workers")
        if any(t["name"] == "demo.extra" for t in body["workers"][0]["tools"]):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the agent did not re-report its tools")
    job = await swarm.wait_job(await swarm.submit("demo.extra"))
    assert job["status"] == "succeeded", job
