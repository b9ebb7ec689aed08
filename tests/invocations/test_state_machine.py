"""The per-instance state machine (console/invocations/status.py), walked exhaustively: every (status,
event, target) triple is asserted allowed or refused against the table below, written out by hand from
reference section 4.5; plus the legacy InvokeStatus / InvokeRecordStatus / InstanceInvokeStatus rows."""

import itertools

import pytest

from console.invocations import status as st

# (from, event) -> to, for every event but REPORTED. Anything not listed is refused.
ALLOWED = {
    ("Scheduled", "due"): "Pending",  # a periodic run is due / the instance booted again
    ("Pending", "started"): "Running",
    ("Aborted", "started"): "Running",  # the delivery raced the timeout: the agent's word wins
    ("Pending", "stop"): "Cancelled",
    ("Scheduled", "stop"): "Cancelled",
    ("Running", "stop"): "Stopping",
    ("Stopping", "stop"): "Stopping",
    ("Pending", "max_errors"): "Cancelled",
    ("Pending", "delivery_timeout"): "Aborted",
    ("Pending", "instance_released"): "Aborted",
    ("Scheduled", "instance_released"): "Aborted",
    ("Running", "instance_released"): "Error",
    ("Stopping", "instance_released"): "Error",
    ("Running", "agent_lost"): "Error",  # offline past timeout + offline limit, or back without the task
    ("Stopping", "agent_lost"): "Error",
    ("Pending", "unconfirmed"): "Error",  # sent, never confirmed: whether it ran is unknown
}
# The agent's final report: from these statuses, to these.
REPORTED_FROM = {"Pending", "Running", "Stopping", "Scheduled", "Aborted"}
REPORTED_TO = {"Success", "Failed", "Timeout", "Error", "Terminated"}

STATUSES = (
    "Pending", "Invalid", "Aborted", "Running", "Success", "Failed", "Error", "Timeout", "Cancelled",
    "Stopping", "Terminated", "Scheduled",
)  # fmt: skip
EVENTS = (
    "due", "started", "reported", "stop", "max_errors", "delivery_timeout", "instance_released", "agent_lost",
    "unconfirmed",
)  # fmt: skip


def test_the_machine_knows_every_status_and_event():
    assert set(st.INSTANCE_STATUSES) == set(STATUSES)
    assert set(st.EVENTS) == set(EVENTS)


@pytest.mark.parametrize(("current", "event", "target"), list(itertools.product(STATUSES, EVENTS, STATUSES)))
def test_every_transition_is_allowed_or_refused(current, event, target):
    if event == "reported":
        allowed = current in REPORTED_FROM and target in REPORTED_TO
        assert (st.transition(current, event, target) == target) is allowed
        if not allowed:
            assert st.transition(current, event, target) is None
    else:
        expected = ALLOWED.get((current, event))
        assert (st.transition(current, event) == target) is (expected == target)


@pytest.mark.parametrize(("current", "event"), list(itertools.product(STATUSES, EVENTS)))
def test_final_statuses_only_leave_for_a_late_agent(current, event):
    """A final status never changes again, except Aborted, which a late agent may still have run."""
    moved = st.transition(current, event, "Success") is not None
    if current in st.FINAL and current != "Aborted":
        assert not moved


@pytest.mark.parametrize("event", [e for e in EVENTS if e != "reported"])
def test_sources_are_the_statuses_an_event_applies_to(event):
    assert st.sources(event) == {current for current, on in ALLOWED if on == event}


def test_unknown_events_and_statuses_are_refused():
    assert st.transition("Pending", "explode") is None
    assert st.transition("Sleeping", "stop") is None
    assert st.transition("Running", "reported", "Pending") is None  # not a final status


# Reference section 4.5: InvokeRecordStatus (and InstanceInvokeStatus) of each per-instance status.
@pytest.mark.parametrize(
    ("status", "record"),
    [
        ("Pending", "Running"), ("Scheduled", "Running"), ("Running", "Running"), ("Stopping", "Stopping"),
        ("Success", "Finished"), ("Failed", "Finished"),  # [DOC21]: Finished with InvocationStatus=Failed
        ("Timeout", "Failed"),  # [DOCWEB]: a timed-out one-time run is Failed
        ("Error", "Failed"), ("Aborted", "Failed"), ("Invalid", "Failed"),
        ("Cancelled", "Stopped"), ("Terminated", "Stopped"),
    ],
)  # fmt: skip
def test_record_status_rows(status, record):
    assert st.record_status(status) == record


# Reference section 4.5: the legacy overall InvokeStatus, by overall status and repeat mode.
@pytest.mark.parametrize(
    ("overall", "repeat_mode", "legacy"),
    [
        ("Pending", "Once", "Running"), ("Running", "Once", "Running"), ("Scheduled", "Once", "Running"),
        ("Success", "Once", "Finished"),  # done on all, or stopped on some and done on the rest
        ("Failed", "Once", "Failed"), ("PartialFailed", "Once", "PartialFailed"),
        ("Stopped", "Once", "Stopped"), ("Stopping", "Once", "Stopping"),
        # A periodic or reboot task is Running until it is stopped, never Finished.
        ("Scheduled", "Period", "Running"), ("Running", "Period", "Running"),
        ("Success", "Period", "Running"), ("Failed", "EveryReboot", "Running"),
        ("PartialFailed", "Period", "Running"),
        ("Success", "NextRebootOnly", "Running"),
        ("Stopped", "Period", "Stopped"), ("Stopping", "EveryReboot", "Stopping"),
    ],
)  # fmt: skip
def test_legacy_invoke_status_rows(overall, repeat_mode, legacy):
    assert st.legacy_invoke_status(overall, repeat_mode) == legacy


def test_every_overall_status_has_a_legacy_value():
    legacy_values = {"Running", "Finished", "Failed", "PartialFailed", "Stopped", "Stopping"}
    for overall, mode in itertools.product(st.OVERALL_STATUSES, ("Once", "Period", "EveryReboot")):
        assert st.legacy_invoke_status(overall, mode) in legacy_values
