"""Live output across a lost chunk (docs/reliability.md, promise 4). After a connection drop the agent's
next live chunk can be stored before the chunks the drop lost (they come back through task.resend once
the result is reported). A browser that is following the output must still see every chunk once, in
order: the stream must not move its cursor past a chunk the console does not hold yet."""

import pytest

from console.invocations import reports, services
from console.web.stream import updates_for
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db


def outputs(messages):
    return [(m["seq"], bytes(m["data"])) for m in messages if m["type"] == "output"]


def test_a_browser_sees_chunks_stored_out_of_order_exactly_once(root_principal):
    instance = make_instance(root_principal)
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="x"
    )
    result = invocation.results.get()

    def store(seq):
        reports.result_record_output(instance_id=instance.id, task_id=result.id, seq=seq, data=b"%d\n" % seq)

    cursors: dict[str, int] = {}
    seen = []
    for seq in (1, 2, 3):
        store(seq)
    seen += outputs(updates_for(invocation.id, cursors))
    store(6)  # live, after a reconnect; 4 and 5 were lost with the old connection
    seen += outputs(updates_for(invocation.id, cursors))
    store(4)  # resent from the agent's spool after its result asked for them
    store(5)
    seen += outputs(updates_for(invocation.id, cursors))
    assert seen == [(seq, b"%d\n" % seq) for seq in range(1, 7)]
