"""The invocations that ran on an instance (``selectors.invocation_ids_on_instance``), as DescribeInvocations
by InstanceId filters on them: a list on PostgreSQL (one array parameter), a subquery elsewhere, the same
invocations either way. Used on SQLite by tests/api/test_invocations_on_instance.py and on PostgreSQL by
tests/integration/pg_sql_cases.py."""

from console.invocations.models import Invocation, InvocationResult
from console.invocations.selectors import invocation_ids_on_instance
from console.lookups import ARRAY_FROM

ON_A = ARRAY_FROM + 10  # more than a short IN list: PostgreSQL takes them as one array


def answers(account_id: str, region: str, prefix: str) -> dict[str, object]:
    """Stores the cases under invocation ids starting with ``prefix`` and answers, per instance, the
    invocations found and those meant (sorted), and the SQL of the invocations' query on instance A."""
    a, b, c = f"mi-{prefix}-a", f"mi-{prefix}-b", f"mi-{prefix}-c"
    invocations, results = [], []

    def invocation(n: int, instances: list[str], history: int = 0) -> str:
        invocation_id = f"t-{prefix}{n:04d}"
        invocations.append(
            Invocation(
                id=invocation_id,
                account_id=account_id,
                region=region,
                command_id="c-1",
                command_type="RunShellScript",
                command_content="id",
            )  # fmt: skip
        )
        for instance in instances:
            # A periodic task's earlier runs on an instance are history rows: still the same invocation.
            for run in range(history + 1):
                results.append(
                    InvocationResult(
                        id=f"r-{prefix}{n:04d}-{instance}-{run}",
                        invocation_id=invocation_id,
                        instance_id=instance,
                        latest=run == history,
                        repeats=run + 1,
                    )  # fmt: skip
                )
        return invocation_id

    meant: dict[str, list[str]] = {a: [], b: [], c: []}
    for n in range(ON_A):
        on = [a, b] if n % 3 == 0 else [a]
        invocation_id = invocation(n, on, history=2 if n == 7 else 0)
        for instance in on:
            meant[instance].append(invocation_id)
    for n in range(ON_A, ON_A + 5):
        meant[b].append(invocation(n, [b]))
    Invocation.objects.bulk_create(invocations)
    InvocationResult.objects.bulk_create(results)

    def found(instance_id: str):  # type: ignore[no-untyped-def]
        return Invocation.objects.filter(
            id__startswith=f"t-{prefix}", pk__in=invocation_ids_on_instance(instance_id)
        )

    return {
        **{f"found {name}": sorted(found(instance).values_list("id", flat=True)) for name, instance in
           (("a", a), ("b", b), ("c", c))},
        **{f"meant {name}": sorted(meant[instance]) for name, instance in (("a", a), ("b", b), ("c", c))},
        "count a": found(a).count(),
        "sql a": str(found(a).query),
    }  # fmt: skip
