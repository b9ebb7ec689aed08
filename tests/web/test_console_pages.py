"""Console pages of issue 7 through Django's test client: the invocation page's output views (tail, earlier
parts, download), rerun on failed, history filters and paging, the instance list's filters, the dashboard,
and who may see or do what on each."""

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.fleet.models import Instance
from console.iam import services as iam_services
from console.iam.models import User
from console.iam.principal import Principal
from console.invocations import reports, services
from console.invocations.models import Invocation
from console.tags.services import tags_attach
from console.web import views
from tests.conftest import make_instance
from tests.iam.samples import allow, doc

pytestmark = pytest.mark.django_db


def _client(principal: Principal) -> Client:
    client = Client()
    client.force_login(User.objects.get(pk=principal.user_id))
    return client


def _finish(result, status: str, exit_code: int, output: bytes = b"") -> None:
    now = time.time()
    reports.result_record_started(instance_id=result.instance_id, task_id=result.id, started_at=now - 2)
    if output:
        reports.result_record_output(instance_id=result.instance_id, task_id=result.id, seq=1, data=output)
    reports.result_record_final(
        instance_id=result.instance_id, task_id=result.id, status=status, exit_code=exit_code,
        error_code="", error_info="", started_at=now - 2, finished_at=now, last_seq=1 if output else 0,
    )  # fmt: skip


def _ram_user(root: Principal, name: str, *actions: str) -> Principal:
    user = iam_services.ram_user_create(principal=root, name=name)
    if actions:
        policy = iam_services.policy_create(
            principal=root, name=f"{name}-policy", document=doc(allow(list(actions)))
        )
        iam_services.policy_attach(principal=root, policy=policy, to_user=user)
    return Principal.for_user(user)


@pytest.fixture
def mixed(root_principal):
    """An invocation on two instances: web-1 succeeded, web-2 failed with exit 3."""
    good, bad = make_instance(root_principal, "web-1"), make_instance(root_principal, "web-2")
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[good.id, bad.id], command_content="echo hi; exit 3",
        name="deploy", timeout=30, working_dir="/tmp",
    )  # fmt: skip
    results = {r.instance_id: r for r in invocation.results.all()}
    _finish(results[good.id], "Success", 0, b"fine\n")
    _finish(results[bad.id], "Failed", 3, b"<script>alert(1)</script> broke\n")
    return invocation, good, bad, results


def test_invocation_page_shows_counts_rows_and_controls(root_principal, mixed):
    invocation, good, bad, _ = mixed
    page = _client(root_principal).get(reverse("invocation", args=[invocation.id])).content.decode()
    assert '<span id="done">2</span> / <span id="total">2</span>' in page
    assert (
        'data-status="Failed">Failed <span>1</span>' in page
        and 'data-status="Success">Success <span>1</span>' in page
    )
    assert "exit 3" in page and "exit 0" in page
    for name in (
        "Expand all",
        "Collapse all",
        "Follow tail",
        "Wrap lines",
        "Search output",
        "Rerun on failed",
    ):
        assert name in page
    assert 'aria-label="Download output of web-2"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; broke" in page and "<script>alert(1)" not in page


def test_output_download_is_the_whole_output_as_a_text_attachment(root_principal, mixed):
    invocation, _, bad, results = mixed
    url = reverse("invocation-output", args=[invocation.id, results[bad.id].id])
    answer = _client(root_principal).get(url, {"download": "1"})
    assert answer.status_code == 200 and answer["Content-Type"] == "text/plain; charset=utf-8"
    assert answer["Content-Disposition"] == f'attachment; filename="{invocation.id}-web-2.txt"'
    assert answer.content == b"<script>alert(1)</script> broke\n"


def test_the_page_holds_only_the_tail_and_earlier_parts_load_on_character_boundaries(root_principal):
    instance = make_instance(root_principal)
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="x"
    )
    result = invocation.results.get()
    big = ("é" * 200_000 + "\nTAIL-END").encode()  # 400 KB of two-byte characters
    pieces = [big[n : n + 50_001] for n in range(0, len(big), 50_001)]  # chunks cut inside characters
    for seq, piece in enumerate(pieces, start=1):
        reports.result_record_output(instance_id=instance.id, task_id=result.id, seq=seq, data=piece)
    client = _client(root_principal)
    page = client.get(reverse("invocation", args=[invocation.id])).content.decode()
    start = len(big) - views.OUTPUT_TAIL_BYTES
    start += start % 2  # the cut moves forward to the next character
    assert f'data-start="{start}"' in page and "TAIL-END" in page
    assert page.count("é") < 140_000
    url = reverse("invocation-output", args=[invocation.id, result.id])
    earlier = client.get(url, {"end": str(start)})
    assert earlier["X-Output-Start"] == "0" and earlier.content == big[:start]
    assert client.get(url, {"end": "nope"}).status_code == 400
    odd = client.get(url, {"end": str(start + 300_001)})  # an end past the output is clamped to it
    assert odd.content.decode().endswith("TAIL-END")


def test_rerun_on_failed_runs_the_same_content_on_the_failed_instance_only(root_principal, mixed):
    invocation, _, bad, _ = mixed
    client = _client(root_principal)
    confirm = client.get(reverse("invocation-rerun", args=[invocation.id]))
    assert confirm.status_code == 200 and b"web-2" in confirm.content and b"web-1" not in confirm.content
    assert Invocation.objects.count() == 1  # asking is not doing
    answer = client.post(reverse("invocation-rerun", args=[invocation.id]))
    new = Invocation.objects.exclude(pk=invocation.id).get()
    assert answer.status_code == 302 and answer["Location"] == reverse("invocation", args=[new.id])
    assert [r.instance_id for r in new.results.all()] == [bad.id]
    assert (new.command_content, new.command_name, new.timeout, new.working_dir) == (
        "echo hi; exit 3", "deploy", 30, "/tmp",
    )  # fmt: skip
    # Nothing failed in the rerun yet: nothing to rerun there.
    again = client.post(reverse("invocation-rerun", args=[new.id]))
    assert again.status_code == 400 and b"nothing to rerun" in again.content


def test_another_accounts_user_gets_404_on_every_invocation_view(other_principal, mixed):
    invocation, _, bad, results = mixed
    client = _client(other_principal)
    assert client.get(reverse("invocation", args=[invocation.id])).status_code == 404
    url = reverse("invocation-output", args=[invocation.id, results[bad.id].id])
    assert client.get(url, {"download": "1"}).status_code == 404
    assert client.get(reverse("invocation-rerun", args=[invocation.id])).status_code == 404
    assert client.post(reverse("invocation-rerun", args=[invocation.id])).status_code == 404
    assert Invocation.objects.count() == 1


def test_ram_users_see_and_do_only_what_their_policies_allow(root_principal, mixed):
    invocation, _, bad, results = mixed
    nobody = _client(_ram_user(root_principal, "nobody"))
    assert nobody.get(reverse("invocation", args=[invocation.id])).status_code == 404
    url = reverse("invocation-output", args=[invocation.id, results[bad.id].id])
    assert nobody.get(url, {"download": "1"}).status_code == 404
    assert nobody.post(reverse("invocation-rerun", args=[invocation.id])).status_code == 404

    reader = _client(
        _ram_user(root_principal, "reader", "ecs:DescribeInvocations", "ecs:DescribeInvocationResults")
    )
    assert reader.get(url, {"download": "1"}).content == b"<script>alert(1)</script> broke\n"
    refused = reader.post(reverse("invocation-rerun", args=[invocation.id]))
    assert refused.status_code == 400 and b"ecs:RunCommand" in refused.content
    assert Invocation.objects.count() == 1

    runner = _client(
        _ram_user(root_principal, "runner", "ecs:DescribeInvocations", "ecs:DescribeInvocationResults",
                  "ecs:RunCommand")
    )  # fmt: skip
    assert runner.post(reverse("invocation-rerun", args=[invocation.id])).status_code == 302
    assert Invocation.objects.count() == 2


def test_history_filters_narrow_the_list_and_pages_split_it(root_principal, mixed, monkeypatch):
    invocation, good, bad, _ = mixed
    other = services.invocation_run_command(
        principal=root_principal, instance_ids=[good.id], command_content="uptime", name="uptime-check"
    )
    Invocation.objects.filter(pk=other.pk).update(created_at=timezone.now() - timedelta(days=3))
    client = _client(root_principal)

    def ids(**query) -> list[str]:
        page = client.get(reverse("invocations"), query).content.decode()
        return [i for i in (invocation.id, other.id) if i in page]

    assert ids() == [invocation.id, other.id]
    assert ids(status="PartialFailed") == [invocation.id]
    assert ids(status="Pending") == [other.id]
    assert ids(name="UPTIME") == [other.id]
    assert ids(instance=bad.id) == [invocation.id]
    assert ids(instance="web-1") == [invocation.id, other.id]
    assert ids(range="24h") == [invocation.id]
    assert ids(range="7d") == [invocation.id, other.id]
    assert (
        b"No invocation matches these filters" in client.get(reverse("invocations"), {"name": "zzz"}).content
    )

    monkeypatch.setattr(views, "INVOCATIONS_PER_PAGE", 1)
    first = client.get(reverse("invocations")).content.decode()
    second = client.get(reverse("invocations"), {"page": "2"}).content.decode()
    assert invocation.id in first and other.id not in first and "Page 1 of 2" in first
    assert other.id in second and invocation.id not in second


def test_instance_list_searches_by_ip_and_filters_by_status_os_and_tag(root_principal, monkeypatch):
    web, db, win = (make_instance(root_principal, name) for name in ("web-1", "db-1", "win-1"))
    Instance.objects.filter(pk=web.pk).update(ips=["10.0.0.5"], last_heartbeat_at=timezone.now())
    Instance.objects.filter(pk=win.pk).update(os_type="Windows")
    tags_attach(account_id=root_principal.account_id, region=db.region, resource_type="managedinstance",
                resource_ids=[db.id], tags={"env": "prod"})  # fmt: skip
    client = _client(root_principal)

    def names(**query) -> list[str]:
        page = client.get(reverse("instances"), query).content.decode()
        return [n for n in ("db-1", "web-1", "win-1") if f"<td>{n}</td>" in page]

    assert names() == ["db-1", "web-1", "win-1"]
    assert names(q="10.0.0") == ["web-1"]
    assert names(q=db.id) == ["db-1"]
    assert names(status="online") == ["web-1"]
    assert names(status="offline") == ["db-1", "win-1"]
    assert names(os="Windows") == ["win-1"]
    assert names(tag="env=prod") == ["db-1"]
    assert names(tag="env") == ["db-1"]
    assert names(tag="env=dev") == []
    monkeypatch.setattr(views, "INSTANCES_PER_PAGE", 2)
    assert names(page="2") == ["win-1"]


def test_dashboard_counts_only_what_the_user_may_see(root_principal, other_principal, mixed):
    invocation, good, bad, _ = mixed
    Instance.objects.filter(pk=good.pk).update(last_heartbeat_at=timezone.now(), agent_version="1.2.3")
    running = services.invocation_run_command(
        principal=root_principal, instance_ids=[good.id], command_content="sleep 100", name="long-one"
    )
    page = _client(root_principal).get(reverse("dashboard")).content.decode()
    assert '<span class="big" id="online-count">1</span>' in page
    assert '<span class="big muted" id="offline-count">1</span>' in page
    assert "<td>1.2.3</td><td>1</td>" in page
    assert 'id="day-total">2</span>' in page
    assert (
        '<span data-status="PartialFailed">1</span>' in page
        and '<span data-status="Pending">1</span>' in page
    )
    assert page.count("<rect ") == 2  # one segment per status group in the current hour
    assert running.id in page and "0 / 1 finished" in page
    assert f'href="{reverse("invocation", args=[invocation.id])}"' in page and "web-2" in page  # a failure

    theirs = _client(other_principal).get(reverse("dashboard")).content.decode()
    assert invocation.id not in theirs and "web-2" not in theirs and 'id="day-total">0</span>' in theirs
    nobody = _client(_ram_user(root_principal, "nobody")).get(reverse("dashboard")).content.decode()
    assert invocation.id not in nobody and "web-2" not in nobody and 'id="online-count">0</span>' in nobody
