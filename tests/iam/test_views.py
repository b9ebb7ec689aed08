"""The RAM page and its simulator through Django's test client."""

import json

import pytest
from django.urls import reverse

from console.iam import services, sts
from console.iam.models import Policy, User
from tests.iam.conftest import ram_principal
from tests.iam.samples import allow, deny, doc

pytestmark = pytest.mark.django_db

URL = "/iam/"


def login(client, principal):
    client.force_login(User.objects.get(pk=principal.user_id))
    return client


@pytest.fixture
def populated(root_principal, other_principal):
    """alice in group ops; ops has a custom policy; alice has the read-only system policy.
    The other account has its own user and attaches a system policy (which must not be counted here)."""
    alice = services.ram_user_create(principal=root_principal, name="alice")
    ops = services.group_create(principal=root_principal, name="ops", comments="<b>on call</b>")
    services.group_add_user(principal=root_principal, group=ops, user=alice)
    runner = services.policy_create(
        principal=root_principal,
        name="run-anywhere",
        document=doc(allow("ecs:RunCommand"), deny("ecs:SendFile")),
    )
    services.policy_attach(principal=root_principal, policy=runner, to_group=ops)
    readonly = Policy.objects.get(account=None, name="AliyunECSAssistantReadonlyAccess")
    services.policy_attach(principal=root_principal, policy=readonly, to_user=alice)
    mallory = services.ram_user_create(principal=other_principal, name="mallory")
    services.policy_attach(principal=other_principal, policy=readonly, to_user=mallory)
    services.policy_create(principal=other_principal, name="secret-policy", document=doc(allow("*")))
    return {"alice": alice}


def test_url_is_named() -> None:
    assert reverse("iam") == URL


def test_page_needs_login(client) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_root_sees_its_account_only(client, root_principal, populated) -> None:
    page = login(client, root_principal).get(URL)
    assert page.status_code == 200
    body = page.content.decode()
    for expected in (
        "alice",
        "ops",
        "run-anywhere",
        "AdministratorAccess",
        "AliyunECSAssistantReadonlyAccess",
    ):
        assert expected in body
    assert "mallory" not in body and "secret-policy" not in body
    assert "&lt;b&gt;on call&lt;/b&gt;" in body and "<b>on call</b>" not in body
    readonly = next(p for p in page.context["policies"] if p.name == "AliyunECSAssistantReadonlyAccess")
    assert readonly.in_use == 1  # the other account's attachment is not counted


@pytest.mark.parametrize(
    ("documents", "status"),
    [
        ((), 404),
        ((doc(allow("ram:ListUsers")),), 404),
        ((doc(allow(["ram:ListUsers", "ram:ListGroups", "ram:ListPolicies"])),), 200),
        ((doc(allow("ram:List*"), deny("ram:ListPolicies")),), 404),
    ],
    ids=["no policy", "one of three", "all three list actions", "one denied"],
)
def test_ram_users_need_the_list_actions(client, root_principal, documents, status) -> None:
    viewer = ram_principal(root_principal, "viewer", documents=documents)
    assert login(client, viewer).get(URL).status_code == status
    assert client.post(URL, {"user": "viewer", "action": "x:y", "resources": "*"}).status_code == status


def _arn(principal, instance="mi-1"):
    return f"acs:ecs:cn-hangzhou:{principal.account_id}:instance/{instance}"


SIMULATIONS = [
    ("alice may run", {"user": "alice", "action": "ecs:RunCommand"}, "Allow", "run-anywhere"),
    ("alice may not send files", {"user": "alice", "action": "ecs:SendFile"}, "ExplicitDeny", "run-anywhere"),
    (
        "alice may not create activations",
        {"user": "alice", "action": "ecs:CreateActivation"},
        "ImplicitDeny",
        "nothing allows it",
    ),
    (
        "alice may read results",
        {"user": "alice", "action": "ecs:DescribeInvocationResults"},
        "Allow",
        "AliyunECSAssistantReadonlyAccess",
    ),
    ("root may do anything", {"user": "admin", "action": "ecs:SendFile"}, "Allow", "root user"),
]


@pytest.mark.parametrize(
    ("form", "effect", "shown"), [c[1:] for c in SIMULATIONS], ids=[c[0] for c in SIMULATIONS]
)
def test_simulator(client, root_principal, populated, form, effect, shown) -> None:
    response = login(client, root_principal).post(URL, {**form, "resources": _arn(root_principal)})
    assert response.status_code == 200
    assert response.context["decision"].effect == effect
    assert shown in response.content.decode()


def test_simulator_uses_the_stated_context(client, root_principal) -> None:
    services.policy_attach(
        principal=root_principal,
        policy=services.policy_create(
            principal=root_principal,
            name="office",
            document=doc(allow("ecs:RunCommand", "*", {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}})),
        ),
        to_user=services.ram_user_create(principal=root_principal, name="bob"),
    )
    login(client, root_principal)
    form = {"user": "bob", "action": "ecs:RunCommand", "resources": _arn(root_principal)}
    inside = client.post(URL, {**form, "context": json.dumps({"acs:SourceIp": "10.1.1.1"})})
    outside = client.post(URL, {**form, "context": json.dumps({"acs:SourceIp": "8.8.8.8"})})
    assert inside.context["decision"].effect == "Allow"
    assert outside.context["decision"].effect == "ImplicitDeny"


def test_simulator_htmx_returns_the_fragment(client, root_principal, populated) -> None:
    response = login(client, root_principal).post(
        URL,
        {"user": "alice", "action": "ecs:RunCommand", "resources": _arn(root_principal)},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="simulation"') and "<html" not in body
    assert '"Decision": "Allow"' in body.replace("&quot;", '"')


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"user": "mallory", "action": "ecs:RunCommand"}, "The user does not exist: mallory."),
        ({"user": "nobody", "action": "ecs:RunCommand"}, "The user does not exist: nobody."),
        ({"user": "alice", "action": ""}, "Name the action"),
        ({"user": "alice", "action": "ecs:RunCommand", "resources": " \n "}, "at least one resource"),
        ({"user": "alice", "action": "ecs:RunCommand", "context": "{"}, "Context is not valid JSON"),
        ({"user": "alice", "action": "ecs:RunCommand", "context": "[]"}, "Context must be a JSON object"),
        ({"user": "alice", "action": "ecs:RunCommand", "resource_tags": '{"a": 1}'}, "ResourceTags maps"),
    ],
    ids=[
        "other account's user",
        "unknown user",
        "no action",
        "no resources",
        "bad context",
        "context list",
        "bad tags",
    ],
)
def test_simulator_refusals(client, root_principal, populated, form, message) -> None:
    response = login(client, root_principal).post(URL, {"resources": _arn(root_principal), **form})
    assert response.status_code == 400
    assert message in response.content.decode()


def test_other_accounts_resources_are_denied_in_the_simulator(
    client, root_principal, other_principal
) -> None:
    response = login(client, root_principal).post(
        URL, {"user": "admin", "action": "ecs:RunCommand", "resources": _arn(other_principal)}
    )
    assert response.context["decision"].effect == "ImplicitDeny"


def test_page_query_count_does_not_grow(client, root_principal, populated, django_assert_num_queries) -> None:
    login(client, root_principal)
    admin = Policy.objects.get(account=None, name="AdministratorAccess")
    trust = doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["acs:ram::1:root"]}})

    def add_role(name: str) -> None:
        role = sts.role_create(principal=root_principal, name=name, trust_policy=json.dumps(trust))
        services.policy_attach(principal=root_principal, policy=admin, to_role=role)

    add_role("r0")
    # session, user, then users/groups/roles/policies with their prefetches: a constant 16.
    with django_assert_num_queries(16):
        assert client.get(URL).status_code == 200
    for name in ("u1", "u2", "u3"):
        user = services.ram_user_create(principal=root_principal, name=name)
        group = services.group_create(principal=root_principal, name=f"g-{name}")
        services.group_add_user(principal=root_principal, group=group, user=user)
        services.policy_attach(principal=root_principal, policy=admin, to_user=user)
        services.policy_attach(principal=root_principal, policy=admin, to_group=group)
        add_role(f"r-{name}")
    with django_assert_num_queries(16):
        assert client.get(URL).status_code == 200
