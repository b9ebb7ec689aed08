"""Evaluation rules of reference §2–3, one row per rule; the reference's own sample and system policies
(§4.3, §4.4) are fixtures. Rows differ only in the input under test."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from console.iam import policy
from tests.iam.samples import (
    ACCOUNT,
    OTHER_ACCOUNT,
    PLUGIN_ONLY,
    REGION_RESTRICTED,
    RUN_AS_NOT_ROOT,
    RUN_AS_USERS,
    SYSTEM,
    TAG_INVOKE_COMMAND,
    TAG_RUN_COMMAND,
    TAG_SEND_FILE,
    allow,
    arn,
    deny,
    doc,
)

MI1 = arn("instance", "mi-1")
MI2 = arn("instance", "mi-2")
CMD = arn("command", "*")
ANY_INSTANCE = "acs:ecs:*:*:instance/*"


@dataclass
class Case:
    id: str
    policies: list[tuple[str, dict[str, Any]]]  # (attached, document); the name is "P<index>"
    action: str
    resources: list[str]
    expected: str
    context: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    session: dict[str, Any] | None = None
    matched: list[tuple[str, int]] | None = None  # (policy name, statement index) that decided it


def one(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("user", document)]


def cond(operator: str, key: str, value: Any) -> dict[str, Any]:
    return doc(allow("ecs:RunCommand", "*", {operator: {key: value}}))


def cond_deny(operator: str, key: str, value: Any) -> dict[str, Any]:
    return doc(allow("ecs:RunCommand"), deny("ecs:RunCommand", "*", {operator: {key: value}}))


NOON = "2026-06-01T12:00:00Z"

CASES = [
    # ---- default deny and actions
    Case("no policies: implicit deny", [], "ecs:RunCommand", [MI1], "ImplicitDeny"),
    Case(
        "exact action",
        one(doc(allow("ecs:RunCommand"))),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        matched=[("P0", 0)],
    ),
    Case("other action", one(doc(allow("ecs:RunCommand"))), "ecs:InvokeCommand", [MI1], "ImplicitDeny"),
    Case("action case-insensitive", one(doc(allow("ECS:runcommand"))), "ecs:RunCommand", [MI1], "Allow"),
    Case("action * matches anything", one(doc(allow("*"))), "ram:CreateUser", [MI1], "Allow"),
    Case("action prefix *", one(doc(allow("ecs:Describe*"))), "ecs:DescribeInstances", [MI1], "Allow"),
    Case(
        "action prefix * no match", one(doc(allow("ecs:Describe*"))), "ecs:RunCommand", [MI1], "ImplicitDeny"
    ),
    Case("action infix *", one(doc(allow("ecs:*Command"))), "ecs:InvokeCommand", [MI1], "Allow"),
    Case("action * matches empty", one(doc(allow("ecs:Run*Command"))), "ecs:RunCommand", [MI1], "Allow"),
    Case("action ? one char", one(doc(allow("ecs:?unCommand"))), "ecs:RunCommand", [MI1], "Allow"),
    Case(
        "action ? not zero chars", one(doc(allow("ecs:R?unCommand"))), "ecs:RunCommand", [MI1], "ImplicitDeny"
    ),
    Case("action service differs", one(doc(allow("ecs:*"))), "ram:CreateUser", [MI1], "ImplicitDeny"),
    Case(
        "action list any",
        one(doc(allow(["ecs:SendFile", "ecs:RunCommand"]))),
        "ecs:RunCommand",
        [MI1],
        "Allow",
    ),
    Case(
        "NotAction allows others",
        one(doc({"Effect": "Allow", "NotAction": "ecs:RunCommand", "Resource": "*"})),
        "ecs:DescribeInstances",
        [MI1],
        "Allow",
    ),
    Case(
        "NotAction excludes listed",
        one(doc({"Effect": "Allow", "NotAction": "ecs:RunCommand", "Resource": "*"})),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
    ),
    Case(
        "NotAction Allow is no Deny",
        one(
            doc({"Effect": "Allow", "NotAction": "ecs:RunCommand", "Resource": "*"}, allow("ecs:RunCommand"))
        ),
        "ecs:RunCommand",
        [MI1],
        "Allow",
    ),
    Case(
        "Deny NotAction",
        one(doc(allow("*"), {"Effect": "Deny", "NotAction": "ecs:Describe*", "Resource": "*"})),
        "ecs:RunCommand",
        [MI1],
        "ExplicitDeny",
        matched=[("P0", 1)],
    ),
    # ---- resources
    Case("resource exact", one(doc(allow("*", MI1))), "ecs:RunCommand", [MI1], "Allow"),
    Case("resource other id", one(doc(allow("*", MI1))), "ecs:RunCommand", [MI2], "ImplicitDeny"),
    Case(
        "resource case-sensitive",
        one(doc(allow("*", arn("instance", "MI-1")))),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
    ),
    Case("resource * crosses : and /", one(doc(allow("*", "acs:ecs:*"))), "ecs:RunCommand", [MI1], "Allow"),
    Case("resource region *", one(doc(allow("*", ANY_INSTANCE))), "ecs:RunCommand", [MI1], "Allow"),
    Case(
        "resource kind differs", one(doc(allow("*", ANY_INSTANCE))), "ecs:RunCommand", [CMD], "ImplicitDeny"
    ),
    Case(
        "resource ? one char",
        one(doc(allow("*", "acs:ecs:*:*:instance/mi-?"))),
        "ecs:RunCommand",
        [MI1],
        "Allow",
    ),
    Case(
        "resource ? not two",
        one(doc(allow("*", "acs:ecs:*:*:instance/mi-?"))),
        "ecs:RunCommand",
        [arn("instance", "mi-12")],
        "ImplicitDeny",
    ),
    Case(
        "resource . is literal",
        one(doc(allow("*", "acs:ecs:*:*:instance/mi.1"))),
        "ecs:RunCommand",
        [arn("instance", "mix1")],
        "ImplicitDeny",
    ),
    Case(
        "resource [] is literal",
        one(doc(allow("*", "acs:ecs:*:*:instance/mi-[12]"))),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
    ),
    Case(
        "resource [] literal match",
        one(doc(allow("*", "acs:ecs:*:*:instance/mi-[12]"))),
        "ecs:RunCommand",
        [arn("instance", "mi-[12]")],
        "Allow",
    ),
    Case(
        "resource + is literal",
        one(doc(allow("*", "acs:ecs:*:*:instance/mi-1+"))),
        "ecs:RunCommand",
        [arn("instance", "mi-11")],
        "ImplicitDeny",
    ),
    Case(
        "NotResource allows others",
        one(doc({"Effect": "Allow", "Action": "*", "NotResource": MI2})),
        "ecs:RunCommand",
        [MI1],
        "Allow",
    ),
    Case(
        "NotResource excludes listed",
        one(doc({"Effect": "Allow", "Action": "*", "NotResource": MI2})),
        "ecs:RunCommand",
        [MI2],
        "ImplicitDeny",
    ),
    Case(
        "every resource must be allowed",
        one(doc(allow("*", MI1))),
        "ecs:RunCommand",
        [MI1, MI2],
        "ImplicitDeny",
    ),
    Case(
        "every resource allowed",
        one(doc(allow("*", [MI1, MI2]))),
        "ecs:RunCommand",
        [MI1, MI2],
        "Allow",
        matched=[("P0", 0), ("P0", 0)],
    ),
    Case("no resources: implicit deny", one(doc(allow("*"))), "ecs:RunCommand", [], "ImplicitDeny"),
    Case(
        "instance allowed but command not",
        one(doc(allow("ecs:RunCommand", ANY_INSTANCE))),
        "ecs:RunCommand",
        [MI1, CMD],
        "ImplicitDeny",
    ),
    # ---- deny wins, pooling
    Case(
        "deny beats allow, same policy",
        one(doc(allow("*"), deny("ecs:RunCommand"))),
        "ecs:RunCommand",
        [MI1],
        "ExplicitDeny",
        matched=[("P0", 1)],
    ),
    Case(
        "deny beats allow, statement order irrelevant",
        one(doc(deny("ecs:RunCommand"), allow("*"))),
        "ecs:RunCommand",
        [MI1],
        "ExplicitDeny",
        matched=[("P0", 0)],
    ),
    Case(
        "group deny beats user allow",
        [("user", doc(allow("*"))), ("group:ops", doc(deny("ecs:*")))],
        "ecs:RunCommand",
        [MI1],
        "ExplicitDeny",
        matched=[("P1", 0)],
    ),
    Case(
        "group allow pooled with user",
        [("user", doc(allow("ecs:SendFile"))), ("group:ops", doc(allow("ecs:Run*")))],
        "ecs:RunCommand",
        [MI1],
        "Allow",
        matched=[("P1", 0)],
    ),
    Case(
        "non-matching deny ignored",
        one(doc(allow("*"), deny("ecs:SendFile"))),
        "ecs:RunCommand",
        [MI1],
        "Allow",
    ),
    Case(
        "deny on one of several resources",
        one(doc(allow("*"), deny("*", MI2))),
        "ecs:RunCommand",
        [MI1, MI2],
        "ExplicitDeny",
        matched=[("P0", 1)],
    ),
    Case(
        "deny with failing condition ignored",
        one(doc(allow("*"), deny("*", "*", {"Bool": {"acs:MFAPresent": "false"}}))),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:MFAPresent": True},
    ),
    # ---- String operators
    Case(
        "StringEquals match",
        one(cond("StringEquals", "ecs:CommandRunAs", "user01")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"ecs:CommandRunAs": "user01"},
    ),
    Case(
        "StringEquals case-sensitive",
        one(cond("StringEquals", "ecs:CommandRunAs", "user01")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"ecs:CommandRunAs": "USER01"},
    ),
    Case(
        "StringEquals absent key false",
        one(cond("StringEquals", "ecs:CommandRunAs", "user01")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
    ),
    Case(
        "condition key case-insensitive",
        one(cond("StringEquals", "ECS:commandrunas", "user01")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"ecs:CommandRunAs": "user01"},
    ),
    Case(
        "StringNotEquals other",
        one(cond("StringNotEquals", "ecs:CommandRunAs", "root")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"ecs:CommandRunAs": "user01"},
    ),
    Case(
        "StringNotEquals same",
        one(cond("StringNotEquals", "ecs:CommandRunAs", "root")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"ecs:CommandRunAs": "root"},
    ),
    Case(
        "StringNotEquals absent key true",
        one(cond("StringNotEquals", "ecs:CommandRunAs", "root")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
    ),
    Case(
        "StringEqualsIgnoreCase",
        one(cond("StringEqualsIgnoreCase", "ecs:CommandRunAs", "User01")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"ecs:CommandRunAs": "uSER01"},
    ),
    Case(
        "StringNotEqualsIgnoreCase",
        one(cond("StringNotEqualsIgnoreCase", "ecs:CommandRunAs", "root")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"ecs:CommandRunAs": "ROOT"},
    ),
    Case(
        "StringLike *",
        one(cond("StringLike", "acs:SourceVpc", "vpc-*")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:SourceVpc": "vpc-123"},
    ),
    Case(
        "StringLike case-sensitive",
        one(cond("StringLike", "acs:SourceVpc", "vpc-*")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"acs:SourceVpc": "VPC-123"},
    ),
    Case(
        "StringLike ?",
        one(cond("StringLike", "ecs:CommandRunAs", "user0?")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"ecs:CommandRunAs": "user07"},
    ),
    Case(
        "StringLike . literal",
        one(cond("StringLike", "ecs:CommandRunAs", "a.c")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"ecs:CommandRunAs": "abc"},
    ),
    Case(
        "StringNotLike (not from any VPC) absent",
        one(cond("StringNotLike", "acs:SourceVpc", ["vpc-*"])),
        "ecs:RunCommand",
        [MI1],
        "Allow",
    ),
    Case(
        "StringNotLike from a VPC",
        one(cond("StringNotLike", "acs:SourceVpc", ["vpc-*"])),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"acs:SourceVpc": "vpc-9"},
    ),
    # ---- combination rules
    Case(
        "several values OR",
        one(cond("StringEquals", "ecs:CommandRunAs", ["a", "b"])),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"ecs:CommandRunAs": "b"},
    ),
    Case(
        "negated several values NOR",
        one(cond("StringNotEquals", "ecs:CommandRunAs", ["a", "b"])),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"ecs:CommandRunAs": "b"},
    ),
    Case(
        "several keys AND: one fails",
        one(doc(allow("*", "*", {"StringEquals": {"ecs:CommandRunAs": "a", "acs:SourceVpc": "vpc-1"}}))),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"ecs:CommandRunAs": "a", "acs:SourceVpc": "vpc-2"},
    ),
    Case(
        "several keys AND: all hold",
        one(doc(allow("*", "*", {"StringEquals": {"ecs:CommandRunAs": "a", "acs:SourceVpc": "vpc-1"}}))),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"ecs:CommandRunAs": "a", "acs:SourceVpc": "vpc-1"},
    ),
    Case(
        "several operators AND: one fails",
        one(
            doc(
                allow(
                    "*",
                    "*",
                    {"StringEquals": {"ecs:CommandRunAs": "a"}, "Bool": {"acs:SecureTransport": "true"}},
                )
            )
        ),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"ecs:CommandRunAs": "a", "acs:SecureTransport": False},
    ),
    Case(
        "several operators AND: all hold",
        one(
            doc(
                allow(
                    "*",
                    "*",
                    {"StringEquals": {"ecs:CommandRunAs": "a"}, "Bool": {"acs:SecureTransport": "true"}},
                )
            )
        ),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"ecs:CommandRunAs": "a", "acs:SecureTransport": True},
    ),
    Case(
        "multi-valued context: any value matches",
        one(cond("StringEquals", "acs:TagKeys", "env")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:TagKeys": ["team", "env"]},
    ),
    # ---- Numeric
    Case(
        "NumericEquals",
        one(cond("NumericEquals", "test:N", "10")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"test:N": 10},
    ),
    Case(
        "NumericEquals decimal form",
        one(cond("NumericEquals", "test:N", "10")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"test:N": "10.0"},
    ),
    Case(
        "NumericNotEquals",
        one(cond("NumericNotEquals", "test:N", "10")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"test:N": 10},
    ),
    Case(
        "NumericLessThan true",
        one(cond("NumericLessThan", "test:N", "10")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"test:N": 9.5},
    ),
    Case(
        "NumericLessThan equal false",
        one(cond("NumericLessThan", "test:N", "10")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"test:N": 10},
    ),
    Case(
        "NumericLessThanEquals",
        one(cond("NumericLessThanEquals", "test:N", "10")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"test:N": 10},
    ),
    Case(
        "NumericGreaterThan",
        one(cond("NumericGreaterThan", "test:N", "10")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"test:N": 10},
    ),
    Case(
        "NumericGreaterThanEquals",
        one(cond("NumericGreaterThanEquals", "test:N", "10")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"test:N": 11},
    ),
    Case(
        "Numeric compares numbers not text",
        one(cond("NumericLessThan", "test:N", "10")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"test:N": "9"},
    ),
    Case(
        "Numeric context not a number",
        one(cond("NumericLessThan", "test:N", "10")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"test:N": "nine"},
    ),
    Case(
        "Numeric absent false",
        one(cond("NumericLessThan", "test:N", "10")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
    ),
    Case(
        "NumericNotEquals absent true",
        one(cond("NumericNotEquals", "test:N", "10")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
    ),
    # ---- Date
    Case(
        "DateLessThan",
        one(cond("DateLessThan", "acs:CurrentTime", "2026-06-01T13:00:00Z")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:CurrentTime": NOON},
    ),
    Case(
        "DateLessThan past",
        one(cond("DateLessThan", "acs:CurrentTime", "2026-06-01T11:00:00Z")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"acs:CurrentTime": NOON},
    ),
    Case(
        "Date with offset (reference form)",
        one(cond("DateGreaterThan", "acs:CurrentTime", "2026-06-01T20:30:00+08:00")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"acs:CurrentTime": NOON},
    ),
    Case(
        "DateEquals across offsets",
        one(cond("DateEquals", "acs:CurrentTime", "2026-06-01T20:00:00+08:00")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:CurrentTime": NOON},
    ),
    Case(
        "DateNotEquals",
        one(cond("DateNotEquals", "acs:CurrentTime", "2026-06-01T20:00:00+08:00")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"acs:CurrentTime": NOON},
    ),
    Case(
        "DateLessThanEquals",
        one(cond("DateLessThanEquals", "acs:CurrentTime", NOON)),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:CurrentTime": NOON},
    ),
    Case(
        "DateGreaterThanEquals datetime context",
        one(cond("DateGreaterThanEquals", "acs:CurrentTime", NOON)),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:CurrentTime": datetime(2026, 6, 2, tzinfo=UTC)},
    ),
    Case(
        "Date absent false",
        one(cond("DateGreaterThan", "acs:CurrentTime", NOON)),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
    ),
    Case(
        "Date context unparseable",
        one(cond("DateGreaterThan", "acs:CurrentTime", NOON)),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"acs:CurrentTime": "yesterday"},
    ),
    # ---- Bool
    Case(
        "Bool true",
        one(cond("Bool", "acs:SecureTransport", "true")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:SecureTransport": True},
    ),
    Case(
        "Bool false context",
        one(cond("Bool", "acs:SecureTransport", "true")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"acs:SecureTransport": False},
    ),
    Case(
        "Bool string context, any case",
        one(cond("Bool", "acs:SecureTransport", "TRUE")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:SecureTransport": "true"},
    ),
    Case(
        "Bool MFA absent: Allow does not match",
        one(cond("Bool", "acs:MFAPresent", "true")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
    ),
    Case(
        "Bool MFA absent: Deny does not fire",
        one(cond_deny("Bool", "acs:MFAPresent", "false")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
    ),
    Case(
        "Bool MFA false: Deny fires",
        one(cond_deny("Bool", "acs:MFAPresent", "false")),
        "ecs:RunCommand",
        [MI1],
        "ExplicitDeny",
        context={"acs:MFAPresent": False},
    ),
    # ---- IP
    Case(
        "IpAddress CIDR",
        one(cond("IpAddress", "acs:SourceIp", "10.0.0.0/8")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:SourceIp": "10.1.2.3"},
    ),
    Case(
        "IpAddress outside",
        one(cond("IpAddress", "acs:SourceIp", "10.0.0.0/8")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"acs:SourceIp": "192.168.1.1"},
    ),
    Case(
        "IpAddress single IP",
        one(cond("IpAddress", "acs:SourceIp", "203.0.113.7")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:SourceIp": "203.0.113.7"},
    ),
    Case(
        "IpAddress host bits set",
        one(cond("IpAddress", "acs:SourceIp", "116.62.1.9/24")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:SourceIp": "116.62.1.200"},
    ),
    Case(
        "IpAddress list OR",
        one(cond("IpAddress", "acs:SourceIp", ["10.0.0.0/8", "192.168.0.0/16"])),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:SourceIp": "192.168.4.4"},
    ),
    Case(
        "IpAddress IPv6",
        one(cond("IpAddress", "acs:SourceIp", "2001:db8::/32")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:SourceIp": "2001:db8::1"},
    ),
    Case(
        "IpAddress v4 in v6 net",
        one(cond("IpAddress", "acs:SourceIp", "::/0")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"acs:SourceIp": "10.0.0.1"},
    ),
    Case(
        "IpAddress absent false",
        one(cond("IpAddress", "acs:SourceIp", "0.0.0.0/0")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
    ),
    Case(
        "IpAddress context garbage",
        one(cond("IpAddress", "acs:SourceIp", "0.0.0.0/0")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"acs:SourceIp": "localhost"},
    ),
    Case(
        "NotIpAddress outside",
        one(cond("NotIpAddress", "acs:SourceIp", "10.0.0.0/8")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"acs:SourceIp": "192.168.1.1"},
    ),
    Case(
        "NotIpAddress inside",
        one(cond("NotIpAddress", "acs:SourceIp", "10.0.0.0/8")),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"acs:SourceIp": "10.9.9.9"},
    ),
    Case(
        "NotIpAddress absent true",
        one(cond("NotIpAddress", "acs:SourceIp", "10.0.0.0/8")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
    ),
    Case(
        "Deny outside office",
        one(cond_deny("NotIpAddress", "acs:SourceIp", "10.0.0.0/8")),
        "ecs:RunCommand",
        [MI1],
        "ExplicitDeny",
        context={"acs:SourceIp": "8.8.8.8"},
    ),
    # ---- resource tags
    Case(
        "tag sample: tagged",
        one(TAG_RUN_COMMAND),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        tags={MI1: {"test": "tony"}},
    ),
    Case(
        "tag sample: other value",
        one(TAG_RUN_COMMAND),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        tags={MI1: {"test": "bob"}},
    ),
    Case("tag sample: untagged", one(TAG_RUN_COMMAND), "ecs:RunCommand", [MI1], "ImplicitDeny"),
    Case(
        "tag sample: tag key any case",
        one(TAG_RUN_COMMAND),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        tags={MI1: {"Test": "tony"}},
    ),
    Case(
        "tag sample: tags are per resource",
        one(TAG_RUN_COMMAND),
        "ecs:RunCommand",
        [MI1, MI2],
        "ImplicitDeny",
        tags={MI1: {"test": "tony"}},
    ),
    Case(
        "tag sample: both tagged",
        one(TAG_RUN_COMMAND),
        "ecs:RunCommand",
        [MI1, MI2],
        "Allow",
        tags={MI1: {"test": "tony"}, MI2: {"test": "tony"}},
    ),
    Case(
        "tag SendFile sample",
        one(TAG_SEND_FILE),
        "ecs:SendFile",
        [MI1],
        "Allow",
        tags={MI1: {"test": "tony"}},
    ),
    Case(
        "legacy ecs:tag key",
        one(cond("StringEquals", "ecs:tag/team", "dev")),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        tags={MI1: {"team": "dev"}},
    ),
    Case(
        "InvokeCommand tag sample",
        one(TAG_INVOKE_COMMAND),
        "ecs:InvokeCommand",
        [arn("command", "c-1"), MI1],
        "Allow",
        tags={MI1: {"Owner": "zxy"}},
        matched=[("P0", 1), ("P0", 0)],
    ),
    Case(
        "InvokeCommand tag sample: instance untagged",
        one(TAG_INVOKE_COMMAND),
        "ecs:InvokeCommand",
        [arn("command", "c-1"), MI1],
        "ImplicitDeny",
    ),
    # ---- the other documented samples
    Case(
        "plugin sample",
        one(PLUGIN_ONLY),
        "ecs:InvokeCommand",
        [arn("command", "ACS-ECS-ExecutePlugin-for-linux.sh"), MI1],
        "Allow",
        context={"ecs:PluginName": "Test-Plugin"},
    ),
    Case(
        "plugin sample: other plugin",
        one(PLUGIN_ONLY),
        "ecs:InvokeCommand",
        [arn("command", "ACS-ECS-ExecutePlugin-for-linux.sh"), MI1],
        "ImplicitDeny",
        context={"ecs:PluginName": "x"},
    ),
    Case(
        "plugin sample: other command",
        one(PLUGIN_ONLY),
        "ecs:InvokeCommand",
        [arn("command", "c-1"), MI1],
        "ImplicitDeny",
        context={"ecs:PluginName": "test-plugin"},
    ),
    Case(
        "run-as users: user02",
        one(RUN_AS_USERS),
        "ecs:RunCommand",
        [MI1, CMD],
        "Allow",
        context={"ecs:CommandRunAs": "user02"},
    ),
    Case(
        "run-as users: root",
        one(RUN_AS_USERS),
        "ecs:RunCommand",
        [MI1, CMD],
        "ImplicitDeny",
        context={"ecs:CommandRunAs": "root"},
    ),
    Case(
        "run-as not root: admin",
        one(RUN_AS_NOT_ROOT),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        context={"ecs:CommandRunAs": "admin"},
    ),
    Case(
        "run-as not root: ROOT",
        one(RUN_AS_NOT_ROOT),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        context={"ecs:CommandRunAs": "ROOT"},
    ),
    Case(
        "run-as not root: System",
        one(RUN_AS_NOT_ROOT),
        "ecs:InvokeCommand",
        [MI1],
        "ImplicitDeny",
        context={"ecs:CommandRunAs": "System"},
    ),
    Case("region sample: same region", one(REGION_RESTRICTED), "ecs:RunCommand", [MI1], "Allow"),
    Case(
        "region sample: other region",
        one(REGION_RESTRICTED),
        "ecs:RunCommand",
        [arn("instance", "mi-1", region="cn-beijing")],
        "ImplicitDeny",
    ),
    # ---- system policies
    Case(
        "AdministratorAccess",
        one(SYSTEM["AdministratorAccess"]),
        "ram:CreateUser",
        [f"acs:ram::{ACCOUNT}:user/bob"],
        "Allow",
    ),
    Case(
        "FullAccess RunCommand",
        one(SYSTEM["AliyunECSAssistantFullAccess"]),
        "ecs:RunCommand",
        [MI1, CMD],
        "Allow",
    ),
    Case(
        "FullAccess CreateActivation",
        one(SYSTEM["AliyunECSAssistantFullAccess"]),
        "ecs:CreateActivation",
        [arn("activation", "*")],
        "Allow",
    ),
    Case(
        "FullAccess settings",
        one(SYSTEM["AliyunECSAssistantFullAccess"]),
        "ecs:ModifyCloudAssistantSettings",
        [arn("servicesettings", "cloudassistantdeliverysettings")],
        "Allow",
    ),
    Case(
        "FullAccess no RAM",
        one(SYSTEM["AliyunECSAssistantFullAccess"]),
        "ram:CreateUser",
        [f"acs:ram::{ACCOUNT}:user/bob"],
        "ImplicitDeny",
    ),
    Case(
        "FullAccess service-linked role: archiving",
        one(SYSTEM["AliyunECSAssistantFullAccess"]),
        "ram:CreateServiceLinkedRole",
        ["*"],
        "Allow",
        context={"ram:ServiceName": "archiving.ecs.aliyuncs.com"},
    ),
    Case(
        "FullAccess service-linked role: other",
        one(SYSTEM["AliyunECSAssistantFullAccess"]),
        "ram:CreateServiceLinkedRole",
        ["*"],
        "ImplicitDeny",
        context={"ram:ServiceName": "x.aliyuncs.com"},
    ),
    Case(
        "ReadOnly results",
        one(SYSTEM["AliyunECSAssistantReadonlyAccess"]),
        "ecs:DescribeInvocationResults",
        [arn("invocation", "t-1")],
        "Allow",
    ),
    Case(
        "ReadOnly no RunCommand",
        one(SYSTEM["AliyunECSAssistantReadonlyAccess"]),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
    ),
    Case(
        "ReadOnly no CreateActivation",
        one(SYSTEM["AliyunECSAssistantReadonlyAccess"]),
        "ecs:CreateActivation",
        [arn("activation", "*")],
        "ImplicitDeny",
    ),
    Case(
        "ReadOnly plus deny",
        [
            ("user", SYSTEM["AliyunECSAssistantReadonlyAccess"]),
            ("group:g", doc(deny("ecs:Describe*", arn("invocation", "*")))),
        ],
        "ecs:DescribeInvocationResults",
        [arn("invocation", "t-1")],
        "ExplicitDeny",
        matched=[("P1", 0)],
    ),
    # ---- session policy must allow too
    Case(
        "session allows",
        one(doc(allow("*"))),
        "ecs:RunCommand",
        [MI1],
        "Allow",
        session=doc(allow("ecs:RunCommand")),
        matched=[("P0", 0), ("session", 0)],
    ),
    Case(
        "session silent",
        one(doc(allow("*"))),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        session=doc(allow("ecs:SendFile")),
    ),
    Case(
        "session denies",
        one(doc(allow("*"))),
        "ecs:RunCommand",
        [MI1],
        "ExplicitDeny",
        session=doc(allow("*"), deny("ecs:RunCommand")),
        matched=[("session", 1)],
    ),
    Case(
        "session cannot widen",
        one(doc(allow("ecs:SendFile"))),
        "ecs:RunCommand",
        [MI1],
        "ImplicitDeny",
        session=doc(allow("*")),
    ),
    Case(
        "identity deny with session allow",
        one(doc(deny("*"))),
        "ecs:RunCommand",
        [MI1],
        "ExplicitDeny",
        session=doc(allow("*")),
        matched=[("P0", 0)],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_evaluate(case: Case) -> None:
    attached = [
        policy.AttachedPolicy(f"P{i}", policy.parse(document), where)
        for i, (where, document) in enumerate(case.policies)
    ]
    session = (
        None
        if case.session is None
        else policy.AttachedPolicy("session", policy.parse(case.session), "session")
    )
    request = policy.Request(case.action, tuple(case.resources), case.context, case.tags)
    decision = policy.evaluate(request, attached, session)
    assert decision.effect == case.expected
    if case.matched is not None:
        assert [(m.policy, m.statement) for m in decision.matched] == case.matched
    if case.expected == "ImplicitDeny":
        assert decision.matched == ()


def test_decision_names_resource_and_statement() -> None:
    attached = [policy.AttachedPolicy("ops", policy.parse(doc(allow("*"), deny("*", MI2))), "group:ops")]
    decision = policy.evaluate(policy.Request("ecs:RunCommand", (MI1, MI2)), attached)
    assert decision.resource == MI2
    assert decision.as_json() == {
        "Decision": "ExplicitDeny",
        "MatchedStatements": [
            {"Policy": "ops", "Attached": "group:ops", "Statement": 1, "Effect": "Deny", "Resource": MI2}
        ],
    }


ROOT_OF = f"acs:ram::{ACCOUNT}:root"
ALICE = f"acs:ram::{ACCOUNT}:user/alice"
ROLE = f"acs:ram::{ACCOUNT}:role/deployer"


def trust(
    *principal: tuple[str, Any], condition: dict[str, Any] | None = None, effect: str = "Allow"
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": effect, "Action": "sts:AssumeRole", "Principal": dict(principal)}
    if condition:
        statement["Condition"] = condition
    return doc(statement)


TRUST_CASES = [
    ("account root trusts any identity of the account", trust(("RAM", [ROOT_OF])), ALICE, {}, "Allow"),
    ("other account's root", trust(("RAM", [f"acs:ram::{OTHER_ACCOUNT}:root"])), ALICE, {}, "ImplicitDeny"),
    ("one user", trust(("RAM", f"acs:ram::{ACCOUNT}:user/alice")), ALICE, {}, "Allow"),
    ("another user", trust(("RAM", f"acs:ram::{ACCOUNT}:user/bob")), ALICE, {}, "ImplicitDeny"),
    ("service principal only", trust(("Service", "ecs.aliyuncs.com")), ALICE, {}, "ImplicitDeny"),
    (
        "MFA condition absent",
        trust(("RAM", ROOT_OF), condition={"Bool": {"acs:MFAPresent": "true"}}),
        ALICE,
        {},
        "ImplicitDeny",
    ),
    (
        "MFA condition present",
        trust(("RAM", ROOT_OF), condition={"Bool": {"acs:MFAPresent": "true"}}),
        ALICE,
        {"acs:MFAPresent": True},
        "Allow",
    ),
    ("trust deny", trust(("RAM", ROOT_OF), effect="Deny"), ALICE, {}, "ExplicitDeny"),
]


@pytest.mark.parametrize(
    ("trust_doc", "caller", "context", "expected"),
    [c[1:] for c in TRUST_CASES],
    ids=[c[0] for c in TRUST_CASES],
)
def test_assume_role_needs_caller_grant_and_trust(trust_doc, caller, context, expected) -> None:
    caller_policy = [policy.AttachedPolicy("assume", policy.parse(doc(allow("sts:AssumeRole", ROLE))))]
    trust_policy = policy.AttachedPolicy("trust", policy.parse(trust_doc, kind="trust"), "trust")
    request = policy.Request("sts:AssumeRole", (ROLE,), context, principal_arn=caller)
    assert policy.evaluate(request, caller_policy, trust_policy=trust_policy).effect == expected
    # Without the caller's own grant the trust policy alone is never enough.
    assert policy.evaluate(request, [], trust_policy=trust_policy).effect != "Allow"


DECIDE_CASES = [
    ("root: anything in its account", "root-account", [], [MI1], "Allow"),
    (
        "root: other account refused",
        "root-account",
        [],
        [arn("instance", "mi-1", account=OTHER_ACCOUNT)],
        "ImplicitDeny",
    ),
    (
        "admin policy: other account refused",
        "ram-user",
        [SYSTEM["AdministratorAccess"]],
        [MI1, arn("instance", "mi-1", account=OTHER_ACCOUNT)],
        "ImplicitDeny",
    ),
    (
        "wildcard account in request refused",
        "ram-user",
        [SYSTEM["AdministratorAccess"]],
        ["acs:ecs:cn-hangzhou:*:instance/mi-1"],
        "ImplicitDeny",
    ),
    ("not an ARN refused", "root-account", [], ["*"], "ImplicitDeny"),
    ("ram user: policies decide", "ram-user", [SYSTEM["AdministratorAccess"]], [MI1], "Allow"),
    ("ram user: no policies", "ram-user", [], [MI1], "ImplicitDeny"),
]


@pytest.mark.parametrize(
    ("principal_type", "documents", "resources", "expected"),
    [c[1:] for c in DECIDE_CASES],
    ids=[c[0] for c in DECIDE_CASES],
)
def test_decide_account_wall_and_root(principal_type, documents, resources, expected) -> None:
    attached = [policy.AttachedPolicy(f"P{i}", policy.parse(d)) for i, d in enumerate(documents)]
    decision = policy.decide(
        principal_type=principal_type,
        account_id=ACCOUNT,
        request=policy.Request("ecs:RunCommand", tuple(resources)),
        policies=attached,
    )
    assert decision.effect == expected
