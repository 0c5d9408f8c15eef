from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_delivery_work_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Worker',
            name='session',
            field=fields.JSONField(default=dict, description='where that process runs: host, pid', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Worker',
            name='session_closed_at',
            field=fields.DatetimeField(null=True, description='when its heart-beat connection closed', auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Worker',
            name='session_id',
            field=fields.CharField(null=True, description='the agent process holding this key', max_length=64),
        ),
    ]
