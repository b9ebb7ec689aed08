"""``__in`` with many values is one array parameter on PostgreSQL: ``col = ANY(%s)``.

Django writes ``col IN (%s, %s, ...)`` with one placeholder per value. The dispatch and report paths
filter by thousands of ids at a time, and psycopg (client-side binding) scans and fills a query string
with thousands of placeholders on every call: in a 3,000-agent fan-out that was a fifth of a node's
CPU. One array parameter makes the query short and the same at every size; PostgreSQL plans
``= ANY(array)`` with the same index scans as a long ``IN`` list. Short lists, subqueries, composite
keys, values that are expressions and bilateral transforms keep Django's own SQL. Registered in
``InvocationsConfig.ready``.
"""

from __future__ import annotations

from typing import Any

from django.db.models.expressions import ColPairs
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In
from django.utils.datastructures import OrderedSet

ARRAY_FROM = 50  # values; below this Django's IN list is as cheap


class ArrayInMixin:
    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        values = self._array_values(compiler, connection)
        if values is None:
            return self.as_sql(compiler, connection)  # type: ignore[attr-defined]
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)  # type: ignore[attr-defined]
        return f"{lhs_sql} = ANY(%s)", (*lhs_params, values)

    def _array_values(self, compiler: Any, connection: Any) -> list[Any] | None:
        if (
            not self.rhs_is_direct_value()  # type: ignore[attr-defined]
            or isinstance(self.lhs, (ColPairs, tuple))  # type: ignore[attr-defined]
            or self.bilateral_transforms  # type: ignore[attr-defined]
        ):
            return None
        try:
            rhs = OrderedSet(self.rhs)  # type: ignore[attr-defined]
        except TypeError:  # unhashable values: leave them to Django
            return None
        rhs.discard(None)  # NULL is never equal to anything (Django's rule)
        if len(rhs) <= ARRAY_FROM or any(hasattr(value, "resolve_expression") for value in rhs):
            return None
        # The field's own conversion of each value, without Django's per-value expression handling
        # (none of the values is an expression, and no transform applies to them).
        _, params = self.get_db_prep_lookup(rhs, connection)  # type: ignore[attr-defined]
        return list(params)


class InArray(ArrayInMixin, In):
    pass


class RelatedInArray(ArrayInMixin, RelatedIn):
    pass


def register() -> None:
    from django.db.models import Field, ForeignObject

    Field.register_lookup(InArray)
    ForeignObject.register_lookup(RelatedInArray)
