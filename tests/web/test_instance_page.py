"""The instance detail page (issue 7) through Django's test client: inventory, tags edited through the
tag services (ecs:TagResources / ecs:UntagResources), recent runs and file sends, the "Run command" and
"Send file" links that preselect the instance, and who may see or change what."""

import pytest
from django.test import Client
from django.urls import reverse

from console.commands import services as command_services
from console.files import services as file_services
from console.iam import services as iam_services
from console.iam.models import User
from console.iam.principal import Principal
from console.invocations import services as inv_services
from console.releases import services as release_services
from console.tags.selectors import tags_of
from console.tags.services import tags_attach
from tests.conftest import make_instance
from tests.iam.samples import allow, doc

pytestmark = pytest.mark.django_db


def _client(principal: Principal) -> Client:
    client = Client()
    client.force_login(User.objects.get(pk=principal.user_id))
    return client


def _ram_user(root: Principal, name: str, *actions: str) -> Principal:
    user = iam_services.ram_user_create(principal=root, name=name)
    if actions:
        policy = iam_services.policy_create(
            principal=root, name=f"{name}-policy", document=doc(allow(list(actions)))
        )
        iam_services.policy_attach(principal=root, policy=policy, to_user=user)
    return Principal.for_user(user)


def _tags(principal: Principal, instance) -> dict[str, str]:
    return tags_of(principal.account_id, "managedinstance", [instance.id]).get(instance.id, {})


@pytest.fixture
def busy(root_principal):
    """An instance with a tag, a run and a file sent to it."""
    instance = make_instance(root_principal, "web-1")
    tags_attach(
        account_id=root_principal.account_id,
        region=instance.region,
        resource_type="managedinstance",
        resource_ids=[instance.id],
        tags={"team": "ops"},
    )
    invocation = inv_services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="echo hi", name="deploy-app"
    )
    transfer = file_services.file_send(
        principal=root_principal, instance_ids=[instance.id], name="app.conf", target_dir="/etc", data=b"x"
    )
    return instance, invocation, transfer


def test_page_shows_inventory_tags_runs_transfers_and_actions(root_principal, busy):
    instance, invocation, transfer = busy
    page = _client(root_principal).get(reverse("instance", args=[instance.id])).content.decode()
    for fact in ("Hostname", "web-1", "Agent version", "Registered", "Last heartbeat", "Offline"):
        assert fact in page, fact
    assert "<code>team=ops</code>" in page and 'aria-label="Remove tag team"' in page
    assert f'href="{reverse("invocation", args=[invocation.id])}"' in page and "deploy-app" in page
    assert f'href="{reverse("file-transfer", args=[transfer.id])}"' in page and "/etc/app.conf" in page
    assert f'href="{reverse("run")}?instance={instance.id}">Run command</a>' in page
    assert f'href="{reverse("file-send")}?instance={instance.id}">Send file</a>' in page


def test_page_shows_the_agent_update_state(root_principal, busy):
    instance, _, _ = busy
    release_services.instance_update_report(
        instance_id=instance.id, state="rolled_back", version="0.2.0", detail="health check failed"
    )
    page = _client(root_principal).get(reverse("instance", args=[instance.id])).content.decode()
    assert 'title="health check failed">update: rolled back 0.2.0</span>' in page


def test_run_and_send_pages_preselect_the_instance_from_the_query(root_principal, busy):
    instance, _, _ = busy
    other = make_instance(root_principal, "web-2")
    client = _client(root_principal)
    for name in ("run", "file-send"):
        page = client.get(reverse(name), {"instance": instance.id}).content.decode()
        assert f'value="{instance.id}" checked' in page, name
        assert f'value="{other.id}" checked' not in page, name


def test_add_then_remove_a_tag(root_principal, busy):
    instance, _, _ = busy
    client = _client(root_principal)
    answer = client.post(reverse("instance-tag-add", args=[instance.id]), {"tag": " env = prod "})
    assert answer.status_code == 302 and answer["Location"].endswith(f"/instances/{instance.id}/#tags")
    assert _tags(root_principal, instance) == {"env": "prod", "team": "ops"}
    client.post(reverse("instance-tag-add", args=[instance.id]), {"tag": "env=staging"})  # overwrites
    assert _tags(root_principal, instance)["env"] == "staging"
    answer = client.post(reverse("instance-tag-remove", args=[instance.id]), {"key": "env"})
    assert answer.status_code == 302
    assert _tags(root_principal, instance) == {"team": "ops"}


@pytest.mark.parametrize(
    "typed,message",
    [("=prod", "must not be empty"), ("aliyun:x=1", "must not start with aliyun"), ("k=http://x", "http")],
)
def test_a_malformed_tag_is_refused_with_a_message(root_principal, busy, typed, message):
    instance, _, _ = busy
    answer = _client(root_principal).post(reverse("instance-tag-add", args=[instance.id]), {"tag": typed})
    assert answer.status_code == 400
    assert message in answer.content.decode() and 'role="alert"' in answer.content.decode()
    assert _tags(root_principal, instance) == {"team": "ops"}


def test_another_account_gets_404_everywhere(root_principal, other_principal, busy):
    instance, _, _ = busy
    client = _client(other_principal)
    assert client.get(reverse("instance", args=[instance.id])).status_code == 404
    assert client.post(reverse("instance-tag-add", args=[instance.id]), {"tag": "a=b"}).status_code == 404
    assert client.post(reverse("instance-tag-remove", args=[instance.id]), {"key": "team"}).status_code == 404
    assert _tags(root_principal, instance) == {"team": "ops"}


def test_ram_user_without_tag_permission_is_refused_and_sees_only_what_it_may(root_principal, busy):
    instance, invocation, transfer = busy
    viewer = _ram_user(root_principal, "viewer", "ecs:DescribeManagedInstances")
    client = _client(viewer)
    page = client.get(reverse("instance", args=[instance.id])).content.decode()
    assert "web-1" in page and invocation.id not in page and transfer.id not in page
    refused = client.post(reverse("instance-tag-add", args=[instance.id]), {"tag": "env=prod"})
    assert refused.status_code == 403 and 'role="alert"' in refused.content.decode()
    refused = client.post(reverse("instance-tag-remove", args=[instance.id]), {"key": "team"})
    assert refused.status_code == 403
    assert _tags(root_principal, instance) == {"team": "ops"}

    nobody = _ram_user(root_principal, "nobody")
    assert _client(nobody).get(reverse("instance", args=[instance.id])).status_code == 404
    assert (
        _client(nobody).post(reverse("instance-tag-add", args=[instance.id]), {"tag": "a=b"}).status_code
        == 404
    )


def test_ram_user_allowed_to_tag_and_read_results_sees_runs_and_edits_tags(root_principal, busy):
    instance, invocation, transfer = busy
    tagger = _ram_user(
        root_principal,
        "tagger",
        "ecs:DescribeManagedInstances",
        "ecs:DescribeInvocationResults",
        "ecs:DescribeSendFileResults",
        "ecs:TagResources",
        "ecs:UntagResources",
    )
    client = _client(tagger)
    page = client.get(reverse("instance", args=[instance.id])).content.decode()
    assert invocation.id in page and transfer.id in page
    assert (
        client.post(reverse("instance-tag-add", args=[instance.id]), {"tag": "env=prod"}).status_code == 302
    )
    assert client.post(reverse("instance-tag-remove", args=[instance.id]), {"key": "team"}).status_code == 302
    assert _tags(root_principal, instance) == {"env": "prod"}


def test_every_instance_form_has_the_picker_with_tags_and_online_state(root_principal, busy):
    instance, _, _ = busy
    command = command_services.command_create(
        principal=root_principal, name="hello", command_content="echo hi", region=instance.region
    )
    client = _client(root_principal)
    for url in (reverse("run"), reverse("file-send"), reverse("command_run", args=[command.id])):
        page = client.get(url, {"instance": instance.id}).content.decode()
        assert 'id="picker-search"' in page and "assist/picker.js" in page, url
        assert 'data-tags="team=ops"' in page and 'data-online="0"' in page, url
        assert "Some selected instances are offline" in page, url
