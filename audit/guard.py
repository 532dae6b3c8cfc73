"""ORM-level refusal of unaudited bulk writes to governed models.

Governed data changes only through services that append an audit event in the same
transaction. ``QuerySet.update()``, ``delete()``, ``bulk_create()`` and ``bulk_update()`` skip
those services, so governed querysets refuse them (except for bookkeeping fields listed in
``unaudited_fields``). On PostgreSQL a deferred trigger (``audit.triggers.govern``) also fails
the COMMIT of any transaction that changes a governed table without an audit event, which
catches raw SQL and ``save()`` calls outside services.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn

from django.db import models


class UnauditedWriteRefused(Exception):
    """A bulk write that would change governed data without an audit event."""


class GovernedQuerySet(models.QuerySet[Any]):
    unaudited_fields: frozenset[str] = frozenset()

    def _refuse(self, operation: str) -> NoReturn:
        raise UnauditedWriteRefused(
            f"{self.model.__name__}.objects.{operation}() is refused: governed data changes only through "
            "its service, which audits the change"
        )

    def update(self, **kwargs: Any) -> int:
        if not set(kwargs) <= self.unaudited_fields:
            self._refuse("update")
        return super().update(**kwargs)

    def delete(self) -> NoReturn:
        self._refuse("delete")

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse("bulk_create")

    def bulk_update(self, objs: Iterable[Any], fields: Iterable[str], batch_size: int | None = None) -> int:
        if not set(fields) <= self.unaudited_fields:
            self._refuse("bulk_update")
        return super().bulk_update(objs, fields, batch_size=batch_size)


def governed_queryset(*bookkeeping_fields: str) -> type[GovernedQuerySet]:
    """A GovernedQuerySet subclass whose ``update()`` may touch the given bookkeeping fields."""
    return type("GovernedQuerySet", (GovernedQuerySet,), {"unaudited_fields": frozenset(bookkeeping_fields)})
