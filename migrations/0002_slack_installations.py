from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SlackInstallation',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('tenant', fields.ForeignKeyField('models.Tenant', source_field='tenant_id', db_constraint=True, to_field='id', related_name='slack_installations', on_delete=OnDelete.CASCADE)),
                ('team_id', fields.CharField(unique=True, max_length=32)),
                ('team_name', fields.CharField(default='', max_length=200)),
                ('enterprise_id', fields.CharField(null=True, max_length=32)),
                ('app_id', fields.CharField(default='', max_length=32)),
                ('bot_user_id', fields.CharField(default='', max_length=32)),
                ('bot_scopes', fields.TextField(default='', unique=False)),
                ('bot_token_encrypted', fields.TextField(description='Fernet token, key from GARAGESWARM_SECRET_KEY', unique=False)),
                ('installer_user_id', fields.CharField(default='', max_length=32)),
                ('installed_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'slack_installations', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A workspace that installed the app through OAuth v2; the workspace is a tenant.'},
            bases=['Model'],
        ),
    ]
