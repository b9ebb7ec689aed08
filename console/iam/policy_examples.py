"""Starting points for the custom policy editor: the instance-scoped sample policies of the reference
(``shared/reference/ram-policies.md`` §4.3) and the product's own condition keys, as documents a user
edits before saving. Pure: no Django; ``tests/iam/test_policy_examples.py`` checks that each one is valid
and decides what its title says."""

import json
from dataclasses import dataclass
from typing import Any

PLACEHOLDER_INSTANCE = "mi-0123456789abcdef0"


@dataclass(frozen=True)
class Example:
    key: str
    title: str
    note: str
    document: dict[str, Any]

    @property
    def text(self) -> str:
        return json.dumps(self.document, indent=2)


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "1", "Statement": list(statements)}


def examples(region: str) -> tuple[Example, ...]:
    """In the editor's order; the first is the one the editor starts with. ``region`` is the console's
    region, for the region-restricted sample."""
    instances = "acs:ecs:*:*:instance/*"
    commands = "acs:ecs:*:*:command/*"
    run_actions = ["ecs:RunCommand", "ecs:InvokeCommand"]
    return (
        Example(
            key="tagged-instances",
            title="Run commands and send files on instances tagged env=test",
            note="Tags are read when the request is checked, so tagging an instance grants it at once. "
            "Keeping a command (KeepCommand) also needs command/*.",
            document=_doc(
                {
                    "Effect": "Allow",
                    "Action": [
                        "ecs:RunCommand",
                        "ecs:SendFile",
                        "ecs:DescribeManagedInstances",
                        "ecs:DescribeInvocations",
                        "ecs:DescribeInvocationResults",
                        "ecs:DescribeSendFileResults",
                    ],
                    "Resource": instances,
                    "Condition": {"StringEquals": {"acs:ResourceTag/env": "test"}},
                }
            ),
        ),
        Example(
            key="invoke-on-tagged",
            title="Invoke saved commands on instances tagged env=test",
            note="InvokeCommand needs the command and every instance. Commands carry no tags, so the "
            "command gets its own statement without the tag condition.",
            document=_doc(
                {
                    "Effect": "Allow",
                    "Action": "ecs:InvokeCommand",
                    "Resource": instances,
                    "Condition": {"StringEquals": {"acs:ResourceTag/env": "test"}},
                },
                {
                    "Effect": "Allow",
                    "Action": ["ecs:InvokeCommand", "ecs:DescribeCommands"],
                    "Resource": commands,
                },
            ),
        ),
        Example(
            key="named-instances",
            title="Work on named instances only",
            note=f"Replace {PLACEHOLDER_INSTANCE} with your instance ids (one ARN each).",
            document=_doc(
                {
                    "Effect": "Allow",
                    "Action": [
                        "ecs:RunCommand",
                        "ecs:SendFile",
                        "ecs:StartTerminalSession",
                        "ecs:DescribeManagedInstances",
                        "ecs:DescribeInvocations",
                        "ecs:DescribeInvocationResults",
                    ],
                    "Resource": [f"acs:ecs:*:*:instance/{PLACEHOLDER_INSTANCE}"],
                }
            ),
        ),
        Example(
            key="run-as-users",
            title="Run commands only as user01 or user02",
            note="ecs:CommandRunAs is the user a command runs as (root when the run names none).",
            document=_doc(
                {
                    "Effect": "Allow",
                    "Action": run_actions,
                    "Resource": [instances, commands],
                    "Condition": {"StringEquals": {"ecs:CommandRunAs": ["user01", "user02"]}},
                }
            ),
        ),
        Example(
            key="not-as-root",
            title="Run commands as anyone but root or system",
            note="A negated operator. A run that names no user runs as root, so it is refused too.",
            document=_doc(
                {
                    "Effect": "Allow",
                    "Action": run_actions,
                    "Resource": [instances, commands],
                    "Condition": {"StringNotEqualsIgnoreCase": {"ecs:CommandRunAs": ["system", "root"]}},
                }
            ),
        ),
        Example(
            key="terminal-users",
            title="Open terminal sessions as deploy or postgres",
            note="Any user other than the default one needs a statement naming it with ecs:SessionUsername.",
            document=_doc(
                {
                    "Effect": "Allow",
                    "Action": ["ecs:StartTerminalSession", "ecs:DescribeTerminalSessions"],
                    "Resource": instances,
                    "Condition": {"StringEquals": {"ecs:SessionUsername": ["deploy", "postgres"]}},
                }
            ),
        ),
        Example(
            key="one-region",
            title=f"Cloud Assistant in region {region} only",
            note="The reference's region-restricted sample: the ARNs name the region.",
            document=_doc(
                {
                    "Effect": "Allow",
                    "Action": [
                        "ecs:*Command",
                        "ecs:DescribeCommand*",
                        "ecs:DescribeInvocation*",
                        "ecs:StopInvocation",
                        "ecs:SendFile",
                        "ecs:DescribeSendFileResults",
                        "ecs:StartTerminalSession",
                        "ecs:DescribeTerminalSessions",
                        "ecs:DescribeManagedInstances",
                    ],
                    "Resource": [
                        f"acs:ecs:{region}:*:instance/*",
                        f"acs:ecs:{region}:*:command/*",
                        f"acs:ecs:{region}:*:invocation/*",
                    ],
                }
            ),
        ),
        Example(
            key="office-network",
            title="Refuse runs, files and terminals from outside 10.0.0.0/8",
            note="A Deny beats every Allow; attach it next to the policies that grant the actions. A "
            "request whose address is unknown is refused too.",
            document=_doc(
                {
                    "Effect": "Deny",
                    "Action": [*run_actions, "ecs:SendFile", "ecs:StartTerminalSession"],
                    "Resource": "*",
                    "Condition": {"NotIpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}},
                }
            ),
        ),
    )


def example(region: str, key: str) -> Example:
    """The example named ``key``; the first one for an empty or unknown key."""
    every = examples(region)
    return next((e for e in every if e.key == key), every[0])
