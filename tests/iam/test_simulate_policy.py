"""`manage.py simulate_policy --request-file F`, driven as the issue describes it: one row per request."""

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.iam.samples import ACCOUNT, OTHER_ACCOUNT, SYSTEM, TAG_RUN_COMMAND, allow, arn, deny, doc

USER = {"type": "ram-user", "arn": f"acs:ram::{ACCOUNT}:user/alice"}
ROOT = {"type": "root-account", "arn": f"acs:ram::{ACCOUNT}:root"}
SESSION = {"type": "assumed-role", "arn": f"acs:ram::{ACCOUNT}:assumed-role/deployer/ci"}
MI1, MI2 = arn("instance", "mi-1"), arn("instance", "mi-2")
THEIRS = arn("instance", "mi-1", account=OTHER_ACCOUNT)
ROLE = f"acs:ram::{ACCOUNT}:role/deployer"


def stmt(policy: str, attached: str, index: int, effect: str, resource: str | None) -> dict[str, Any]:
    return {
        "Policy": policy,
        "Attached": attached,
        "Statement": index,
        "Effect": effect,
        "Resource": resource,
    }


CASES: list[tuple[str, dict[str, Any], str, list[dict[str, Any]]]] = [
    (
        "tag sample, tagged instance",
        {
            "principal": USER,
            "policies": [{"attached": "user", "name": "tags", "document": TAG_RUN_COMMAND}],
            "action": "ecs:RunCommand",
            "resource": MI1,
            "resource_tags": {MI1: {"test": "tony"}},
        },
        "Allow",
        [stmt("tags", "user", 0, "Allow", MI1)],
    ),
    (
        "tag sample, untagged instance",
        {
            "principal": USER,
            "policies": [{"attached": "user", "document": TAG_RUN_COMMAND}],
            "action": "ecs:RunCommand",
            "resource": MI1,
        },
        "ImplicitDeny",
        [],
    ),
    (
        "a list: every resource must be allowed",
        {
            "principal": USER,
            "policies": [{"attached": "user", "document": doc(allow("*", MI1))}],
            "action": "ecs:RunCommand",
            "resource": [MI1, MI2],
        },
        "ImplicitDeny",
        [],
    ),
    (
        "group deny beats user allow",
        {
            "principal": USER,
            "policies": [
                {"attached": "user", "name": "all", "document": SYSTEM["AdministratorAccess"]},
                {"attached": "group:ops", "name": "no-run", "document": doc(deny("ecs:RunCommand"))},
            ],
            "action": "ecs:RunCommand",
            "resource": [MI1],
        },
        "ExplicitDeny",
        [stmt("no-run", "group:ops", 0, "Deny", MI1)],
    ),
    (
        "unnamed policies are named by place",
        {
            "principal": USER,
            "policies": [{"attached": "user", "document": SYSTEM["AliyunECSAssistantFullAccess"]}],
            "action": "ecs:RunCommand",
            "resource": MI1,
        },
        "Allow",
        [stmt("policies[0]", "user", 0, "Allow", MI1)],
    ),
    (
        "context: deny outside the office",
        {
            "principal": USER,
            "policies": [
                {"attached": "user", "name": "all", "document": SYSTEM["AdministratorAccess"]},
                {
                    "attached": "user",
                    "name": "office",
                    "document": doc(deny("*", "*", {"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}})),
                },
            ],
            "action": "ecs:RunCommand",
            "resource": MI1,
            "context": {"acs:SourceIp": "203.0.113.9"},
        },
        "ExplicitDeny",
        [stmt("office", "user", 0, "Deny", MI1)],
    ),
    (
        "context: inside the office",
        {
            "principal": USER,
            "policies": [
                {"attached": "user", "name": "all", "document": SYSTEM["AdministratorAccess"]},
                {
                    "attached": "user",
                    "name": "office",
                    "document": doc(deny("*", "*", {"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}})),
                },
            ],
            "action": "ecs:RunCommand",
            "resource": MI1,
            "context": {"acs:SourceIp": "10.0.0.9"},
        },
        "Allow",
        [stmt("all", "user", 0, "Allow", MI1)],
    ),
    (
        "run-as context",
        {
            "principal": USER,
            "policies": [
                {
                    "attached": "user",
                    "name": "runas",
                    "document": doc(
                        allow(
                            "ecs:RunCommand",
                            "*",
                            {"StringNotEqualsIgnoreCase": {"ecs:CommandRunAs": ["system", "root"]}},
                        )
                    ),
                }
            ],
            "action": "ecs:RunCommand",
            "resource": MI1,
            "context": {"ecs:CommandRunAs": "Root"},
        },
        "ImplicitDeny",
        [],
    ),
    ("root: its own account", {"principal": ROOT, "action": "ecs:RunCommand", "resource": MI1}, "Allow", []),
    (
        "root: another account",
        {"principal": ROOT, "action": "ecs:RunCommand", "resource": THEIRS},
        "ImplicitDeny",
        [],
    ),
    (
        "admin policy: another account",
        {
            "principal": USER,
            "policies": [{"attached": "user", "document": SYSTEM["AdministratorAccess"]}],
            "action": "ecs:RunCommand",
            "resource": THEIRS,
        },
        "ImplicitDeny",
        [],
    ),
    (
        "no principal ARN: policies only",
        {
            "policies": [{"attached": "user", "document": SYSTEM["AdministratorAccess"]}],
            "action": "ecs:RunCommand",
            "resource": THEIRS,
        },
        "Allow",
        [stmt("policies[0]", "user", 0, "Allow", THEIRS)],
    ),
    (
        "role session: session policy narrows",
        {
            "principal": SESSION,
            "policies": [
                {"attached": "role", "name": "role", "document": SYSTEM["AdministratorAccess"]},
                {"attached": "session", "name": "session", "document": doc(allow("ecs:Describe*"))},
            ],
            "action": "ecs:RunCommand",
            "resource": MI1,
        },
        "ImplicitDeny",
        [],
    ),
    (
        "role session: both allow",
        {
            "principal": SESSION,
            "policies": [
                {"attached": "role", "name": "role", "document": SYSTEM["AdministratorAccess"]},
                {"attached": "session", "name": "session", "document": doc(allow("ecs:RunCommand", MI1))},
            ],
            "action": "ecs:RunCommand",
            "resource": MI1,
        },
        "Allow",
        [stmt("role", "role", 0, "Allow", MI1), stmt("session", "session", 0, "Allow", MI1)],
    ),
    (
        "AssumeRole: caller grant and trust",
        {
            "principal": USER,
            "policies": [
                {"attached": "user", "name": "assume", "document": doc(allow("sts:AssumeRole", ROLE))},
                {
                    "attached": "trust",
                    "name": "trust",
                    "document": doc(
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {"RAM": [f"acs:ram::{ACCOUNT}:root"]},
                        }
                    ),
                },
            ],
            "action": "sts:AssumeRole",
            "resource": ROLE,
        },
        "Allow",
        [stmt("assume", "user", 0, "Allow", ROLE), stmt("trust", "trust", 0, "Allow", None)],
    ),
    (
        "AssumeRole: trust names someone else",
        {
            "principal": USER,
            "policies": [
                {"attached": "user", "document": doc(allow("sts:AssumeRole", ROLE))},
                {
                    "attached": "trust",
                    "document": doc(
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {"RAM": f"acs:ram::{ACCOUNT}:user/bob"},
                        }
                    ),
                },
            ],
            "action": "sts:AssumeRole",
            "resource": ROLE,
        },
        "ImplicitDeny",
        [],
    ),
    (
        "document as JSON text",
        {
            "principal": USER,
            "policies": [{"attached": "user", "name": "t", "document": json.dumps(doc(allow("*")))}],
            "action": "ecs:RunCommand",
            "resource": MI1,
        },
        "Allow",
        [stmt("t", "user", 0, "Allow", MI1)],
    ),
]


def run(tmp_path, request: Any) -> str:
    path = tmp_path / "request.json"
    path.write_text(request if isinstance(request, str) else json.dumps(request))
    out = io.StringIO()
    call_command("simulate_policy", "--request-file", str(path), stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("request_body", "decision", "matched"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_simulate(tmp_path, request_body, decision, matched) -> None:
    assert json.loads(run(tmp_path, request_body)) == {"Decision": decision, "MatchedStatements": matched}


ERRORS = [
    ("not JSON", "{", "is not valid JSON"),
    ("no action", {"principal": USER, "resource": MI1}, "action: is required"),
    ("no resource", {"principal": USER, "action": "ecs:RunCommand"}, "resource: must be an ARN"),
    ("unknown field", {"action": "x:y", "resource": MI1, "resources": []}, "unknown field(s): resources"),
    ("principal type", {"principal": {"type": "admin"}, "action": "x:y", "resource": MI1}, "principal.type"),
    (
        "root without ARN",
        {"principal": {"type": "root-account"}, "action": "x:y", "resource": MI1},
        "principal.arn",
    ),
    (
        "attached place",
        {"policies": [{"attached": "team", "document": doc(allow("*"))}], "action": "x:y", "resource": MI1},
        "policies[0].attached",
    ),
    (
        "invalid document",
        {
            "policies": [{"attached": "user", "document": doc({"Effect": "Allow", "Resource": "*"})}],
            "action": "x:y",
            "resource": MI1,
        },
        "policies[0].document: Statement[0].Action: Action or NotAction is required",
    ),
    (
        "trust document needs Principal",
        {
            "policies": [{"attached": "trust", "document": doc(allow("sts:AssumeRole"))}],
            "action": "x:y",
            "resource": MI1,
        },
        "policies[0].document: Statement[0]",
    ),
    (
        "session policy over 2048",
        {
            "policies": [
                {
                    "attached": "session",
                    "document": doc(allow("*", "*", {"StringEquals": {"a:b": "x" * 2100}})),
                }
            ],
            "action": "x:y",
            "resource": MI1,
        },
        "at most 2048",
    ),
    (
        "two sessions",
        {
            "policies": [{"attached": "session", "document": doc(allow("*"))}] * 2,
            "action": "x:y",
            "resource": MI1,
        },
        "only one session policy",
    ),
    ("context value", {"action": "x:y", "resource": MI1, "context": {"a:b": {"c": 1}}}, "context.a:b"),
    ("resource tags", {"action": "x:y", "resource": MI1, "resource_tags": {MI1: "x"}}, "resource_tags"),
]


@pytest.mark.parametrize(("request_body", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_bad_requests(tmp_path, request_body, message) -> None:
    with pytest.raises(CommandError) as refused:
        run(tmp_path, request_body)
    assert message in str(refused.value)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        call_command("simulate_policy", "--request-file", str(tmp_path / "nope.json"))
