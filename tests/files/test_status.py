"""The overall status of a file transfer (reference 4.5, SendFile): the pure rule, and the database's
version of it (used to filter and page DescribeSendFileResults) agreeing with it on every case."""

import pytest

from console.files import services
from console.files import status as st
from console.files.models import FileTransfer, FileTransferResult
from console.files.selectors import with_overall_status
from tests.conftest import make_instance

CASES = [
    ([], "Pending"),
    (["Pending"], "Pending"),
    (["Pending", "Running", "Success"], "Pending"),
    (["Pending", "Failed"], "Pending"),
    (["Running"], "Running"),
    (["Running", "Success", "Failed"], "Running"),
    (["Success"], "Success"),
    (["Success", "Success"], "Success"),
    (["Failed"], "Failed"),
    (["Invalid", "Aborted", "Failed", "Timeout", "Error"], "Failed"),
    (["Timeout"], "Failed"),
    (["Success", "Failed"], "PartialFailed"),
    (["Success", "Aborted"], "PartialFailed"),
    (["Error", "Success", "Success"], "PartialFailed"),
]


@pytest.mark.parametrize(("statuses", "overall"), CASES)
def test_overall_status(statuses, overall):
    assert st.overall_status(statuses) == overall


def test_unknown_status_is_an_error():
    with pytest.raises(ValueError):
        st.overall_status(["Success", "Cancelled"])


@pytest.mark.django_db
def test_the_database_agrees_with_the_rule(root_principal):
    instances = [make_instance(root_principal, f"h{n}") for n in range(5)]
    expected = {}
    for statuses, overall in CASES:
        transfer = services.file_send(
            principal=root_principal,
            instance_ids=[i.id for i in instances[: max(1, len(statuses))]],
            name="f",
            target_dir="/srv",
            data=b"x",
        )
        if not statuses:
            FileTransferResult.objects.filter(transfer=transfer).delete()
        for result, status in zip(transfer.results.order_by("instance_id"), statuses, strict=False):
            result.status = status
            result.save()
        expected[transfer.id] = overall
    got = dict(with_overall_status(FileTransfer.objects.all()).values_list("id", "overall"))
    assert got == expected
