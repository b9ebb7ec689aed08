import pytest

from console.invocations import status as st

# Every rule of the overall status (SPEC §3, reference section 4.5), plus the precedence between the
# "any instance" rules: Pending > Running > Stopping > Scheduled.
OVERALL_CASES = [
    ([], "Pending"),
    (["Pending"], "Pending"),
    (["Pending", "Running", "Stopping", "Scheduled", "Success"], "Pending"),
    (["Running", "Stopping", "Scheduled", "Failed"], "Running"),
    (["Stopping", "Scheduled", "Success"], "Stopping"),
    (["Scheduled", "Success", "Failed"], "Scheduled"),
    (["Running", "Success"], "Running"),
    (["Success"], "Success"),
    (["Success", "Success"], "Success"),
    (["Success", "Cancelled"], "Success"),
    (["Success", "Terminated"], "Success"),
    (["Failed"], "Failed"),
    (["Invalid"], "Failed"),
    (["Aborted"], "Failed"),
    (["Timeout"], "Failed"),
    (["Error"], "Failed"),
    (["Failed", "Aborted", "Timeout", "Error", "Invalid"], "Failed"),
    (["Failed", "Cancelled"], "Failed"),
    (["Timeout", "Terminated"], "Failed"),
    (["Cancelled"], "Stopped"),
    (["Terminated"], "Stopped"),
    (["Cancelled", "Terminated"], "Stopped"),
    (["Success", "Failed"], "PartialFailed"),
    (["Success", "Aborted"], "PartialFailed"),
    (["Success", "Timeout", "Cancelled"], "PartialFailed"),
]


@pytest.mark.parametrize(("statuses", "expected"), OVERALL_CASES)
def test_overall_status(statuses, expected):
    assert st.overall_status(statuses) == expected


def test_every_instance_status_alone_gives_a_valid_overall_status():
    for status in st.INSTANCE_STATUSES:
        assert st.overall_status([status]) in st.OVERALL_STATUSES


@pytest.mark.parametrize(
    ("status", "record"),
    [
        ("Pending", "Running"),
        ("Running", "Running"),
        ("Scheduled", "Running"),
        ("Success", "Finished"),
        ("Failed", "Finished"),
        ("Timeout", "Failed"),
        ("Error", "Failed"),
        ("Aborted", "Failed"),
        ("Invalid", "Failed"),
        ("Cancelled", "Stopped"),
        ("Terminated", "Stopped"),
        ("Stopping", "Stopping"),
    ],
)
def test_invoke_record_status(status, record):
    assert st.record_status(status) == record


@pytest.mark.parametrize(
    ("status", "code"),
    [("Failed", "ExitCodeNonzero"), ("Timeout", "ExecutionTimeout"), ("Terminated", "ExecutionInterrupted"),
     ("Error", "ExecutionException"), ("Success", "")],
)  # fmt: skip
def test_default_error_code_for_agent_final_status(status, code):
    assert st.error_for_exit(status, 1)[0] == code
