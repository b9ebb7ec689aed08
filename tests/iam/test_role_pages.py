"""Console pages for roles (create, attach and detach policies, delete), each user's and role's effective
permissions, and the simulator for a role with a session policy."""

import json

from django.test import Client

from console.iam import services, sts
from console.iam.models import Role, User
from console.iam.principal import Principal
from tests.iam.samples import allow, doc


def login(client: Client, principal: Principal) -> Client:
    client.force_login(User.objects.get(pk=principal.user_id))
    return client


def trust(account_id: str) -> str:
    return json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"RAM": [f"acs:ram::{account_id}:root"]},
                }
            ],
        }
    )


def test_create_a_role_attach_detach_and_delete_it(client, root_principal) -> None:
    login(client, root_principal)
    form = client.get("/iam/roles/")
    assert form.status_code == 200 and f"acs:ram::{root_principal.account_id}:root" in form.content.decode()
    created = client.post(
        "/iam/roles/",
        {"name": "Operator", "description": "runs things", "max_session_duration": "7200",
         "trust_policy": trust(root_principal.account_id)},
    )  # fmt: skip
    assert created.status_code == 302 and created["Location"] == "/iam/roles/Operator/"
    role = Role.objects.get(name="Operator")
    assert role.max_session_duration == 7200
    policy = services.policy_create(
        principal=root_principal, name="runner", document=doc(allow("ecs:RunCommand"))
    )
    attached = client.post("/iam/roles/Operator/policies/attach/", {"policy": "Custom:runner"})
    assert attached.status_code == 302
    page = client.get("/iam/roles/Operator/").content.decode()
    assert "runner" in page and "ecs:RunCommand" in page and "acs:ram::" in page
    assert "Effective permissions" in page
    assert client.get("/iam/roles/Operator/delete/").status_code == 200  # asks first
    refused = client.post("/iam/roles/Operator/delete/")
    assert refused.status_code == 409 and Role.objects.filter(pk=role.pk).exists()  # policies attached
    detach_page = client.get("/iam/roles/Operator/policies/detach/", {"policy": "Custom:runner"})
    assert detach_page.status_code == 200
    assert client.post("/iam/roles/Operator/policies/detach/", {"policy": "Custom:runner"}).status_code == 302
    assert not policy.attachments.exists()
    assert client.post("/iam/roles/Operator/delete/").status_code == 302
    assert not Role.objects.exists()
    assert "/iam/roles/Operator/" not in client.get("/iam/").content.decode()


def test_a_bad_trust_policy_is_refused_with_the_reason(client, root_principal) -> None:
    login(client, root_principal)
    answer = client.post(
        "/iam/roles/", {"name": "Broken", "max_session_duration": "3600", "trust_policy": '{"Version": "1"}'}
    )
    assert answer.status_code == 400
    assert "AssumeRolePolicyDocument is not valid" in answer.content.decode()
    assert not Role.objects.exists()


def test_effective_permissions_show_own_and_group_statements_deny_first(client, root_principal) -> None:
    user = services.ram_user_create(principal=root_principal, name="dana")
    own = services.policy_create(principal=root_principal, name="own", document=doc(allow("ecs:RunCommand")))
    services.policy_attach(principal=root_principal, policy=own, to_user=user)
    group = services.group_create(principal=root_principal, name="ops")
    services.group_add_user(principal=root_principal, group=group, user=user)
    denial = {
        "Version": "1",
        "Statement": [{"Effect": "Deny", "Action": "ecs:DeleteCommand", "Resource": "*"}],
    }
    services.policy_attach(
        principal=root_principal,
        policy=services.policy_create(principal=root_principal, name="no-delete", document=denial),
        to_group=group,
    )
    login(client, root_principal)
    page = client.get("/iam/users/dana/").content.decode()
    table = page[page.index('id="effective"') :]
    assert table.index("ecs:DeleteCommand") < table.index("ecs:RunCommand")  # the Deny first
    assert "group:ops" in table and "no-delete" in table and "own" in table
    root_page = client.get(f"/iam/users/{User.objects.get(pk=root_principal.user_id).name}/").content.decode()
    assert "may do everything in its account" in root_page


def test_the_simulator_answers_for_a_role_and_its_session_policy(client, root_principal) -> None:
    role = sts.role_create(
        principal=root_principal, name="Operator", trust_policy=trust(root_principal.account_id)
    )
    runner = services.policy_create(
        principal=root_principal, name="runner", document=doc(allow("ecs:RunCommand"))
    )
    services.policy_attach(principal=root_principal, policy=runner, to_role=role)
    login(client, root_principal)
    resource = f"acs:ecs:local:{root_principal.account_id}:instance/mi-1"
    form = {"user": "role:Operator", "action": "ecs:RunCommand", "resources": resource}
    assert client.post("/iam/", form).context["decision"].effect == "Allow"
    narrowed = {**form, "session_policy": json.dumps(doc(allow("ecs:DescribeInvocations")))}
    assert client.post("/iam/", narrowed).context["decision"].effect == "ImplicitDeny"
    broken = client.post("/iam/", {**form, "session_policy": '{"Statement": 1}'})
    assert broken.status_code == 400
    missing = client.post("/iam/", {**form, "user": "role:Nobody"})
    assert missing.status_code in (400, 404)
