from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from hub.db.models import DeliveryStatus, EventKind, JobStatus, Origin, Platform, WorkerStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.CharField(max_length=100)),
                ('payload', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('queue', fields.CharField(null=True, max_length=200)),
                ('dedupe_key', fields.CharField(null=True, unique=True, max_length=200)),
                ('available_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('sent_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'outbox', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A task to enqueue, written in the same transaction as the state that asks for it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Tenant',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('slug', fields.CharField(unique=True, max_length=64)),
                ('name', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'tenants', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A team: a Slack workspace, a Discord guild or a local installation.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='users', on_delete=OnDelete.CASCADE)),
                ('email', fields.CharField(null=True, max_length=320)),
                ('display_name', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'users', 'app': 'models', 'unique_together': (('tenant', 'email'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='api_tokens', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='api_tokens', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('prefix', fields.CharField(unique=True, max_length=32)),
                ('token_hash', fields.CharField(max_length=128)),
                ('scopes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_tokens', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A token for API callers (people and automation); stored hashed, found by its prefix.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChatIdentity',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='chat_identities', on_delete=OnDelete.CASCADE)),
                ('platform', fields.CharEnumField(description='SLACK: slack\nDISCORD: discord\nCONSOLE: console', enum_type=Platform, max_length=16)),
                ('team_id', fields.CharField(description='Slack team or Discord guild id', max_length=64)),
                ('platform_user_id', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'chat_identities', 'app': 'models', 'unique_together': (('platform', 'team_id', 'platform_user_id'),), 'pk_attr': 'id', 'table_description': "A person's account on a chat platform, bound to a :class:`User`."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Worker',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='workers', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=64)),
                ('api_key_prefix', fields.CharField(unique=True, max_length=32)),
                ('api_key_hash', fields.CharField(max_length=128)),
                ('labels', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('tools', fields.JSONField(default=list, description='tools the agent reported, with their schemas', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=WorkerStatus.OFFLINE, description='ONLINE: online\nOFFLINE: offline\nDRAINING: draining', enum_type=WorkerStatus, max_length=16)),
                ('max_concurrency', fields.IntField(default=8)),
                ('last_heartbeat_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'workers', 'app': 'models', 'unique_together': (('tenant', 'name'),), 'pk_attr': 'id', 'table_description': 'An agent on an AI machine. Its API key is stored as a hash, found by its public prefix.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Job',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='jobs', on_delete=OnDelete.CASCADE)),
                ('origin', fields.CharEnumField(description='SLACK: slack\nDISCORD: discord\nWEBHOOK: webhook\nCONSOLE: console\nAPI: api', enum_type=Origin, max_length=16)),
                ('thread_ref', fields.JSONField(default=dict, description='where the job reports: platform thread', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('requester', fields.CharField(description='who asked, as platform:team:user', max_length=200)),
                ('requester_user', fields.ForeignKeyField('models.User', source_field='requester_user_id', null=True, db_constraint=True, to_field='id', related_name='jobs', on_delete=OnDelete.SET_NULL)),
                ('tool', fields.CharField(description='SERVER.TOOL', max_length=200)),
                ('arguments', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=JobStatus.CREATED, db_index=True, description='CREATED: created\nQUEUED: queued\nAWAITING_APPROVAL: awaiting_approval\nRUNNING: running\nSUCCEEDED: succeeded\nFAILED: failed\nCANCELLED: cancelled\nTIMED_OUT: timed_out', enum_type=JobStatus, max_length=24)),
                ('attempt', fields.IntField(default=0)),
                ('max_retries', fields.IntField(default=3)),
                ('worker', fields.ForeignKeyField('models.Worker', source_field='worker_id', null=True, db_constraint=True, to_field='id', related_name='jobs', on_delete=OnDelete.SET_NULL)),
                ('idempotency_key', fields.CharField(null=True, unique=True, max_length=200)),
                ('result', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('error', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('queued_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('next_seq', fields.IntField(default=1, description='sequence number of the next event')),
            ],
            options={'table': 'jobs', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One tool call requested from chat, a webhook, the console or the API.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Artifact',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('job', fields.ForeignKeyField('models.Job', source_field='job_id', db_constraint=True, to_field='id', related_name='artifacts', on_delete=OnDelete.CASCADE)),
                ('attempt', fields.IntField(default=0)),
                ('name', fields.CharField(max_length=255)),
                ('mime_type', fields.CharField(max_length=127)),
                ('size_bytes', fields.BigIntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('storage_key', fields.CharField(max_length=512)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'artifacts', 'app': 'models', 'unique_together': (('job', 'attempt', 'sha256', 'name'),), 'pk_attr': 'id', 'table_description': 'A binary output of a job, stored through the storage interface under ``storage_key``.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='InboundDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('source', fields.CharField(max_length=64)),
                ('delivery_id', fields.CharField(max_length=200)),
                ('headers', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('body', fields.BinaryField(null=True)),
                ('status', fields.CharEnumField(default=DeliveryStatus.RECEIVED, description='RECEIVED: received\nPROCESSED: processed\nIGNORED: ignored\nFAILED: failed', enum_type=DeliveryStatus, max_length=16)),
                ('job', fields.ForeignKeyField('models.Job', source_field='job_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.SET_NULL)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'inbound_deliveries', 'app': 'models', 'unique_together': (('source', 'delivery_id'),), 'pk_attr': 'id', 'table_description': 'An accepted inbound request (slash command, interaction, webhook), de-duplicated by'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JobEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('job', fields.ForeignKeyField('models.Job', source_field='job_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('seq', fields.IntField()),
                ('kind', fields.CharEnumField(description='CREATED: created\nQUEUED: queued\nSTARTED: started\nPROGRESS: progress\nLOG: log\nOUTPUT: output\nARTIFACT: artifact\nRETRIED: retried\nCANCEL_REQUESTED: cancel_requested\nAPPROVAL_REQUESTED: approval_requested\nAPPROVAL_DECIDED: approval_decided\nSUCCEEDED: succeeded\nFAILED: failed\nCANCELLED: cancelled\nTIMED_OUT: timed_out', enum_type=EventKind, max_length=24)),
                ('attempt', fields.IntField(default=0)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'job_events', 'app': 'models', 'unique_together': (('job', 'seq'),), 'pk_attr': 'id', 'table_description': 'Append-only log of a job: every state change and every report, numbered per job.'},
            bases=['Model'],
        ),
    ]
