"""The system policies every account can attach (read-only, no account). Shipped by a data migration.

Alibaba does not publish the JSON of the two Cloud Assistant system policies (reference §4.4 marks it
unconfirmed); these are the documented sample policies of reference §4.3 ("Admin (read/write)" and
"Read-only"). The read-only one also covers ``invocation/*`` so its holders can read results through
actions authorized on invocation ARNs.
"""

from typing import Any

ADMINISTRATOR_ACCESS: dict[str, Any] = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}

ECS_ASSISTANT_FULL_ACCESS: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "ecs:DescribeInstances",
                "ecs:DescribeTag*",
                "ecs:*Command",
                "ecs:DescribeCommand*",
                "ecs:DescribeInvocation*",
                "ecs:StopInvocation",
                "ecs:*CloudAssistant*",
                "ecs:SendFile",
                "ecs:DescribeSendFileResults",
                "ecs:*ManagedInstance",
                "ecs:DescribeManagedInstances",
                "ecs:*Activation",
                "ecs:DescribeActivations",
                "ecs:ListPluginStatus",
                "ecs:ModifyInvocationAttribute",
                "ecs:StartTerminalSession",
                "ecs:DescribeTerminalSessions",
                "ecs:RunCommand",
            ],
            "Resource": [
                "acs:ecs:*:*:instance/*",
                "acs:ecs:*:*:command/*",
                "acs:ecs:*:*:activation/*",
                "acs:ecs:*:*:invocation/*",
            ],
        },
        {
            "Effect": "Allow",
            "Action": "ram:CreateServiceLinkedRole",
            "Resource": "*",
            "Condition": {"StringEquals": {"ram:ServiceName": ["archiving.ecs.aliyuncs.com"]}},
        },
        {
            "Effect": "Allow",
            "Action": ["ecs:ModifyCloudAssistantSettings", "ecs:DescribeCloudAssistantSettings"],
            "Resource": "acs:ecs:*:*:servicesettings/*",
        },
    ],
}

ECS_ASSISTANT_READONLY_ACCESS: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "ecs:DescribeInstances",
                "ecs:DescribeTag*",
                "ecs:DescribeCommand*",
                "ecs:DescribeInvocation*",
                "ecs:DescribeCloudAssistantStatus",
                "ecs:DescribeSendFileResults",
                "ecs:DescribeManagedInstances",
                "ecs:DescribeActivations",
                "ecs:ListPluginStatus",
                "ecs:DescribeTerminalSessions",
            ],
            "Resource": [
                "acs:ecs:*:*:instance/*",
                "acs:ecs:*:*:command/*",
                "acs:ecs:*:*:activation/*",
                "acs:ecs:*:*:invocation/*",
            ],
        },
        {
            "Effect": "Allow",
            "Action": "ecs:DescribeCloudAssistantSettings",
            "Resource": "acs:ecs:*:*:servicesettings/*",
        },
    ],
}

# name -> (description, document)
SYSTEM_POLICIES: dict[str, tuple[str, dict[str, Any]]] = {
    "AdministratorAccess": ("Provides full access to all resources of the account.", ADMINISTRATOR_ACCESS),
    "AliyunECSAssistantFullAccess": (
        "Provides full access to Cloud Assistant via the console and API.",
        ECS_ASSISTANT_FULL_ACCESS,
    ),
    "AliyunECSAssistantReadonlyAccess": (
        "Provides read-only access to Cloud Assistant.",
        ECS_ASSISTANT_READONLY_ACCESS,
    ),
}
