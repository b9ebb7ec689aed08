"""DescribeInvocations has the database format its instances' times (IsoTimeText): on SQLite the text
must be exactly what ``iso_time`` gives in Python, case by case (PostgreSQL: integration/test_pg_sql.py)."""

import pytest

from console.invocations.models import Invocation
from tests.iso_time_cases import CASES, formatted


@pytest.mark.django_db
def test_database_formats_every_time_as_iso_time_does(tenant, region):
    Invocation.objects.create(
        id="t-times", account_id=tenant.account_id, region=region, command_id="c-1",
        command_type="RunShellScript", command_content="id",
    )  # fmt: skip
    answers = formatted("t-times")
    assert set(answers) == set(CASES)
    for name, answer in answers.items():
        assert answer["database"] == answer["python"] == answer["meant"], name
