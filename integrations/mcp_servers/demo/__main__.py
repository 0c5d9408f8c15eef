"""Run the demo MCP server: stdio by default, streamable HTTP at ``/mcp`` with ``--http``.

python -m integrations.mcp_servers.demo
python -m integrations.mcp_servers.demo --http --host 127.0.0.1 --port 8765
python -m integrations.mcp_servers.demo --sse --port 8765      # legacy SSE at /sse
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence

import uvicorn
from mcp.shared.exceptions import MCPDeprecationWarning

from integrations.mcp_servers.demo.server import create_server

DEFAULT_HTTP_PORT = 8765
SHUTDOWN_GRACE_S = 1
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m integrations.mcp_servers.demo", description=__doc__)
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp")
    transport.add_argument("--sse", action="store_true", help="serve the legacy SSE transport at /sse")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_HTTP_PORT, help="HTTP port")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="INFO", help="the server's own log")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("--port must be between 1 and 65535")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Start the server on the chosen transport and serve until stopped."""
    args = parse_args(argv)
    # The demo's `log` tool uses MCP logging, which the 2026-07-28 spec deprecates; that is the point.
    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
    server = create_server(log_level=args.log_level)
    if not (args.http or args.sse):
        try:
            server.run()
        except BaseExceptionGroup as group:  # the client went away (stdin/stdout closed): a normal end
            _, other = group.split((BrokenPipeError, ConnectionResetError))
            if other is not None:
                raise
        return
    if args.http:
        app = server.streamable_http_app(streamable_http_path="/mcp", host=args.host)
    else:
        app = server.sse_app(host=args.host)
    # Long-lived SSE streams would hold a graceful shutdown open indefinitely; bound it.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level.lower(),
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )


if __name__ == "__main__":
    main()
