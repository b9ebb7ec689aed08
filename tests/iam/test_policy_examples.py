"""The policy editor's examples (console/iam/policy_examples.py): each is a valid document that decides what
its title says, and the editor starts from the one asked for."""

import json
from typing import Any

import pytest
from django.test import Client

from console.iam import policy, policy_examples
from console.iam.models import Policy, User
from tests.iam.samples import ACCOUNT, allow, arn, doc

REGION = "cn-hangzhou"
EXAMPLES = {e.key: e for e in policy_examples.examples(REGION)}
MI = arn("instance", "mi-1")
NAMED = arn("instance", policy_examples.PLACEHOLDER_INSTANCE)
CMD = arn("command", "c-1")
TEST = {"env": "test"}


def _decide(key: str, action: str, resources: list[str], *, tags=None, context=None, with_admin=False) -> str:
    attached = [policy.AttachedPolicy(key, policy.parse(EXAMPLES[key].text))]
    if with_admin:
        attached.append(policy.AttachedPolicy("admin", policy.parse(doc(allow("*")))))
    request = policy.Request(
        action=action,
        resources=tuple(resources),
        context=context or {},
        resource_tags={r: tags for r in resources} if tags else {},
    )
    return policy.decide(
        principal_type="ram-user", account_id=ACCOUNT, request=request, policies=attached
    ).effect


def _as(user: str) -> dict[str, Any]:
    return {"context": {"ecs:CommandRunAs": user}}


def _term(user: str) -> dict[str, Any]:
    return {"context": {"ecs:SessionUsername": user}}


def _from(ip: str | None) -> dict[str, Any]:
    """From ``ip`` (None: unknown), next to a policy allowing everything (the Deny must beat it)."""
    return {"context": {"acs:SourceIp": ip} if ip else {}, "with_admin": True}


TAGGED = {"tags": TEST}
ELSEWHERE = arn("instance", "mi-1", region="eu-central-1")
CASES: list[tuple[str, str, list[str], dict[str, Any], str]] = [
    # (example, action, resources, tags/context, decision)
    ("tagged-instances", "ecs:RunCommand", [MI], TAGGED, "Allow"),
    ("tagged-instances", "ecs:SendFile", [MI], TAGGED, "Allow"),
    ("tagged-instances", "ecs:RunCommand", [MI], {"tags": {"env": "prod"}}, "ImplicitDeny"),
    ("tagged-instances", "ecs:RunCommand", [MI], {}, "ImplicitDeny"),
    ("tagged-instances", "ecs:StartTerminalSession", [MI], TAGGED, "ImplicitDeny"),
    ("invoke-on-tagged", "ecs:InvokeCommand", [CMD, MI], TAGGED, "Allow"),
    ("invoke-on-tagged", "ecs:InvokeCommand", [CMD, MI], {}, "ImplicitDeny"),
    ("invoke-on-tagged", "ecs:RunCommand", [MI], TAGGED, "ImplicitDeny"),
    ("named-instances", "ecs:RunCommand", [NAMED], {}, "Allow"),
    ("named-instances", "ecs:StartTerminalSession", [NAMED], {}, "Allow"),
    ("named-instances", "ecs:RunCommand", [NAMED, MI], {}, "ImplicitDeny"),
    ("run-as-users", "ecs:RunCommand", [MI], _as("user01"), "Allow"),
    ("run-as-users", "ecs:InvokeCommand", [CMD, MI], _as("user02"), "Allow"),
    ("run-as-users", "ecs:RunCommand", [MI], _as("root"), "ImplicitDeny"),
    ("not-as-root", "ecs:RunCommand", [MI], _as("deploy"), "Allow"),
    ("not-as-root", "ecs:RunCommand", [MI], _as("ROOT"), "ImplicitDeny"),
    ("not-as-root", "ecs:RunCommand", [MI], _as("System"), "ImplicitDeny"),
    ("terminal-users", "ecs:StartTerminalSession", [MI], _term("deploy"), "Allow"),
    ("terminal-users", "ecs:StartTerminalSession", [MI], _term("root"), "ImplicitDeny"),
    ("one-region", "ecs:RunCommand", [MI], {}, "Allow"),
    ("one-region", "ecs:RunCommand", [ELSEWHERE], {}, "ImplicitDeny"),
    ("office-network", "ecs:RunCommand", [MI], _from("10.1.2.3"), "Allow"),
    ("office-network", "ecs:RunCommand", [MI], _from("203.0.113.9"), "ExplicitDeny"),
    ("office-network", "ecs:RunCommand", [MI], _from(None), "ExplicitDeny"),
    ("office-network", "ecs:DescribeInvocations", [MI], _from("203.0.113.9"), "Allow"),
]


def test_every_example_is_valid_and_tested() -> None:
    assert list(EXAMPLES)[0] == "tagged-instances"  # the editor's default
    for example in EXAMPLES.values():
        assert policy.validate(example.text) == [], example.key
        assert len(example.text) <= policy.MAX_DOCUMENT_CHARS
    assert {key for key, *_ in CASES} == set(EXAMPLES), "every example needs rows in CASES"


@pytest.mark.parametrize(("key", "action", "resources", "extra", "decision"), CASES)
def test_each_example_decides_what_its_title_says(key, action, resources, extra, decision) -> None:
    assert _decide(key, action, resources, **extra) == decision


def test_unknown_example_is_the_first() -> None:
    assert policy_examples.example(REGION, "nope").key == "tagged-instances"
    assert policy_examples.example(REGION, "run-as-users").key == "run-as-users"


@pytest.mark.django_db
def test_the_editor_starts_from_the_chosen_example_and_saves_it(root_principal) -> None:
    client = Client()
    client.force_login(User.objects.get(pk=root_principal.user_id))
    default = client.get("/iam/policies/")
    assert default.status_code == 200
    assert default.context["form"]["document"] == EXAMPLES["tagged-instances"].text
    for key in EXAMPLES:
        assert f'href="?example={key}"' in default.content.decode() or key == "tagged-instances"
    page = client.get("/iam/policies/", {"example": "run-as-users"})
    text = page.context["form"]["document"]
    assert json.loads(text)["Statement"][0]["Condition"] == {
        "StringEquals": {"ecs:CommandRunAs": ["user01", "user02"]}
    }
    assert EXAMPLES["run-as-users"].note in page.content.decode()
    saved = client.post("/iam/policies/?example=run-as-users", {"name": "runners", "document": text})
    assert saved.status_code == 302
    assert json.loads(Policy.objects.get(name="runners").document) == json.loads(text)
