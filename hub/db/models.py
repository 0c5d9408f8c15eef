"""The data model (Tortoise ORM). Migrations in ``migrations/`` are generated from these classes;
``tests/hub/test_migrations.py`` proves that both agree."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class Platform(StrEnum):
    SLACK = "slack"
    DISCORD = "discord"
    CONSOLE = "console"


class Origin(StrEnum):
    SLACK = "slack"
    DISCORD = "discord"
    WEBHOOK = "webhook"
    CONSOLE = "console"
    API = "api"


class JobStatus(StrEnum):
    CREATED = "created"
    QUEUED = "queued"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATUSES


FINISHED_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.TIMED_OUT})


class EventKind(StrEnum):
    CREATED = "created"
    QUEUED = "queued"
    STARTED = "started"
    PROGRESS = "progress"
    LOG = "log"
    OUTPUT = "output"
    ARTIFACT = "artifact"
    RETRIED = "retried"
    CANCEL_REQUESTED = "cancel_requested"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECIDED = "approval_decided"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class WorkerStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    DRAINING = "draining"


class DeliveryStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class Tenant(Model):
    """A team: a Slack workspace, a Discord guild or a local installation."""

    id = fields.UUIDField(primary_key=True)
    slug = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tenants"


class User(Model):
    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="users", on_delete=fields.CASCADE
    )
    email = fields.CharField(max_length=320, null=True)
    display_name = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "users"
        unique_together = (("tenant", "email"),)


class ChatIdentity(Model):
    """A person's account on a chat platform, bound to a :class:`User`."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="chat_identities", on_delete=fields.CASCADE
    )
    platform = fields.CharEnumField(Platform, max_length=16)
    team_id = fields.CharField(max_length=64, description="Slack team or Discord guild id")
    platform_user_id = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "chat_identities"
        unique_together = (("platform", "team_id", "platform_user_id"),)


class Worker(Model):
    """An agent on an AI machine. Its API key is stored as a hash, found by its public prefix."""

    # One key is one agent: one process at a time holds it (its session), so one process consumes the
    # agent's queue (jobs.agent.runtime relies on it to release what a crashed process had claimed).

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="workers", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=64)
    api_key_prefix = fields.CharField(max_length=32, unique=True)
    api_key_hash = fields.CharField(max_length=128)
    labels: dict[str, str] = fields.JSONField(default=dict)
    tools: list[dict[str, Any]] = fields.JSONField(
        default=list, description="tools the agent reported, with their schemas"
    )
    status = fields.CharEnumField(WorkerStatus, max_length=16, default=WorkerStatus.OFFLINE)
    max_concurrency = fields.IntField(default=8)
    last_heartbeat_at = fields.DatetimeField(null=True)
    session_id = fields.CharField(max_length=64, null=True, description="the agent process holding this key")
    session: dict[str, Any] = fields.JSONField(default=dict, description="where that process runs: host, pid")
    session_closed_at = fields.DatetimeField(null=True, description="when its heart-beat connection closed")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "workers"
        unique_together = (("tenant", "name"),)


class ApiToken(Model):
    """A token for API callers (people and automation); stored hashed, found by its prefix."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="api_tokens", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="api_tokens", null=True, on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    prefix = fields.CharField(max_length=32, unique=True)
    token_hash = fields.CharField(max_length=128)
    scopes: list[str] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_tokens"


class Job(Model):
    """One tool call requested from chat, a webhook, the console or the API."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="jobs", on_delete=fields.CASCADE
    )
    origin = fields.CharEnumField(Origin, max_length=16)
    thread_ref: dict[str, Any] = fields.JSONField(default=dict, description="where the job reports: platform thread")
    requester = fields.CharField(max_length=200, description="who asked, as platform:team:user")
    requester_user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="jobs", null=True, on_delete=fields.SET_NULL
    )
    tool = fields.CharField(max_length=200, description="SERVER.TOOL")
    arguments: dict[str, Any] = fields.JSONField(default=dict)
    status = fields.CharEnumField(JobStatus, max_length=24, default=JobStatus.CREATED, db_index=True)
    attempt = fields.IntField(default=0)
    max_retries = fields.IntField(default=3)
    worker: fields.ForeignKeyNullableRelation[Worker] = fields.ForeignKeyField(
        "models.Worker", related_name="jobs", null=True, on_delete=fields.SET_NULL
    )
    idempotency_key = fields.CharField(max_length=200, null=True, unique=True)
    result: dict[str, Any] | None = fields.JSONField(null=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    queued_at = fields.DatetimeField(null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    next_seq = fields.IntField(default=1, description="sequence number of the next event")

    class Meta:
        table = "jobs"


class JobEvent(Model):
    """Append-only log of a job: every state change and every report, numbered per job."""

    id = fields.BigIntField(primary_key=True)
    job: fields.ForeignKeyRelation[Job] = fields.ForeignKeyField(
        "models.Job", related_name="events", on_delete=fields.CASCADE
    )
    seq = fields.IntField()
    kind = fields.CharEnumField(EventKind, max_length=24)
    attempt = fields.IntField(default=0)
    data: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "job_events"
        unique_together = (("job", "seq"),)


class Artifact(Model):
    """A binary output of a job, stored through the storage interface under ``storage_key``."""

    id = fields.UUIDField(primary_key=True)
    job: fields.ForeignKeyRelation[Job] = fields.ForeignKeyField(
        "models.Job", related_name="artifacts", on_delete=fields.CASCADE
    )
    attempt = fields.IntField(default=0)
    name = fields.CharField(max_length=255)
    mime_type = fields.CharField(max_length=127)
    size_bytes = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)
    storage_key = fields.CharField(max_length=512)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "artifacts"
        unique_together = (("job", "attempt", "sha256", "name"),)


class InboundDelivery(Model):
    """An accepted inbound request (slash command, interaction, webhook), de-duplicated by
    ``(source, delivery_id)``."""

    id = fields.BigIntField(primary_key=True)
    source = fields.CharField(max_length=64)
    delivery_id = fields.CharField(max_length=200)
    headers: dict[str, str] = fields.JSONField(default=dict)
    body = fields.BinaryField(null=True)
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.RECEIVED)
    job: fields.ForeignKeyNullableRelation[Job] = fields.ForeignKeyField(
        "models.Job", related_name="deliveries", null=True, on_delete=fields.SET_NULL
    )
    received_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "inbound_deliveries"
        unique_together = (("source", "delivery_id"),)


class OutboxMessage(Model):
    """A task to enqueue, written in the same transaction as the state that asks for it.

    The relay (any hub or hub worker) moves rows to Redis and marks them sent, so a Redis outage
    delays work but loses none."""

    id = fields.BigIntField(primary_key=True)
    task = fields.CharField(max_length=100)
    payload: dict[str, Any] = fields.JSONField(default=dict)
    queue = fields.CharField(max_length=200, null=True)
    dedupe_key = fields.CharField(max_length=200, null=True, unique=True)
    available_at = fields.DatetimeField(db_index=True)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    sent_at = fields.DatetimeField(null=True, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbox"


class SlackInstallation(Model):
    """A workspace that installed the app through OAuth v2; the workspace is a tenant."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="slack_installations", on_delete=fields.CASCADE
    )
    team_id = fields.CharField(max_length=32, unique=True)
    team_name = fields.CharField(max_length=200, default="")
    enterprise_id = fields.CharField(max_length=32, null=True)
    app_id = fields.CharField(max_length=32, default="")
    bot_user_id = fields.CharField(max_length=32, default="")
    bot_scopes = fields.TextField(default="")
    bot_token_encrypted = fields.TextField(description="Fernet token, key from GARAGESWARM_SECRET_KEY")
    installer_user_id = fields.CharField(max_length=32, default="")
    installed_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "slack_installations"
