from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_webhooks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tenant_id', fields.UUIDField(null=True)),
                ('actor', fields.CharField(description='user:<id>, token:<id>, chat identity or anonymous', max_length=200)),
                ('action', fields.CharField(db_index=True, max_length=64)),
                ('source', fields.CharField(description='door: sso, api, slack, console, ...', max_length=64)),
                ('target', fields.CharField(default='', max_length=200)),
                ('data', fields.JSONField(default=dict, description='what changed', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'audit_log', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One security-relevant action; rows are only ever inserted (a trigger refuses UPDATE/DELETE).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChatLinkCode',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('code_hash', fields.CharField(unique=True, description='SHA-256 of the code in the link', max_length=64)),
                ('tenant_id', fields.UUIDField()),
                ('platform', fields.CharField(max_length=16)),
                ('team_id', fields.CharField(max_length=64)),
                ('platform_user_id', fields.CharField(max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'chat_link_codes', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A one-time, short-lived code that binds a chat identity to whoever signs in with it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OidcAccount',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='oidc_accounts', on_delete=OnDelete.CASCADE)),
                ('issuer', fields.CharField(max_length=255)),
                ('subject', fields.CharField(max_length=255)),
                ('groups', fields.JSONField(default=list, description='group claim at the last sign-in', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('last_login_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'oidc_accounts', 'app': 'models', 'unique_together': (('issuer', 'subject'),), 'pk_attr': 'id', 'table_description': "A person's account at the OpenID provider (issuer + subject), bound to a :class:`User`."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RoleGrant',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='role_grants', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharField(max_length=16)),
                ('tools', fields.JSONField(default=list, description='operator: tool patterns it may run', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('granted_by', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'role_grants', 'app': 'models', 'unique_together': (('user', 'role'),), 'pk_attr': 'id', 'table_description': 'A role granted to a person directly (group-derived roles come from ``OIDC_ROLE_MAP``).'},
            bases=['Model'],
        ),
        ops.RunSQL(
            [
                "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
                "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
            ],
            reverse_sql=[
                "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
                "DROP FUNCTION IF EXISTS audit_log_append_only()",
            ],
        ),
    ]
