"""The console offers only the controls a user's policies allow: a read-only RAM user sees no button that
the service behind it would refuse, an administrator and the root user see them all, and instance-scoped
policies show a control on the instances they name only. Pages through Django's test client; the world
is built with the services."""

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from console.commands import services as command_services
from console.iam.models import User
from console.iam.principal import Principal
from console.invocations import services as inv_services
from console.invocations import status as st
from console.invocations.models import InvocationResult
from console.tags.services import tags_attach
from tests.conftest import make_instance
from tests.iam.conftest import ram_principal
from tests.iam.samples import allow, doc

pytestmark = pytest.mark.django_db

READ_ONLY = "AliyunECSAssistantReadonlyAccess"
PUBLIC_COMMAND = "c-acs-healthcheck-linux-v2"


@dataclass(frozen=True)
class World:
    root: Principal
    web_a: Any
    web_b: Any
    command_id: str
    invocation_id: str  # on web-a (Failed) and web-b (still Pending)


@pytest.fixture
def world(root_principal) -> World:
    web_a = make_instance(root_principal, "web-a")
    web_b = make_instance(root_principal, "web-b")
    tags_attach(
        account_id=root_principal.account_id,
        region=web_a.region,
        resource_type="managedinstance",
        resource_ids=[web_a.id, web_b.id],
        tags={"team": "ops"},
    )
    command = command_services.command_create(
        principal=root_principal, name="hello", command_content="echo hi"
    )
    invocation = inv_services.invocation_run_command(
        principal=root_principal, instance_ids=[web_a.id, web_b.id], command_content="false"
    )
    failed = InvocationResult.objects.filter(invocation=invocation, instance=web_a)
    failed.update(status=st.FAILED, exit_code=1)
    return World(root_principal, web_a, web_b, command.id, invocation.id)


def _page(principal: Principal, url: str) -> str:
    client = Client()
    client.force_login(User.objects.get(pk=principal.user_id))
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def _who(world: World, kind: str) -> Principal:
    if kind == "root":
        return world.root
    system = {"read-only": (READ_ONLY,), "administrator": ("AdministratorAccess",)}[kind]
    return ram_principal(world.root, kind, system=system)


# (page, what marks the control in the HTML): every write control of the pages the issue names.
PAGES = {
    "invocation": lambda w: reverse("invocation", args=[w.invocation_id]),
    "rerun": lambda w: reverse("invocation-rerun", args=[w.invocation_id]),
    "command": lambda w: reverse("command", args=[w.command_id]),
    "commands": lambda w: reverse("commands"),
    "common command": lambda w: reverse("common_command", args=[PUBLIC_COMMAND]),
    "activations": lambda w: reverse("activations"),
    "instance": lambda w: reverse("instance", args=[w.web_a.id]),
}
CONTROLS = [
    ("invocation", 'id="stop-button"'),  # Stop…
    ("invocation", 'id="stop-selected"'),  # Stop selected…
    ("invocation", 'data-role="select"'),  # the boxes that choose what "Stop selected" stops
    ("invocation", 'id="rerun-link"'),  # Rerun on failed…
    ("rerun", 'id="rerun-confirm"'),
    ("command", 'id="command-run"'),
    ("command", 'id="command-edit"'),
    ("command", 'id="command-clone"'),
    ("command", 'id="command-delete"'),
    ("commands", 'id="new-command"'),
    ("common command", 'id="common-run"'),
    ("common command", 'id="common-clone"'),
    ("activations", ">Create activation</button>"),
    ("instance", 'id="run-link"'),
    ("instance", 'id="send-file-link"'),
    ("instance", 'id="connect-link"'),
    ("instance", 'id="connect-form"'),
    ("instance", 'id="tag-form"'),
    ("instance", 'aria-label="Remove tag team"'),
]


@pytest.mark.parametrize(("kind", "shown"), [("read-only", False), ("administrator", True), ("root", True)])
@pytest.mark.parametrize(("page", "marker"), CONTROLS, ids=[f"{p}: {m}" for p, m in CONTROLS])
def test_a_control_is_offered_only_to_who_may_use_it(world, kind, shown, page, marker):
    html = _page(_who(world, kind), PAGES[page](world))
    assert (marker in html) is shown


@pytest.mark.parametrize("page", ["instance", "command"])
@pytest.mark.parametrize(("kind", "noted"), [("read-only", True), ("administrator", False), ("root", False)])
def test_a_read_only_page_says_so(world, kind, noted, page):
    html = _page(_who(world, kind), PAGES[page](world))
    assert ('id="read-only-note"' in html) is noted
    assert ("Read-only: your policies do not allow changes here." in html) is noted


def _scoped(world: World, name: str, *statements: dict[str, Any]) -> Principal:
    """A read-only user with one more policy of ``statements``."""
    return ram_principal(world.root, name, system=(READ_ONLY,), documents=(doc(*statements),))


def _instance_arn(instance) -> str:
    return f"acs:ecs:*:*:instance/{instance.id}"


def test_run_command_is_offered_on_the_instances_the_policy_names_only(world):
    on_a_only = [_instance_arn(world.web_a), "acs:ecs:*:*:command/*"]
    user = _scoped(world, "runner-a", allow("ecs:RunCommand", on_a_only))
    assert 'id="run-link"' in _page(user, reverse("instance", args=[world.web_a.id]))
    on_b = _page(user, reverse("instance", args=[world.web_b.id]))
    assert 'id="run-link"' not in on_b and 'id="read-only-note"' in on_b


def test_stop_is_offered_per_instance_the_policy_names(world):
    user = _scoped(world, "stopper-b", allow("ecs:StopInvocation", _instance_arn(world.web_b)))
    html = _page(user, reverse("invocation", args=[world.invocation_id]))
    assert 'id="stop-button"' not in html  # stopping everything names web-a too
    assert 'id="stop-selected"' in html
    assert f'data-role="select" value="{world.web_b.id}"' in html
    assert f'data-role="select" value="{world.web_a.id}"' not in html


@pytest.mark.parametrize(
    ("statements", "page", "marker", "shown"),
    [
        # A run form's user is typed in: a policy that allows one named user still gets the button...
        (
            [allow("ecs:RunCommand", "*", {"StringEquals": {"ecs:CommandRunAs": "deploy"}})],
            "instance",
            'id="run-link"',
            True,
        ),
        (
            [allow("ecs:StartTerminalSession", "*", {"StringEquals": {"ecs:SessionUsername": "deploy"}})],
            "instance",
            'id="connect-form"',
            True,
        ),
        # ...but a rerun runs as the invocation's user (root here), which that policy does not allow.
        (
            [allow("ecs:RunCommand", "*", {"StringEquals": {"ecs:CommandRunAs": "deploy"}})],
            "invocation",
            'id="rerun-link"',
            False,
        ),
        ([allow("ecs:RunCommand", "*")], "invocation", 'id="rerun-link"', True),
        # InvokeCommand needs the command too, not only an instance.
        ([allow("ecs:InvokeCommand", "acs:ecs:*:*:instance/*")], "command", 'id="command-run"', False),
        ([allow("ecs:InvokeCommand", "*")], "command", 'id="command-run"', True),
        ([allow("ecs:ModifyCommand", "*")], "command", 'id="command-edit"', True),
        ([allow("ecs:ModifyCommand", "*")], "command", 'id="command-delete"', False),
        ([allow("ecs:CreateActivation", "*")], "activations", ">Create activation</button>", True),
        ([allow("ecs:TagResources", "*")], "instance", 'id="tag-form"', True),
        ([allow("ecs:TagResources", "*")], "instance", 'aria-label="Remove tag team"', False),
    ],
    ids=[
        "run as a named user",
        "terminal as a named user",
        "rerun as root refused",
        "rerun allowed",
        "invoke without the command",
        "invoke allowed",
        "edit allowed",
        "edit is not delete",
        "create activation",
        "tag is not untag (add)",
        "tag is not untag (remove)",
    ],
)
def test_each_control_follows_its_own_action(world, statements, page, marker, shown):
    user = _scoped(world, "narrow", *statements)
    assert (marker in _page(user, PAGES[page](world))) is shown
