from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from hub.db.webhook_models import HookDeliveryStatus, HookScheme, OutboundStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_slack_installations')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HookEndpoint',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='hook_endpoints', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=64)),
                ('public_id', fields.CharField(unique=True, description='the unguessable path segment', max_length=64)),
                ('scheme', fields.CharEnumField(description='GITHUB: github\nSTANDARD: standard\nHMAC: hmac\nBEARER: bearer', enum_type=HookScheme, max_length=16)),
                ('scheme_options', fields.JSONField(default=dict, description='generic HMAC: header, encoding…', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('secret_encrypted', fields.TextField(description='Fernet token, key from GARAGESWARM_SECRET_KEY', unique=False)),
                ('rules', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('channel', fields.JSONField(default=dict, description='thread_ref of the jobs it starts', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('rate_limit_per_min', fields.IntField(default=600)),
                ('enabled', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'hook_endpoints', 'app': 'models', 'unique_together': (('tenant', 'name'),), 'pk_attr': 'id', 'table_description': '``POST /hooks/{public_id}``: how requests are verified, the rules, where jobs report.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HookDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('endpoint', fields.ForeignKeyField('models.HookEndpoint', source_field='endpoint_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('delivery_id', fields.CharField(max_length=200)),
                ('headers', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('body', fields.BinaryField()),
                ('status', fields.CharEnumField(default=HookDeliveryStatus.RECEIVED, description='RECEIVED: received\nPROCESSED: processed\nIGNORED: ignored\nFAILED: failed', enum_type=HookDeliveryStatus, max_length=16)),
                ('matched', fields.JSONField(default=list, description='names of the rules that matched', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('job_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('error', fields.TextField(null=True, unique=False)),
                ('replay_of', fields.BigIntField(null=True)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('processed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'hook_deliveries', 'app': 'models', 'unique_together': (('endpoint', 'delivery_id'),), 'pk_attr': 'id', 'table_description': 'An accepted inbound request, raw, for processing and replay; unique per endpoint and delivery id.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Subscription',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='subscriptions', on_delete=OnDelete.CASCADE)),
                ('url', fields.CharField(max_length=2000)),
                ('event_types', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('secret_encrypted', fields.TextField(description='Fernet token of the whsec_ secret', unique=False)),
                ('description', fields.CharField(default='', max_length=200)),
                ('enabled', fields.BooleanField(default=True)),
                ('disabled_reason', fields.TextField(null=True, unique=False)),
                ('failing_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'subscriptions', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An outbound webhook: these event types, to this URL, signed with this secret.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboundDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subscription', fields.ForeignKeyField('models.Subscription', source_field='subscription_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('msg_id', fields.CharField(unique=True, description='webhook-id: the same on every attempt', max_length=64)),
                ('event_type', fields.CharField(max_length=64)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=OutboundStatus.PENDING, description='PENDING: pending\nSUCCEEDED: succeeded\nFAILED: failed', enum_type=OutboundStatus, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('last_status_code', fields.IntField(null=True)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outbound_deliveries', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One event for one subscription, retried on a schedule until it is delivered or given up.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboundAttempt',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('delivery', fields.ForeignKeyField('models.OutboundDelivery', source_field='delivery_id', db_constraint=True, to_field='id', related_name='attempt_log', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('status_code', fields.IntField(null=True)),
                ('response_excerpt', fields.TextField(default='', unique=False)),
                ('error', fields.TextField(null=True, unique=False)),
                ('duration_ms', fields.IntField(default=0)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'outbound_attempts', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The delivery log: one row per attempt, with what the receiver answered.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookCursor',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('position', fields.BigIntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'webhook_cursors', 'app': 'models', 'pk_attr': 'name', 'table_description': 'How far the outbound fan-out has read the job event log (one row per reader).'},
            bases=['Model'],
        ),
    ]
