"""The invocation page's single-row view (a periodic task's new execution, fetched by invocation.js):
the row of one visible result with its output as text; another account's or an unknown result is 404."""

import pytest
from django.test import Client
from django.urls import reverse

from console.iam.models import User
from console.invocations import services as inv_services
from console.invocations.models import InvocationResult, OutputChunk
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db


def _client(principal) -> Client:
    client = Client()
    client.force_login(User.objects.get(pk=principal.user_id))
    return client


def test_one_row_with_its_output_as_text(root_principal, other_principal):
    instance = make_instance(root_principal, "web-p")
    invocation = inv_services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="echo"
    )
    result = InvocationResult.objects.get(invocation=invocation)
    OutputChunk.objects.create(result=result, seq=1, data=b"<b>bold</b>\n")
    result.output_size = 12
    result.save()
    url = reverse("invocation-result-panel", args=[invocation.id, result.id])
    html = _client(root_principal).get(url).content.decode()
    assert f'data-result="{result.id}"' in html and 'data-seq="1"' in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold" not in html
    page = _client(root_principal).get(reverse("invocation", args=[invocation.id])).content.decode()
    assert 'data-panel-url="/invocations/' in page and "/results/RESULT/panel/" in page
    assert _client(other_principal).get(url).status_code == 404
    missing = reverse("invocation-result-panel", args=[invocation.id, "r-nope"])
    assert _client(root_principal).get(missing).status_code == 404


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"repeat_mode": "NextRebootOnly"}, "Runs once after the next reboot"),
        ({"repeat_mode": "EveryReboot"}, "Runs after every reboot"),
        ({"max_concurrency": "2", "max_errors": "10%"}, "Max concurrency 2 · Max errors 10%"),
        ({"termination_mode": "Process"}, "only the script ends (Process)"),
        ({"container_name": "web-1"}, "in container <code>web-1</code>"),
    ],
)
def test_invocation_page_shows_the_repeat_mode_and_run_options(root_principal, options, shown):
    instance = make_instance(root_principal)
    invocation = inv_services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="echo", **options
    )
    html = _client(root_principal).get(reverse("invocation", args=[invocation.id])).content.decode()
    assert shown in html


@pytest.mark.parametrize(
    ("stored", "status", "limit", "expected_text", "expected_seq"),
    [
        ([1, 2], "Running", 1000, b"1\n2\n", 2),
        ([1, 3], "Running", 1000, b"1\n", 1),  # chunk 2 not here yet: the page stops before it
        ([1, 3], "Success", 1000, b"1\n3\n", 3),  # final: a gap is permanent, shown as such
        ([], "Running", 1000, b"", 0),
        ([1, 2, 3, 4], "Running", 4, b"3\n4\n", 4),  # a large output: its tail and its newest number
    ],
)
def test_page_text_and_resume_number_come_from_the_same_chunks(
    root_principal, stored, status, limit, expected_text, expected_seq
):
    """The invocation page resumes its live stream after data-seq: a number ahead of the text shown would
    lose a chunk for good (a chunk stored between two reads, or one still missing from a running task)."""
    from console.invocations.selectors import output_tails

    instance = make_instance(root_principal, "web-t")
    invocation = inv_services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="echo"
    )
    result = InvocationResult.objects.get(invocation=invocation)
    for seq in stored:
        OutputChunk.objects.create(result=result, seq=seq, data=b"%d\n" % seq)
    size = 2 * len(stored)
    running = {result.id} if status == "Running" else set()
    start, text, last_seq = output_tails({result.id: size}, limit, running=running)[result.id]
    assert (text, last_seq) == (expected_text, expected_seq)
    assert start == (size - len(text) if size > limit else 0)
