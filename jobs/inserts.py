"""Several new rows of different tables in one round trip."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

_KEY = '(SELECT "{pk}" FROM i{index}) AS k{index}'
_STATEMENT = "WITH {ctes} SELECT {keys}"


def _renumbered(sql: str, offset: int) -> str:
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + offset}", sql)


async def insert_together(connection: BaseDBAsyncClient, instances: Sequence[Model]) -> None:
    """INSERT model instances (a job, its events, its outbox row) in one statement of data-modifying CTEs,
    with tortoise's own column lists and value conversions; generated keys are set on the instances.
    Foreign keys are checked at the end of the statement, so a row may refer to one inserted before it."""
    if any(type(instance)._meta.db_default_db_columns for instance in instances):
        for instance in instances:  # DB-side defaults need tortoise's dynamic INSERT
            await instance.save(using_db=connection)
        return
    parts: list[str] = []
    values: list[Any] = []
    generated: list[tuple[int, Model, str]] = []
    for index, instance in enumerate(instances):
        meta = type(instance)._meta
        executor = connection.executor_class(model=type(instance), db=connection)
        pk_generated = instance.pk is None and meta.db_pk_column in meta.generated_db_fields
        columns = executor.regular_columns if pk_generated else executor.regular_columns_all
        query = executor.insert_query if pk_generated else executor.insert_query_all
        parts.append(f"i{index} AS ({_renumbered(query, len(values))})")
        values += [meta.fields_map[name].to_db_value(getattr(instance, name), instance) for name in columns]
        if pk_generated:
            generated.append((index, instance, meta.db_pk_column))
    # identifiers from the models' metadata; every value is a parameter
    keys = [_KEY.format(pk=pk, index=index) for index, _, pk in generated]
    rows = await connection.execute_query_dict(
        _STATEMENT.format(ctes=", ".join(parts), keys=", ".join(keys) or "1"), values
    )
    for index, instance, _ in generated:
        instance.pk = rows[0][f"k{index}"]
    for instance in instances:
        instance._saved_in_db = True  # as Model.save() marks it: a later save() is an UPDATE
