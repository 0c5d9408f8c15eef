from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import PartialIndex

class Migration(migrations.Migration):
    dependencies = [('models', '0005_chat_grants')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='HookDelivery',
            name='received_at',
            field=fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
        ),
        ops.AddIndex(
            model_name='HookDelivery',
            index=PartialIndex(fields=['id'], name='hook_deliveries_received_idx', condition={'status': 'received'}),
        ),
        ops.AlterField(
            model_name='InboundDelivery',
            name='received_at',
            field=fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
        ),
    ]
