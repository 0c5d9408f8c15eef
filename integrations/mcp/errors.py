"""Errors raised by the MCP client pool, classified once: retryable or not.

A tool's own failure is *not* an exception: it comes back as ``CallOutcome.is_error=True``.
These exceptions are for the call itself failing. ``retryable`` tells the job runner whether the
same call may succeed later (transient: the server crashed, is restarting, or was silent too long)
or will fail the same way again (permanent: the tool does not exist, the server refused the call).
"""

from __future__ import annotations


class McpCallError(Exception):
    """A call through the pool failed before the tool produced a result."""

    retryable = False
    # The call had reached the server when it failed (its connection was lost mid-call, it timed out): the
    # tool may have done its work. False when the call never left (the server was down beforehand).
    outcome_unknown = False

    def __init__(self, server: str, message: str) -> None:
        super().__init__(f"{server}: {message}")
        self.server = server


class ServerCrashed(McpCallError):
    """The connection to the server was lost (its process died); the pool is restarting it."""

    retryable = True


class ServerUnavailable(McpCallError):
    """The server is not connected: it failed to start, is still restarting, or the pool is closed."""

    retryable = True


class CallTimeout(McpCallError):
    """The call reported nothing for ``idle_timeout_s``, or ran past ``max_call_s``; it was cancelled."""

    retryable = True
    outcome_unknown = True

    def __init__(self, server: str, message: str, *, elapsed_s: float) -> None:
        super().__init__(server, message)
        self.elapsed_s = elapsed_s


class UnknownTool(McpCallError):
    """No configured server has that name, or the server does not list that tool."""


class ProtocolError(McpCallError):
    """The server refused the call with a JSON-RPC error, or answered with an invalid result."""

    def __init__(self, server: str, message: str, *, code: int | None = None) -> None:
        super().__init__(server, message)
        self.code = code
