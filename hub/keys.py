"""Typed keys for what the hub application carries (no module-level clients)."""

from __future__ import annotations

from aiohttp import web
from arq.connections import ArqRedis

from jobs.wake import Waker

from .live import LiveEvents
from .metrics import Metrics
from .services.jobs import JobServices
from .settings import Settings
from .storage import LocalStorage

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", ArqRedis)
METRICS = web.AppKey("metrics", Metrics)
STORAGE = web.AppKey("storage", LocalStorage)
JOBS = web.AppKey("jobs", JobServices)
LIVE = web.AppKey("live", LiveEvents)  # the hub's one subscription to job events, fanned out to viewers
OUTBOX_WAKER = web.AppKey("outbox_waker", Waker)  # tells the hub worker that an ack path wrote outbox rows
