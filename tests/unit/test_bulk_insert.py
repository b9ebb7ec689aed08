"""console.bulk_insert on the default database (SQLite: bulk_create underneath); the PostgreSQL form, one
INSERT from arrays, runs the same cases in tests/integration/test_pg_sql.py."""

import pytest
from django.utils import timezone

from console.bulk_insert import bulk_insert
from console.iam.models import Account
from console.invocations.models import Invocation, InvocationResult
from tests import bulk_insert_cases

pytestmark = pytest.mark.django_db


@pytest.fixture
def invocation_ids() -> tuple[str, str]:
    account = Account.objects.create(id="acc-bulk", name="acc-bulk")
    invocations = [
        Invocation.objects.create(
            id=f"t-bulk{n}", account=account, region="r", command_id="c-1", command_type="RunShellScript"
        )
        for n in (1, 2)
    ]
    return invocations[0].id, invocations[1].id


def test_rows_are_stored_as_bulk_create_stores_them(invocation_ids):
    before = timezone.now()
    answer = bulk_insert_cases.compare(*invocation_ids)
    assert answer["inserted"] == 300 and answer["empty"] == 0
    assert len(answer["ours"]) == 300
    assert answer["ours"] == answer["django"]
    assert {row["queued"] for row in answer["ours"]} == {"True", "False"}  # the varying columns vary
    [stamp] = InvocationResult.objects.filter(id="rb-0000").values_list("updated_at", flat=True)
    assert stamp >= before  # auto_now, as a save would set it


@pytest.mark.parametrize(
    ("varying", "message"),
    [
        ({"id": ["a", "b"], "content": ["x"]}, "differ in length"),
        ({"id": ["a"], "nonsense": ["x"]}, "has no column"),
        ({"id": ["a"], "invocation": ["t-bulk1"]}, "has no column"),  # attribute names: invocation_id
    ],
)
def test_bad_columns_are_refused_before_anything_is_written(invocation_ids, varying, message):
    with pytest.raises(ValueError, match=message):
        bulk_insert(InvocationResult(invocation_id=invocation_ids[0]), varying)
    assert not InvocationResult.objects.exists()
