"""How a call to the hub failed: for good, or worth retrying."""

from __future__ import annotations


class HubError(Exception):
    """The hub refused a request for good (4xx other than 408/429): retrying will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"hub answered {status}: {message}")
        self.status = status
        self.message = message


class HubUnreachable(Exception):
    """The hub did not answer, or answered 5xx/408/429: worth retrying later."""
