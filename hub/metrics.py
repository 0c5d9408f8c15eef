"""Prometheus metrics, one registry per application (no module-level collectors)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    http_requests: Counter
    http_latency: Histogram

    @classmethod
    def create(cls) -> Metrics:
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            registry=registry,
            http_requests=Counter(
                "garageswarm_http_requests", "HTTP requests answered", ["method", "route", "status"],
                registry=registry,
            ),
            http_latency=Histogram(
                "garageswarm_http_request_seconds", "Time to answer an HTTP request", ["method", "route"],
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                registry=registry,
            ),
        )  # fmt: skip
