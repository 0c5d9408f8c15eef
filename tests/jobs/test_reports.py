"""A run's report always fits the hub's bounds: what does not fit inline is uploaded as files, never dropped,
and the hub records it (a report it refused could never be recorded, and its job would stay running)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from hub.db.models import Artifact, Job
from hub.routes.agent_schemas import ResultItem
from integrations.mcp.content import BinaryOutput, CallOutcome, Output, ResourceLinkOutput, TextOutput
from jobs.agent.hub_client import HubClient
from jobs.agent.reports import (
    MAX_INLINE_BYTES,
    MAX_INLINE_TEXT,
    MAX_OUTPUTS,
    MAX_STRUCTURED_BYTES,
    Report,
    report_for,
)
from jobs.agent.spool import Spool

HUB_LIMIT_BYTES = 1024 * 1024  # the hub's default request limit
JOB = str(uuid.uuid4())


def _fits_the_hub(report: Report) -> None:
    """The result item passes the hub's own schema and its body stays under the default request limit."""
    item = {**report.result, "job_id": JOB}
    ResultItem.model_validate(item)
    assert len(json.dumps(item, separators=(",", ":"))) < HUB_LIMIT_BYTES / 2, "room for the batch around it"
    for output in report.result["outputs"]:
        if output["type"] == "blob":
            assert 0 <= output["index"] < len(report.blobs)


def _uploaded(report: Report, name: str) -> str:
    return next(blob.data.decode() for blob in report.blobs if blob.name == name)


def test_a_small_result_goes_inline() -> None:
    link = ResourceLinkOutput("demo://r", "readme", "text/markdown", None)
    report = report_for(JOB, 0, CallOutcome([TextOutput("hello"), link], {"n": 1}, False))

    assert report.result["outputs"] == [
        {"type": "text", "text": "hello"},
        {"type": "resource_link", "uri": "demo://r", "name": "readme", "mime_type": "text/markdown",
         "description": None},
    ]  # fmt: skip
    assert report.result["structured"] == {"n": 1} and report.blobs == []


def test_long_texts_and_too_much_text_in_all_become_files() -> None:
    long_one = "x" * (MAX_INLINE_TEXT + 1)
    many = [TextOutput("é\n" * 8000) for _ in range(40)]  # each inline alone, far more than the budget together
    report = report_for(JOB, 0, CallOutcome([TextOutput(long_one), *many], None, False))

    _fits_the_hub(report)
    kinds = [output["type"] for output in report.result["outputs"]]
    assert kinds[0] == "blob" and _uploaded(report, "output-1.txt") == long_one
    inline = [o["text"] for o in report.result["outputs"] if o["type"] == "text"]
    assert 0 < len(inline) < 40 and sum(len(json.dumps(t)) for t in inline) <= MAX_INLINE_BYTES
    assert len(report.blobs) == 1 + 40 - len(inline), "every text is somewhere: inline or as a file"


def test_outputs_beyond_the_limit_are_gathered_in_one_file_and_binaries_still_uploaded() -> None:
    texts: list[Output] = [TextOutput(f"line {i}") for i in range(MAX_OUTPUTS + 50)]
    links: list[Output] = [ResourceLinkOutput(f"demo://{i}", f"r{i}", None, None) for i in range(3)]
    images: list[Output] = [BinaryOutput(bytes([i]), "image/png", "image", f"i{i}.png") for i in range(2)]
    report = report_for(JOB, 0, CallOutcome([*texts, *links, *images], None, False))

    _fits_the_hub(report)
    assert len(report.result["outputs"]) <= MAX_OUTPUTS
    rest = _uploaded(report, "more-outputs.txt").split("\n\n")
    shown = [o["text"] for o in report.result["outputs"] if o["type"] == "text"]
    assert shown + rest[: -len(links)] == [f"line {i}" for i in range(MAX_OUTPUTS + 50)]
    assert rest[-len(links) :] == ["r0: demo://0", "r1: demo://1", "r2: demo://2"]
    assert [blob.name for blob in report.blobs if blob.name.endswith(".png")] == ["i0.png", "i1.png"]


def test_large_structured_content_is_uploaded_as_json() -> None:
    structured = {"rows": [{"name": "ünïcode", "value": i} for i in range(20_000)]}
    report = report_for(JOB, 0, CallOutcome([TextOutput("done")], structured, False))

    _fits_the_hub(report)
    assert len(json.dumps(structured)) > MAX_STRUCTURED_BYTES
    assert report.result["structured"] is None
    assert json.loads(_uploaded(report, "structured.json")) == structured
    assert {"type": "blob", "index": 0} in report.result["outputs"]


def test_a_tool_error_keeps_its_text_within_the_hubs_limit() -> None:
    report = report_for(JOB, 0, CallOutcome([TextOutput("E" * 20_000)], None, True))

    _fits_the_hub(report)
    assert report.result["outcome"] == "tool_error" and report.result["error"] == "E" * 8000


async def test_the_hub_records_an_outsized_result_through_the_agents_spool(
    hub_client: TestClient[Any, Any], agent_keys: dict[str, str], tmp_path: Any
) -> None:
    tools = {"tools": [{"name": "demo.echo", "description": "", "input_schema": {"type": "object"}}]}
    agent = {"Authorization": f"Bearer {agent_keys['worker']}"}
    assert (await hub_client.post("/api/v1/agent/register", json=tools, headers=agent)).status == 200
    created = await hub_client.post("/api/v1/jobs", json={"tool": "demo.echo", "arguments": {}},
                                    headers={"Authorization": f"Bearer {agent_keys['token']}"})  # fmt: skip
    job_id = (await created.json())["id"]
    outcome = CallOutcome([TextOutput(f"part {i} " + "z" * 5000) for i in range(400)],
                          {"big": ["v" * 100] * 5000}, False)  # fmt: skip

    async with aiohttp.ClientSession() as session:
        client = HubClient(session, str(hub_client.make_url("")), agent_keys["worker"])
        assert (await client.start(job_id, 0))[0]
        await Spool(tmp_path / "spool", client).deliver(report_for(job_id, 0, outcome))

    job = await Job.get(id=job_id)
    assert job.status.value == "succeeded", job.error
    names = {artifact.name for artifact in await Artifact.filter(job_id=job_id)}
    assert {"more-outputs.txt", "structured.json"} <= names
