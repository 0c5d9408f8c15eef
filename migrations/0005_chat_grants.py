from tortoise import migrations
from tortoise.migrations import operations as ops
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_auth')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ChatGrant',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('platform', fields.CharField(max_length=16)),
                ('team_id', fields.CharField(description='Slack team or Discord guild id; empty: every one', max_length=64)),
                ('subject_kind', fields.CharField(description='user, group (Slack), role or user_or_role (Discord)', max_length=16)),
                ('subject_id', fields.CharField(max_length=64)),
                ('role', fields.CharField(max_length=16)),
                ('source', fields.CharField(description='config (the settings) or api (an admin)', max_length=8)),
                ('granted_by', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'chat_grants', 'app': 'models', 'unique_together': (('platform', 'team_id', 'subject_kind', 'subject_id', 'role', 'source'),), 'pk_attr': 'id', 'table_description': 'A role held by a chat subject: a Slack or Discord user, a Slack user group or a Discord role.'},
            bases=['Model'],
        ),
    ]
