"""Policy documents from the reference (§4.3 documented samples, §4.4 system policies), used as fixtures."""

from typing import Any

from console.iam.system_policies import (
    ADMINISTRATOR_ACCESS,
    ECS_ASSISTANT_FULL_ACCESS,
    ECS_ASSISTANT_READONLY_ACCESS,
)

ACCOUNT = "1234567890123456"
OTHER_ACCOUNT = "6543210987654321"
REGION = "cn-hangzhou"


def arn(kind: str, resource_id: str, *, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"acs:ecs:{region}:{account}:{kind}/{resource_id}"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "1", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition is not None:
        statement["Condition"] = condition
    return statement


def deny(action: Any, resource: Any = "*", condition: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**allow(action, resource, condition), "Effect": "Deny"}


def _with_region(document: dict[str, Any], region: str) -> dict[str, Any]:
    statements = []
    for statement in document["Statement"]:
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        statements.append(
            {**statement, "Resource": [r.replace("acs:ecs:*:", f"acs:ecs:{region}:") for r in resources]}
        )
    return {**document, "Statement": statements}


SYSTEM = {
    "AdministratorAccess": ADMINISTRATOR_ACCESS,
    "AliyunECSAssistantFullAccess": ECS_ASSISTANT_FULL_ACCESS,
    "AliyunECSAssistantReadonlyAccess": ECS_ASSISTANT_READONLY_ACCESS,
}

# §4.3 "Region-restricted: same as admin with acs:ecs:cn-hangzhou:*:… ARNs".
REGION_RESTRICTED = _with_region(ECS_ASSISTANT_FULL_ACCESS, "cn-hangzhou")

# §4.3 "Tag-restricted execution", verbatim, and the same shape for SendFile.
TAG_RUN_COMMAND = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["ecs:RunCommand"],
            "Resource": "acs:ecs:*:*:instance/*",
            "Condition": {"StringEquals": {"acs:ResourceTag/test": "tony"}},
        }
    ],
}
TAG_SEND_FILE = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["ecs:SendFile"],
            "Resource": "acs:ecs:*:*:instance/*",
            "Condition": {"StringEquals": {"acs:ResourceTag/test": "tony"}},
        }
    ],
}
# §4.3 InvokeCommand by tag: two statements, the command one without condition (commands carry no tags).
TAG_INVOKE_COMMAND = doc(
    allow("ecs:InvokeCommand", "acs:ecs:*:*:instance/*", {"StringEquals": {"acs:ResourceTag/Owner": "zxy"}}),
    allow("ecs:InvokeCommand", "acs:ecs:*:*:command/*"),
)
# §4.3 plugin restriction.
PLUGIN_ONLY = doc(
    allow(
        "ecs:InvokeCommand",
        ["acs:ecs:*:*:command/ACS-ECS-ExecutePlugin-for-linux.sh", "acs:ecs:*:*:instance/*"],
        {"StringEqualsIgnoreCase": {"ecs:PluginName": ["test-plugin"]}},
    )
)
_ASSISTANT_ACTIONS = ["ecs:RunCommand", "ecs:InvokeCommand", "ecs:DescribeInvocation*"]
# §4.3 run-as restriction, both forms.
RUN_AS_USERS = doc(
    allow(
        _ASSISTANT_ACTIONS,
        ["acs:ecs:*:*:instance/*", "acs:ecs:*:*:command/*"],
        {"StringEquals": {"ecs:CommandRunAs": ["user01", "user02"]}},
    )
)
RUN_AS_NOT_ROOT = doc(
    allow(
        _ASSISTANT_ACTIONS,
        ["acs:ecs:*:*:instance/*", "acs:ecs:*:*:command/*"],
        {"StringNotEqualsIgnoreCase": {"ecs:CommandRunAs": ["system", "root"]}},
    )
)
