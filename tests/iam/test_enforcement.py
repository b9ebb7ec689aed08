"""authorize() as the services see it: RAM users get exactly what their pooled policies allow, root gets
its whole account, nobody gets another account. Data is built with the services."""

from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings

from console.errors import NotFound
from console.iam import authz
from console.iam.authz import AccessDenied, authorize, can
from console.iam.principal import arn
from console.invocations import services as invocations
from console.invocations.models import Invocation, InvocationResult
from tests.conftest import make_instance
from tests.iam.conftest import ram_principal
from tests.iam.samples import TAG_RUN_COMMAND, allow, deny, doc

pytestmark = pytest.mark.django_db

A, B = 0, 1  # the two instances of the account


def one_instance_policy(instance_index: int) -> Any:
    """Allow RunCommand on one instance (by id) plus command/*; filled in once the ids exist."""
    return ("one-instance", instance_index)


@dataclass
class Case:
    id: str
    target: int = A
    root: bool = False
    system: tuple[str, ...] = ()
    documents: tuple[Any, ...] = ()
    group_documents: tuple[Any, ...] = ()
    source_ip: str = ""
    secure: bool = False
    username: str = ""
    allowed: bool = True


RUN = "ecs:RunCommand"
ANY_INSTANCE = "acs:ecs:*:*:instance/*"
ANY_COMMAND = "acs:ecs:*:*:command/*"
RUN_ANYWHERE = doc(allow(RUN, [ANY_INSTANCE, ANY_COMMAND]))

CASES = [
    Case("root may run", root=True),
    Case("ram user without policies", allowed=False),
    Case("read-only system policy", system=("AliyunECSAssistantReadonlyAccess",), allowed=False),
    Case("full-access system policy", system=("AliyunECSAssistantFullAccess",)),
    Case("administrator system policy", system=("AdministratorAccess",)),
    Case("custom policy: its instance", documents=(one_instance_policy(A),)),
    Case("custom policy: another instance", documents=(one_instance_policy(A),), target=B, allowed=False),
    Case("instances but not command/*", documents=(doc(allow(RUN, ANY_INSTANCE)),), allowed=False),
    Case(
        "group deny beats user allow",
        documents=(RUN_ANYWHERE,),
        group_documents=(doc(deny("ecs:*")),),
        allowed=False,
    ),
    Case("group allow alone", group_documents=(RUN_ANYWHERE,)),
    Case(
        "user deny beats group allow",
        documents=(doc(deny(RUN, ANY_INSTANCE)),),
        group_documents=(RUN_ANYWHERE,),
        allowed=False,
    ),
    Case(
        "IpAddress: from the office",
        source_ip="10.1.2.3",
        documents=(doc(allow(RUN, "*", {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}})),),
    ),
    Case(
        "IpAddress: from elsewhere",
        source_ip="192.0.2.1",
        documents=(doc(allow(RUN, "*", {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}})),),
        allowed=False,
    ),
    Case(
        "IpAddress: source unknown",
        documents=(doc(allow(RUN, "*", {"IpAddress": {"acs:SourceIp": "0.0.0.0/0"}})),),
        allowed=False,
    ),
    Case(
        "Deny outside the office",
        source_ip="192.0.2.1",
        system=("AdministratorAccess",),
        documents=(doc(deny("*", "*", {"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}})),),
        allowed=False,
    ),
    Case(
        "SecureTransport required, https",
        secure=True,
        documents=(doc(allow(RUN, "*", {"Bool": {"acs:SecureTransport": "true"}})),),
    ),
    Case(
        "SecureTransport required, http",
        documents=(doc(allow(RUN, "*", {"Bool": {"acs:SecureTransport": "true"}})),),
        allowed=False,
    ),
    Case(
        "MFA required", documents=(doc(allow(RUN, "*", {"Bool": {"acs:MFAPresent": "true"}})),), allowed=False
    ),
    Case(
        "CurrentTime window open",
        documents=(doc(allow(RUN, "*", {"DateGreaterThan": {"acs:CurrentTime": "2000-01-01T00:00:00Z"}})),),
    ),
    Case(
        "CurrentTime window closed",
        documents=(doc(allow(RUN, "*", {"DateLessThan": {"acs:CurrentTime": "2000-01-01T00:00:00Z"}})),),
        allowed=False,
    ),
    Case(
        "run-as allowed user",
        username="user01",
        documents=(doc(allow(RUN, "*", {"StringEquals": {"ecs:CommandRunAs": ["user01", "user02"]}})),),
    ),
    Case(
        "run-as default is root",
        documents=(doc(allow(RUN, "*", {"StringNotEquals": {"ecs:CommandRunAs": "root"}})),),
        allowed=False,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_run_command_is_decided_by_policies(root_principal, case: Case) -> None:
    instances = [make_instance(root_principal, "a"), make_instance(root_principal, "b")]
    documents = tuple(
        doc(allow(RUN, [f"acs:ecs:*:*:instance/{instances[d[1]].id}", ANY_COMMAND]))
        if isinstance(d, tuple)
        else d
        for d in case.documents
    )
    principal = (
        root_principal
        if case.root
        else ram_principal(
            root_principal,
            "dev",
            system=case.system,
            documents=documents,
            group_documents=case.group_documents,
            source_ip=case.source_ip,
            secure=case.secure,
        )
    )
    run = {
        "principal": principal,
        "instance_ids": [instances[case.target].id],
        "command_content": "id",
        "username": case.username,
    }
    if case.allowed:
        invocation = invocations.invocation_run_command(**run)
        assert InvocationResult.objects.filter(invocation=invocation).count() == 1
        return
    with pytest.raises(AccessDenied) as refused:
        invocations.invocation_run_command(**run)
    assert refused.value.code == "Forbidden.RAM" and refused.value.status == 403
    assert Invocation.objects.count() == 0 and InvocationResult.objects.count() == 0


def test_one_denied_instance_refuses_the_whole_run(root_principal) -> None:
    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    principal = ram_principal(
        root_principal, "dev", documents=(doc(allow(RUN, [f"acs:ecs:*:*:instance/{a.id}", ANY_COMMAND])),)
    )
    with pytest.raises(AccessDenied) as refused:
        invocations.invocation_run_command(
            principal=principal, instance_ids=[a.id, b.id], command_content="id"
        )
    assert b.id in refused.value.message
    assert Invocation.objects.count() == 0


def test_other_accounts_resources_are_refused_even_to_an_admin(root_principal, other_principal) -> None:
    theirs = make_instance(other_principal, "theirs")
    admin = ram_principal(root_principal, "admin2", system=("AdministratorAccess",))
    their_arn = arn(other_principal.account_id, settings.ASSIST_REGION, "instance", theirs.id)
    for principal in (admin, root_principal):
        with pytest.raises(AccessDenied):
            authorize(principal, RUN, [their_arn])
        assert not can(principal, RUN, [their_arn])
        # Through the service the instance simply does not exist for them.
        with pytest.raises(NotFound):
            invocations.invocation_run_command(
                principal=principal, instance_ids=[theirs.id], command_content="id"
            )
    assert Invocation.objects.count() == 0


def test_mixed_accounts_in_one_request_are_refused(root_principal, other_principal) -> None:
    admin = ram_principal(root_principal, "admin2", system=("AdministratorAccess",))
    mine = arn(root_principal.account_id, "cn-hangzhou", "instance", "mi-1")
    theirs = arn(other_principal.account_id, "cn-hangzhou", "instance", "mi-1")
    assert can(admin, RUN, [mine])
    with pytest.raises(AccessDenied) as refused:
        authorize(admin, RUN, [mine, theirs])
    assert refused.value.resource == theirs


TAGGED = "acs:ecs:cn-hangzhou:{account}:instance/mi-tagged"


@pytest.mark.parametrize(
    ("tags", "allowed"),
    [({"test": "tony"}, True), ({"test": "bob"}, False), ({}, False), (None, False)],
    ids=["tagged", "other value", "untagged", "no tags given"],
)
def test_resource_tags_from_the_caller(root_principal, tags, allowed) -> None:
    principal = ram_principal(root_principal, "dev", documents=(TAG_RUN_COMMAND,))
    resource = TAGGED.format(account=root_principal.account_id)
    context: dict[str, Any] = {"ecs:CommandRunAs": "root"}
    if tags is not None:
        context["resource_tags"] = {resource: tags}
    assert can(principal, RUN, [resource], context) is allowed


def test_callers_cannot_override_server_keys(root_principal) -> None:
    principal = ram_principal(
        root_principal,
        "dev",
        documents=(doc(allow(RUN, "*", {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}})),),
        source_ip="192.0.2.1",
    )
    resource = arn(root_principal.account_id, "cn-hangzhou", "instance", "mi-1")
    assert not can(principal, RUN, [resource], {"acs:SourceIp": "10.0.0.1"})


def test_detaching_takes_effect_at_once(root_principal) -> None:
    from console.iam import services
    from console.iam.models import Policy, User

    principal = ram_principal(root_principal, "dev", system=("AdministratorAccess",))
    resource = arn(root_principal.account_id, "cn-hangzhou", "instance", "mi-1")
    assert can(principal, RUN, [resource])
    services.policy_detach(
        principal=root_principal,
        policy=Policy.objects.get(name="AdministratorAccess", account=None),
        from_user=User.objects.get(pk=principal.user_id),
    )
    assert not can(principal, RUN, [resource])


def test_empty_resource_list_is_refused_for_ram_users(root_principal) -> None:
    principal = ram_principal(root_principal, "dev", system=("AdministratorAccess",))
    assert not can(principal, RUN, [])
    assert can(root_principal, RUN, [])


def test_query_counts(root_principal, django_assert_num_queries) -> None:
    principal = ram_principal(
        root_principal,
        "dev",
        system=("AliyunECSAssistantFullAccess",),
        documents=(RUN_ANYWHERE,),
        group_documents=(doc(deny("ecs:SendFile")), RUN_ANYWHERE),
    )
    resource = arn(root_principal.account_id, "cn-hangzhou", "instance", "mi-1")
    with django_assert_num_queries(1):
        authorize(principal, RUN, [resource, arn(root_principal.account_id, "cn-hangzhou", "command", "*")])
    with django_assert_num_queries(0):
        authorize(root_principal, RUN, [resource])
    with django_assert_num_queries(0):
        assert not can(principal, RUN, [arn("9" * 16, "cn-hangzhou", "instance", "mi-1")])


def test_decision_explains_itself(root_principal) -> None:
    principal = ram_principal(
        root_principal, "dev", documents=(RUN_ANYWHERE,), group_documents=(doc(deny(RUN)),)
    )
    resource = arn(root_principal.account_id, "cn-hangzhou", "instance", "mi-1")
    decision = authz.decision_for(principal, RUN, [resource])
    assert decision.as_json() == {
        "Decision": "ExplicitDeny",
        "MatchedStatements": [
            {
                "Policy": "dev-g0",
                "Attached": "group:dev-group",
                "Statement": 0,
                "Effect": "Deny",
                "Resource": resource,
            }
        ],
    }


def test_a_user_in_several_groups_gets_every_groups_policies(root_principal) -> None:
    """Membership of two groups pools both groups' policies with the user's own; leaving one group takes
    its grants away at the next check, and a Deny in either group beats an Allow in the other."""
    from console.iam import services
    from console.iam.models import Group, User

    principal = ram_principal(root_principal, "dev", documents=(doc(allow("ecs:DescribeInvocations")),))
    user = User.objects.get(pk=principal.user_id)
    grants = {"runners": "ecs:RunCommand", "senders": "ecs:SendFile"}
    for name, action in grants.items():
        group = services.group_create(principal=root_principal, name=name)
        services.group_add_user(principal=root_principal, group=group, user=user)
        policy = services.policy_create(
            principal=root_principal, name=f"{name}-p", document=doc(allow(action))
        )
        services.policy_attach(principal=root_principal, policy=policy, to_group=group)
    assert sorted(user.group_memberships.values_list("group__name", flat=True)) == ["runners", "senders"]
    resource = arn(root_principal.account_id, "cn-hangzhou", "instance", "mi-1")
    for action in ("ecs:RunCommand", "ecs:SendFile", "ecs:DescribeInvocations"):
        assert can(principal, action, [resource]), action
    assert not can(principal, "ecs:StartTerminalSession", [resource])
    matched = authz.decision_for(principal, "ecs:SendFile", [resource]).matched
    assert [(m.policy, m.attached) for m in matched] == [("senders-p", "group:senders")]

    services.group_remove_user(principal=root_principal, group=Group.objects.get(name="runners"), user=user)
    assert not can(principal, "ecs:RunCommand", [resource])
    assert can(principal, "ecs:SendFile", [resource])

    no_files = services.policy_create(
        principal=root_principal, name="no-files", document=doc(deny("ecs:SendFile"))
    )
    services.policy_attach(
        principal=root_principal, policy=no_files, to_group=Group.objects.get(name="runners")
    )
    services.group_add_user(principal=root_principal, group=Group.objects.get(name="runners"), user=user)
    assert authz.decision_for(principal, "ecs:SendFile", [resource]).effect == "ExplicitDeny"
