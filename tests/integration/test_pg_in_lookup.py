"""``__in`` with many values becomes ``= ANY(%s)`` on PostgreSQL (console/lookups.py) and answers exactly
as Django's own ``IN`` list: both run on a scratch PostgreSQL database, case by case."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.lookups import ARRAY_FROM
from tests.integration.test_production_mode import database  # noqa: F401  (fixture)

pytestmark = [pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]


def test_array_lookup_answers_as_djangos_in_list(database, tmp_path):  # noqa: F811
    env = dict(os.environ, DATABASE_URL=database, ASSIST_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("pg_in_lookup_cases.py"))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines[-1] == {"vendor": "postgresql"}
    cases = {line["case"]: line for line in lines[:-1]}
    assert len(cases) == 11
    for name, case in cases.items():
        assert case["ours"] == case["django"], name
        assert case["excluded_ours"] == case["excluded_django"], name
    assert ARRAY_FROM < 60
    for name in (
        "long list",
        "long list with None and duplicates",
        "foreign key by id",
        "integers",
        "generator",
    ):
        assert "= ANY(" in cases[name]["sql"] and " IN (" not in cases[name]["sql"], name
        assert cases[name]["ours"], name  # something was found, so the comparison means something
    assert " IN (" in cases["short list"]["sql"] and "ANY" not in cases["short list"]["sql"]
    assert len(cases["long list"]["ours"]) == 150
    assert cases["long list of unknown ids"]["ours"] == []
    assert cases["long list, only None"]["sql"] == "EmptyResultSet"
