"""Several new rows of different tables in one round trip: one statement of data-modifying CTEs.

Postgres checks foreign keys at the end of the statement, so a row may refer to one inserted earlier in
it (an event to its new job). Column lists and value conversions are tortoise's own, so a column added
to a model is written here too."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

# Identifiers come from the models' metadata and values are parameters: nothing from outside is spliced.
_STATEMENT = "WITH {ctes} SELECT {selected}"
_INSERT = 'INSERT INTO "{table}" ({columns}) VALUES ({values})'
_RETURNING = ' RETURNING "{pk}"'
_KEY = '(SELECT "{pk}" FROM {cte})'
_INSERT_ROWS = (
    'INSERT INTO "{table}" ({columns}) SELECT {selected} FROM json_populate_recordset(NULL::"{table}", {rows}::json)'
)


def _written(meta: Any, key_generated: bool) -> list[str]:
    """The fields an INSERT writes: every column, but the primary key when the database makes it."""
    return [name for name in meta.fields_db_projection if not (key_generated and name == meta.pk_attr)]


def _json_value(value: Any) -> Any:
    """JSON for the values json.dumps does not know; Postgres parses the text into the column's type."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot write {type(value).__name__} as a column value")


class Statement:
    """``WITH i0 AS (INSERT …), i1 AS (…) SELECT …``, built part by part."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._ctes: list[str] = []
        self._selected: list[str] = []
        self._generated: list[tuple[Model, str]] = []
        self._inserted: list[Model] = []  # marked saved once the statement ran

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
        names = _written(meta, generated)
        columns = ", ".join(f'"{meta.fields_db_projection[name]}"' for name in names)
        placed = [
            (expressions or {}).get(name)
            or self.param(meta.fields_map[name].to_db_value(getattr(instance, name), instance))
            for name in names
        ]  # fmt: skip
        sql = _INSERT.format(table=meta.db_table, columns=columns, values=", ".join(placed))
        self._inserted.append(instance)
        if generated:
            name = self.cte(sql + _RETURNING.format(pk=meta.db_pk_column))
            self._generated.append((instance, self.select(_KEY.format(pk=meta.db_pk_column, cte=name))))
        else:
            self.cte(sql)

    def insert_rows(self, instances: Sequence[Model], returning: str | None = None) -> str:
        """INSERT many new instances of one model from one JSON parameter (``json_populate_recordset``
        gives each value its column's type, so no per-value conversion runs in Python); the CTE's name.
        A generated key is left to the database (``returning`` names columns to read it back by);
        an empty ``auto_now``/``auto_now_add`` time is the statement's ``now()``."""
        meta = type(instances[0])._meta
        names = _written(meta, meta.db_pk_column in meta.generated_db_fields)
        columns = [meta.fields_db_projection[name] for name in names]
        rows = [{column: getattr(i, name) for name, column in zip(names, columns, strict=True)} for i in instances]
        selected = [
            f'COALESCE("{column}", now())' if getattr(meta.fields_map[name], "auto_now_add", False)
            or getattr(meta.fields_map[name], "auto_now", False) else f'"{column}"'
            for name, column in zip(names, columns, strict=True)
        ]  # fmt: skip
        sql = _INSERT_ROWS.format(
            table=meta.db_table, columns=", ".join(f'"{c}"' for c in columns), selected=", ".join(selected),
            rows=self.param(json.dumps(rows, default=_json_value)),
        )  # fmt: skip
        self._inserted.extend(instances)
        return self.cte(sql + (f" RETURNING {returning}" if returning else ""))

    async def rows(self, connection: BaseDBAsyncClient, select: str) -> list[dict[str, Any]]:
        """Execute, selecting ``select`` (say ``"* FROM i2"``); every row of the result. The inserted
        instances are marked saved."""
        rows = await connection.execute_query_dict(_STATEMENT.format(ctes=", ".join(self._ctes), selected=select),
                                                   self.values)  # fmt: skip
        for instance in self._inserted:
            instance._saved_in_db = True  # as Model.save() marks it: a later save() is an UPDATE
        return rows

    async def run(self, connection: BaseDBAsyncClient, instances: Sequence[Model] = ()) -> dict[str, Any]:
        """Execute; set the generated keys; mark ``instances`` (and those inserted) as saved. The result row."""
        self._inserted.extend(instances)
        [row] = await self.rows(connection, ", ".join(self._selected) or "1")
        for instance, key in self._generated:
            instance.pk = row[key]
        return row


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
