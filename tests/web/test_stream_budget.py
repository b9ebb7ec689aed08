"""What one update of an invocation's live stream carries and reads (console/web/stream.py): about
``max_bytes`` of output in all, at most MAX_BYTES_PER_UPDATE of one result, chunks read a few at a time
so a small budget does not read hundreds of chunks per result, and ``more`` exactly when output was left."""

import pytest

from console.invocations import reports, services
from console.web import stream
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db

CHUNK = 1000


@pytest.fixture
def reads(monkeypatch):
    """Chunks read from the database by each call of updates_for."""
    counted = {"chunks": 0}
    real = stream.chunks_after

    def counting(result_id, after_seq, limit=500):
        rows = real(result_id, after_seq, limit=limit)
        counted["chunks"] += len(rows)
        return rows

    monkeypatch.setattr(stream, "chunks_after", counting)
    return counted


def _printing(principal, results: int, chunks: int):
    instances = [make_instance(principal, name=f"web-{n}") for n in range(results)]
    invocation = services.invocation_run_command(
        principal=principal, instance_ids=[i.id for i in instances], command_content="yes"
    )
    for result in invocation.results.all():
        for seq in range(1, chunks + 1):
            data = f"{result.id}:{seq:05d}|".encode().ljust(CHUNK, b".")
            reports.result_record_output(
                instance_id=result.instance_id, task_id=result.id, seq=seq, data=data
            )
    return invocation


def _outputs(messages):
    return [m for m in messages if m["type"] == "output"]


@pytest.mark.parametrize(
    ("results", "chunks", "max_bytes"),
    [
        (1, 300, 50 * CHUNK),  # one result, many updates
        (6, 40, 25 * CHUNK),  # the budget runs out in the middle of a result
        (6, 40, 240 * CHUNK),  # everything in one update, exactly at the budget
        (8, 3, 4 * CHUNK),  # budget smaller than a result's share: later results wait
    ],
)
@pytest.mark.parametrize("narrowed", [False, True], ids=["all-results", "only-those-left"])
def test_updates_bring_everything_once_in_order_within_the_budget(
    root_principal, reads, results, chunks, max_bytes, narrowed
):
    """Narrowed, each update after the first reads only the results the one before cut short (``left``),
    as the consumer does within one push."""
    invocation = _printing(root_principal, results, chunks)
    cursors: dict[str, int] = {}
    seen: dict[str, list[int]] = {}
    updates = 0
    result_ids = None
    all_ids = set(invocation.results.values_list("id", flat=True))
    while True:
        reads["chunks"] = 0
        messages = stream.updates_for(invocation.id, cursors, result_ids, max_bytes=max_bytes)
        updates += 1
        outputs = _outputs(messages)
        sent = sum(len(m["data"]) for m in outputs)
        assert sent <= max_bytes
        # reads stay near what was sent: a few chunks past the budget per result, never MAX_FETCH each
        assert reads["chunks"] <= len(outputs) + stream.FIRST_FETCH * results + stream.FIRST_FETCH * 4
        for m in outputs:
            seen.setdefault(m["result_id"], []).append(m["seq"])
            assert m["data"].startswith(f"{m['result_id']}:{m['seq']:05d}|".encode())
        more = messages[-1]["more"]
        total_left = results * chunks - sum(map(len, seen.values()))
        assert more == (total_left > 0)  # "more" exactly when output is left
        unfinished = {r for r in all_ids if len(seen.get(r, [])) < chunks}
        assert unfinished <= set(messages[-1]["left"])  # every result with output left is named
        if result_ids is not None:  # a narrowed update reads and reports only the results it was asked
            assert {m["result_id"] for m in messages if m["type"] == "result"} == result_ids
        if narrowed:
            result_ids = set(messages[-1]["left"])
        if not more:
            break
        assert updates < 1000
    assert seen == {r: list(range(1, chunks + 1)) for r in all_ids}
    assert updates == -(-results * chunks * CHUNK // max_bytes)  # every update but the last one full


def test_one_result_gets_at_most_its_share_of_an_update(root_principal):
    invocation = _printing(root_principal, 2, 400)
    messages = stream.updates_for(invocation.id, {}, max_bytes=10 * stream.MAX_BYTES_PER_UPDATE)
    per_result: dict[str, int] = {}
    for m in _outputs(messages):
        per_result[m["result_id"]] = per_result.get(m["result_id"], 0) + len(m["data"])
    assert len(per_result) == 2
    assert all(
        stream.MAX_BYTES_PER_UPDATE <= sent < stream.MAX_BYTES_PER_UPDATE + CHUNK
        for sent in per_result.values()
    )
    assert messages[-1]["more"] is True
