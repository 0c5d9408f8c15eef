"""What every chat door's hub-worker tasks share: claiming a recorded delivery once, and answering."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.ports import ChatDeliveryError, ChatRateLimited
from hub.db.models import DeliveryStatus, InboundDelivery

log = logging.getLogger(__name__)
ANSWER_ATTEMPTS = 4
MAX_WAIT_S = 30.0


async def claim(delivery_id: int) -> InboundDelivery | None:
    """The recorded delivery if nobody has carried it out yet (a re-run task finds it processed)."""
    delivery = await InboundDelivery.get_or_none(id=delivery_id)
    if delivery is None or delivery.status is not DeliveryStatus.RECEIVED:
        return None
    return delivery


async def deliver_answer(send: Callable[[], Awaitable[None]]) -> None:
    """Send an answer, waiting out rate limits (Retry-After) a few times; a refusal is logged, never raised."""
    for attempt in range(ANSWER_ATTEMPTS):
        try:
            await send()
            return
        except ChatRateLimited as exc:
            if attempt == ANSWER_ATTEMPTS - 1:
                log.error("the chat platform kept rate-limiting an answer; giving up", extra={"platform": exc.platform})
                return
            await asyncio.sleep(min(exc.retry_after_s, MAX_WAIT_S))
        except ChatDeliveryError as exc:
            log.error("could not answer in chat", extra={"platform": exc.platform, "error": exc.error})
            return
