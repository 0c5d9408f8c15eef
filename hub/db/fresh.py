"""Building new model instances on hot paths without tortoise's per-field machinery.

``Model(**values)`` runs, for every field, a type conversion, a relation check, a coroutine check of
its default and an overridden ``__setattr__``: a job with its events and outbox row cost more CPU to
build than to insert. :func:`fresh` makes the same unsaved instance from values our own code computed
(already of the fields' Python types), filling defaults as tortoise does."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from tortoise.models import Model

M = TypeVar("M", bound=Model)
_Default = Callable[[], Any]


@functools.cache
def _defaults(model: type[Model]) -> tuple[tuple[str, _Default], ...]:
    """(field name, default maker) for every column of ``model``, computed once per model."""
    meta = model._meta
    return tuple((name, _maker(meta.fields_map[name].default)) for name in meta.fields_db_projection)


def _maker(default: Any) -> _Default:
    if callable(default):
        return default  # type: ignore[no-any-return]
    if isinstance(default, dict | list | set):
        return lambda: copy.deepcopy(default)
    return lambda: default


def fresh(model: type[M], /, saved: bool = False, **values: Any) -> M:
    """A ``model`` instance holding ``values`` (field names, Python values) and defaults: a new row, or
    with ``saved`` one a statement just wrote (a later ``save()`` is then an UPDATE)."""
    instance = model.__new__(model)
    put = object.__setattr__
    put(instance, "_partial", False)
    put(instance, "_saved_in_db", saved)
    put(instance, "_custom_generated_pk", False)
    put(instance, "_await_when_save", {})
    for name, default in _defaults(model):
        put(instance, name, values.pop(name) if name in values else default())
    if values:
        raise TypeError(f"{model.__name__} has no columns {sorted(values)}")
    return instance
