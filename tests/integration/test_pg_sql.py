"""The PostgreSQL-only SQL, run on a scratch PostgreSQL database (pg_sql_cases.py in a subprocess):
``__in`` with many values becomes ``= ANY(%s)`` (console/lookups.py) and answers exactly as Django's own
``IN`` list, case by case; the report write-back's one UPDATE from arrays stores every field as meant;
the times the database formats for DescribeInvocations read as ``iso_time`` gives them; the invocations on an
instance are those that ran there, taken as one array; output chunks are compressed with LZ4."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.lookups import ARRAY_FROM
from tests.instance_invocation_cases import ON_A
from tests.integration.test_production_mode import scratch_database
from tests.iso_time_cases import CASES

pytestmark = [pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    """Every case's answers, from one run of pg_sql_cases.py on one scratch database for the module."""
    with scratch_database() as database:
        env = dict(os.environ, DATABASE_URL=database, ASSIST_DATA_DIR=str(tmp_path_factory.mktemp("pg-sql")))
        done = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("pg_sql_cases.py"))],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines[-1] == {"vendor": "postgresql"}
    return lines[:-1]


def test_array_lookup_answers_as_djangos_in_list(answers):
    cases = {line["case"]: line for line in answers if "case" in line}
    assert len(cases) == 12
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
    assert " IN (" in cases["bilateral transform"]["sql"] and len(cases["bilateral transform"]["ours"]) == 150
    assert len(cases["long list"]["ours"]) == 150
    assert cases["long list of unknown ids"]["ours"] == []
    assert cases["long list, only None"]["sql"] == "EmptyResultSet"


def test_write_back_stores_every_field_of_every_changed_result(answers):
    [written] = [line for line in answers if "write_back" in line]
    assert len(written["stored"]) == 200
    assert written["stored"] == written["write_back"]
    assert {row["status"] for row in written["stored"].values()} == {
        "Success",
        "Failed",
        "Running",
        "Timeout",
    }
    assert written["untouched_after"] == written["untouched_before"]  # rows not in the batch keep theirs


def test_chunk_insert_stores_binary_output_byte_for_byte(answers):
    [chunks] = [line for line in answers if "chunks_meant" in line]
    assert len(chunks["chunks_stored"]) == 104
    assert chunks["chunks_stored"] == chunks["chunks_meant"]


def test_output_reads_return_the_stored_bytes(answers):
    [chunks] = [line for line in answers if "chunks_meant" in line]
    meant = chunks["chunks_meant"]
    assert chunks["after_50"] == [[seq, data] for result, seq, data in meant if result == "r-0253"][50:60]
    joined = {result: "" for result, _, _ in meant}
    for result, _, data in meant:
        joined[result] += data
    assert chunks["joined"] == joined
    assert chunks["none_asked"] == {}


def test_binary_cursor_goes_through_djangos_query_log_and_errors(answers):
    [chunks] = [line for line in answers if "chunks_meant" in line]
    [logged] = chunks["through_django"]["logged"]
    assert "invocations_outputchunk" in logged
    assert chunks["through_django"]["duplicate"] == "IntegrityError"


def test_output_chunks_are_compressed_with_lz4_where_the_server_has_it(answers):
    [answer] = [line["chunk_compression"] for line in answers if "chunk_compression" in line]
    assert answer["stored_with"] == ("lz4" if answer["server_has_lz4"] else "pglz")
    if os.environ.get("CI"):  # the CI machine's PostgreSQL (Debian's) is built with LZ4
        assert answer["server_has_lz4"]


def test_chunk_insert_rolls_back_with_the_callers_transaction(answers):
    [chunks] = [line for line in answers if "chunks_meant" in line]
    assert chunks["rolled_back"] == {"inside": 2, "after": 0}


def test_database_formats_every_time_as_iso_time_does(answers):
    [times] = [line["iso_times"] for line in answers if "iso_times" in line]
    assert set(times) == set(CASES)
    for name, answer in times.items():
        assert answer["database"] == answer["python"] == answer["meant"], name


def test_bulk_insert_stores_rows_as_bulk_create_does(answers):
    [answer] = [line["bulk_insert"] for line in answers if "bulk_insert" in line]
    assert answer["inserted"] == 300 and answer["empty"] == 0
    assert len(answer["ours"]) == 300
    assert answer["ours"] == answer["django"]
    assert len(answer["updated_at"]) == 1  # one statement: one auto_now time for all its rows


def test_the_invocations_on_an_instance_are_those_that_ran_there_taken_as_one_array(answers):
    found = next(line["on_instance"] for line in answers if "on_instance" in line)
    assert len(found["meant a"]) == ON_A
    for name in ("a", "b", "c"):
        assert found[f"found {name}"] == found[f"meant {name}"], name
    assert found["count a"] == ON_A
    # A list of ids, not the subquery PostgreSQL answered by hashing every invocation of the account.
    assert "= ANY(" in found["sql a"] and "invocations_invocationresult" not in found["sql a"]


def test_the_account_wide_invocation_count_is_read_from_an_index_alone(answers):
    plan = "\n".join(next(line["count_plan"] for line in answers if "count_plan" in line))
    assert "Index Only Scan using invocation_account_region" in plan, plan
