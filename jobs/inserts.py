"""Several new rows of different tables in one round trip: one statement of data-modifying CTEs.

Postgres checks foreign keys at the end of the statement, so a row may refer to one inserted earlier in
it (an event to its new job). Column lists and value conversions are tortoise's own, so a column added
to a model is written here too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

# Identifiers come from the models' metadata and values are parameters: nothing from outside is spliced.
_STATEMENT = "WITH {ctes} SELECT {selected}"
_INSERT = 'INSERT INTO "{table}" ({columns}) VALUES ({values})'
_RETURNING = ' RETURNING "{pk}"'
_KEY = '(SELECT "{pk}" FROM {cte})'


class Statement:
    """``WITH i0 AS (INSERT …), i1 AS (…) SELECT …``, built part by part."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._ctes: list[str] = []
        self._selected: list[str] = []
        self._generated: list[tuple[Model, str]] = []

    def param(self, value: Any) -> str:
        """A placeholder for ``value``."""
        self.values.append(value)
        return f"${len(self.values)}"

    def cte(self, sql: str) -> str:
        """Add a CTE; its name."""
        name = f"i{len(self._ctes)}"
        self._ctes.append(f"{name} AS ({sql})")
        return name

    def select(self, expression: str) -> str:
        """Return ``expression`` in the result row; its key there."""
        key = f"k{len(self._selected)}"
        self._selected.append(f"{expression} AS {key}")
        return key

    def insert(self, instance: Model, expressions: dict[str, str] | None = None) -> None:
        """INSERT ``instance``; ``expressions`` replace the parameter of some columns (by field name) with SQL."""
        meta = type(instance)._meta
        generated = instance.pk is None and meta.db_pk_column in meta.generated_db_fields
        names = [name for name in meta.fields_db_projection if not (generated and name == meta.pk_attr)]
        columns = ", ".join(f'"{meta.fields_db_projection[name]}"' for name in names)
        placed = [
            (expressions or {}).get(name)
            or self.param(meta.fields_map[name].to_db_value(getattr(instance, name), instance))
            for name in names
        ]  # fmt: skip
        sql = _INSERT.format(table=meta.db_table, columns=columns, values=", ".join(placed))
        if generated:
            name = self.cte(sql + _RETURNING.format(pk=meta.db_pk_column))
            self._generated.append((instance, self.select(_KEY.format(pk=meta.db_pk_column, cte=name))))
        else:
            self.cte(sql)

    async def run(self, connection: BaseDBAsyncClient, instances: Sequence[Model] = ()) -> dict[str, Any]:
        """Execute; set the generated keys; mark ``instances`` (and those inserted) as saved. The result row."""
        sql = _STATEMENT.format(ctes=", ".join(self._ctes), selected=", ".join(self._selected) or "1")
        rows = await connection.execute_query_dict(sql, self.values)
        for instance, key in self._generated:
            instance.pk = rows[0][key]
        for instance in [*instances, *(instance for instance, _ in self._generated)]:
            instance._saved_in_db = True  # as Model.save() marks it: a later save() is an UPDATE
        return rows[0]


async def insert_together(connection: BaseDBAsyncClient, instances: Sequence[Model]) -> None:
    """INSERT model instances (a job, its events, its outbox row) in one statement; generated keys are set."""
    if any(type(instance)._meta.db_default_db_columns for instance in instances):
        for instance in instances:  # DB-side defaults need tortoise's dynamic INSERT
            await instance.save(using_db=connection)
        return
    statement = Statement()
    for instance in instances:
        statement.insert(instance)
    await statement.run(connection, instances)
