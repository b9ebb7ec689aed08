"""The validator names the statement, the field and the reason for every problem (reference §1)."""

import json
from typing import Any

import pytest

from console.iam import policy
from tests.iam.samples import (
    PLUGIN_ONLY,
    REGION_RESTRICTED,
    RUN_AS_NOT_ROOT,
    RUN_AS_USERS,
    SYSTEM,
    TAG_INVOKE_COMMAND,
    TAG_RUN_COMMAND,
    TAG_SEND_FILE,
    allow,
    doc,
)


def sized(length: int) -> str:
    """A valid document of exactly ``length`` characters."""
    empty = json.dumps(doc(allow("*", "*", {"StringEquals": {"a:b": ""}})))
    return json.dumps(doc(allow("*", "*", {"StringEquals": {"a:b": "x" * (length - len(empty))}})))


VALID = [
    ("minimal", doc(allow("ecs:RunCommand", "acs:ecs:*:*:instance/*"))),
    ("single statement object", {"Version": "1", "Statement": allow("*")}),
    ("Sid accepted", doc({**allow("*"), "Sid": "s1"})),
    ("NotAction", doc({"Effect": "Deny", "NotAction": ["ecs:Describe*"], "Resource": "*"})),
    ("NotResource", doc({"Effect": "Allow", "Action": "*", "NotResource": "acs:ecs:*:*:instance/mi-x"})),
    ("lowercase action", doc(allow("ecs:runcommand"))),
    ("dashed service", doc(allow("ecs-workbench:LoginECSInstance"))),
    ("wildcards in action", doc(allow("ecs:?un*"))),
    ("global resource (empty region)", doc(allow("ram:CreateUser", "acs:ram::1234567890123456:user/*"))),
    ("short ARN ending in *", doc(allow("*", "acs:ecs:*"))),
    (
        "every operator",
        doc(
            allow(
                "*",
                "*",
                {
                    "StringEquals": {"a:b": "x"},
                    "StringNotEquals": {"a:b": "x"},
                    "StringEqualsIgnoreCase": {"a:b": "x"},
                    "StringNotEqualsIgnoreCase": {"a:b": "x"},
                    "StringLike": {"a:b": "x*"},
                    "StringNotLike": {"a:b": "x?"},
                    "NumericEquals": {"a:n": "1"},
                    "NumericNotEquals": {"a:n": "-1.5"},
                    "NumericLessThan": {"a:n": "2"},
                    "NumericLessThanEquals": {"a:n": "2"},
                    "NumericGreaterThan": {"a:n": "2"},
                    "NumericGreaterThanEquals": {"a:n": "2"},
                    "DateEquals": {"acs:CurrentTime": "2019-08-12T17:00:00+08:00"},
                    "DateNotEquals": {"acs:CurrentTime": "2019-08-12"},
                    "DateLessThan": {"acs:CurrentTime": "2019-08-12T17:00:00Z"},
                    "DateLessThanEquals": {"acs:CurrentTime": "2019-08-12T17:00:00Z"},
                    "DateGreaterThan": {"acs:CurrentTime": "2019-08-12T17:00:00Z"},
                    "DateGreaterThanEquals": {"acs:CurrentTime": "2019-08-12T17:00:00Z"},
                    "Bool": {"acs:SecureTransport": "true"},
                    "IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "1.2.3.4"]},
                    "NotIpAddress": {"acs:SourceIp": "2001:db8::/32"},
                },
            )
        ),
    ),
    ("tag key with slash", doc(allow("*", "*", {"StringEquals": {"acs:ResourceTag/env": "test"}}))),
    ("exactly 6144 characters", sized(6144)),
    *[(f"system {name}", document) for name, document in SYSTEM.items()],
    ("sample region-restricted", REGION_RESTRICTED),
    ("sample tag RunCommand", TAG_RUN_COMMAND),
    ("sample tag SendFile", TAG_SEND_FILE),
    ("sample tag InvokeCommand", TAG_INVOKE_COMMAND),
    ("sample plugin", PLUGIN_ONLY),
    ("sample run-as users", RUN_AS_USERS),
    ("sample run-as not root", RUN_AS_NOT_ROOT),
]


@pytest.mark.parametrize("document", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_valid(document: Any) -> None:
    assert policy.validate(document) == []
    assert policy.parse(document).statements


def test_exactly_6144_is_the_fixture_size() -> None:
    assert len(dict(VALID)["exactly 6144 characters"]) == 6144


OK = allow("*")

# (id, document, [(path, words in the message), ...]) — the full list of errors, in order.
INVALID: list[tuple[str, Any, list[tuple[str, str]]]] = [
    ("not JSON", '{"Version": "1",', [("", "not valid JSON: Expecting property name")]),
    ("trailing comma", '{"Version": "1", "Statement": [],}', [("", "not valid JSON")]),
    ("duplicate key", '{"Version": "1", "Version": "1", "Statement": []}', [("", "duplicate key 'Version'")]),
    ("NaN", '{"Version": "1", "Statement": [{"Effect": NaN}]}', [("", "NaN is not valid JSON")]),
    ("not an object", "[]", [("", "must be a JSON object, not a list")]),
    ("null", "null", [("", "must be a JSON object, not null")]),
    (
        "too long",
        sized(6145),
        [("", "6145 characters; at most 6144")],
    ),
    ("too long dict", doc(allow("*", "*", {"StringEquals": {"a:b": "x" * 7000}})), [("", "at most 6144")]),
    ("Version missing", {"Statement": [OK]}, [("Version", "is required")]),
    ("Version number", {"Version": 1, "Statement": [OK]}, [("Version", 'must be the string "1", not 1')]),
    ("Version 2", {"Version": "2", "Statement": [OK]}, [("Version", "not '2'")]),
    (
        "unknown top-level",
        {"Version": "1", "Statement": [OK], "Id": "x"},
        [("Id", "'Id' is not a policy element")],
    ),
    ("Statement missing", {"Version": "1"}, [("Statement", "is required")]),
    ("Statement empty", {"Version": "1", "Statement": []}, [("Statement", "at least one statement")]),
    ("Statement a string", {"Version": "1", "Statement": "x"}, [("Statement", "must be a list, not str")]),
    ("statement not object", doc(OK, "x"), [("Statement[1]", "must be an object, not str")]),
    ("Effect missing", doc({"Action": "*", "Resource": "*"}), [("Statement[0].Effect", "is required")]),
    (
        "Effect unknown",
        doc(OK, {**OK, "Effect": "Permit"}),
        [("Statement[1].Effect", '\'Permit\' is not "Allow" or "Deny"')],
    ),
    ("Effect lowercase", doc({**OK, "Effect": "allow"}), [("Statement[0].Effect", "'allow' is not")]),
    (
        "Action missing",
        doc({"Effect": "Allow", "Resource": "*"}),
        [("Statement[0].Action", "Action or NotAction is required")],
    ),
    (
        "Action and NotAction",
        doc({**OK, "NotAction": "ecs:X"}),
        [("Statement[0].Action", "either Action or NotAction, not both")],
    ),
    (
        "Action no service",
        doc(allow("RunCommand")),
        [("Statement[0].Action", "'RunCommand' is not an action")],
    ),
    ("Action empty name", doc(allow("ecs:")), [("Statement[0].Action", "'ecs:' is not an action")]),
    ("Action with space", doc(allow("ecs:Run Command")), [("Statement[0].Action", "is not an action")]),
    ("Action regex char", doc(allow("ecs:Run.*")), [("Statement[0].Action", "'ecs:Run.*' is not an action")]),
    ("Action two colons", doc(allow("ecs:a:b")), [("Statement[0].Action", "is not an action")]),
    (
        "Action bad item in list",
        doc(allow(["ecs:A", "bad", "ecs:B"])),
        [("Statement[0].Action[1]", "'bad' is not an action")],
    ),
    (
        "Action number",
        doc(allow(5)),
        [("Statement[0].Action", "must be a string or a list of strings, not a number")],
    ),
    ("Action empty list", doc(allow([])), [("Statement[0].Action", "must not be an empty list")]),
    (
        "Action list with null",
        doc(allow(["ecs:A", None])),
        [("Statement[0].Action[1]", "must be a string, not null")],
    ),
    (
        "Resource missing",
        doc({"Effect": "Allow", "Action": "*"}),
        [("Statement[0].Resource", "Resource or NotResource is required")],
    ),
    (
        "Resource and NotResource",
        doc({**OK, "NotResource": "*"}),
        [("Statement[0].Resource", "either Resource or NotResource")],
    ),
    (
        "Resource not acs",
        doc(allow("*", "arn:aws:s3:::b")),
        [("Statement[0].Resource", "is not a resource ARN")],
    ),
    (
        "Resource too few parts",
        doc(allow("*", "acs:ecs:cn-hangzhou")),
        [("Statement[0].Resource", "is not a resource ARN")],
    ),
    (
        "Resource empty id",
        doc(allow("*", "acs:ecs:*:*:")),
        [("Statement[0].Resource", "is not a resource ARN")],
    ),
    (
        "Resource uppercase service",
        doc(allow("*", "acs:ECS:*:*:instance/*")),
        [("Statement[0].Resource", "is not a resource ARN")],
    ),
    ("Resource with space", doc(allow("*", "acs:ecs:*:*:instance/a b")), [("Statement[0].Resource", "ARN")]),
    (
        "Resource list item",
        doc(allow("*", ["*", "x"])),
        [("Statement[0].Resource[1]", "'x' is not a resource ARN")],
    ),
    ("Resource object", doc(allow("*", {"a": 1})), [("Statement[0].Resource", "not an object")]),
    (
        "Principal in identity policy",
        doc({**OK, "Principal": {"RAM": "x"}}),
        [("Statement[0].Principal", "only allowed in trust policies")],
    ),
    (
        "unknown statement element",
        doc({**OK, "Resources": "*"}),
        [("Statement[0].Resources", "'Resources' is not a statement element")],
    ),
    ("Sid not string", doc({**OK, "Sid": 1}), [("Statement[0].Sid", "must be a string")]),
    (
        "Condition not object",
        doc(allow("*", "*", ["x"])),
        [("Statement[0].Condition", "must be an object, not a list")],
    ),
    (
        "unknown operator",
        doc(allow("*", "*", {"StringContains": {"a:b": "x"}})),
        [("Statement[0].Condition.StringContains", "'StringContains' is not a known condition operator")],
    ),
    (
        "operator case",
        doc(allow("*", "*", {"stringequals": {"a:b": "x"}})),
        [("Statement[0].Condition.stringequals", "not a known condition operator")],
    ),
    (
        "IfExists refused",
        doc(allow("*", "*", {"BoolIfExists": {"acs:MFAPresent": "true"}})),
        [("Statement[0].Condition.BoolIfExists", "not supported by RAM")],
    ),
    (
        "Null refused",
        doc(allow("*", "*", {"Null": {"acs:MFAPresent": "true"}})),
        [("Statement[0].Condition.Null", "not supported by RAM")],
    ),
    (
        "ForAnyValue refused",
        doc(allow("*", "*", {"ForAnyValue:StringEquals": {"a:b": "x"}})),
        [("Statement[0].Condition.ForAnyValue:StringEquals", "not supported by RAM")],
    ),
    (
        "operator clause not object",
        doc(allow("*", "*", {"StringEquals": "x"})),
        [("Statement[0].Condition.StringEquals", "non-empty object")],
    ),
    (
        "operator clause empty",
        doc(allow("*", "*", {"StringEquals": {}})),
        [("Statement[0].Condition.StringEquals", "non-empty object")],
    ),
    (
        "condition key no service",
        doc(allow("*", "*", {"StringEquals": {"SourceIp": "x"}})),
        [("Statement[0].Condition.StringEquals.SourceIp", "is not a condition key")],
    ),
    (
        "condition value number",
        doc(allow("*", "*", {"NumericEquals": {"a:n": 1}})),
        [("Statement[0].Condition.NumericEquals.a:n", "must be a string or a list of strings, not a number")],
    ),
    (
        "condition value bool",
        doc(allow("*", "*", {"Bool": {"acs:SecureTransport": True}})),
        [("Statement[0].Condition.Bool.acs:SecureTransport", "not a boolean")],
    ),
    (
        "condition value object",
        doc(allow("*", "*", {"StringEquals": {"a:b": {"x": "y"}}})),
        [("Statement[0].Condition.StringEquals.a:b", "not an object")],
    ),
    (
        "condition list item not string",
        doc(allow("*", "*", {"StringEquals": {"a:b": ["x", 2]}})),
        [("Statement[0].Condition.StringEquals.a:b[1]", "must be a string, not a number")],
    ),
    (
        "condition empty list",
        doc(allow("*", "*", {"StringEquals": {"a:b": []}})),
        [("Statement[0].Condition.StringEquals.a:b", "must not be an empty list")],
    ),
    (
        "Numeric value not a number",
        doc(allow("*", "*", {"NumericLessThan": {"a:n": "ten"}})),
        [("Statement[0].Condition.NumericLessThan.a:n", "'ten' is not a number")],
    ),
    (
        "Numeric NaN",
        doc(allow("*", "*", {"NumericLessThan": {"a:n": "NaN"}})),
        [("Statement[0].Condition.NumericLessThan.a:n", "is not a number")],
    ),
    (
        "Date not ISO",
        doc(allow("*", "*", {"DateLessThan": {"acs:CurrentTime": "12/08/2019"}})),
        [("Statement[0].Condition.DateLessThan.acs:CurrentTime", "not an ISO 8601 date-time")],
    ),
    (
        "Bool not true/false",
        doc(allow("*", "*", {"Bool": {"acs:SecureTransport": "yes"}})),
        [("Statement[0].Condition.Bool.acs:SecureTransport", '\'yes\' is not "true" or "false"')],
    ),
    (
        "Ip bad, second of list",
        doc(allow("*", "*", {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "10.0.0.300"]}})),
        [("Statement[0].Condition.IpAddress.acs:SourceIp[1]", "not an IP address or CIDR block")],
    ),
    (
        "several problems, several statements",
        {
            "Version": "1",
            "Statement": [
                OK,
                {"Effect": "Maybe", "Action": "x", "Resource": "*"},
                {"Effect": "Deny", "Action": "*", "Resource": "y"},
            ],
        },
        [
            ("Statement[1].Effect", "'Maybe'"),
            ("Statement[1].Action", "'x' is not an action"),
            ("Statement[2].Resource", "'y' is not a resource ARN"),
        ],
    ),
]


@pytest.mark.parametrize(("document", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid(document: Any, expected: list[tuple[str, str]]) -> None:
    errors = policy.validate(document)
    assert [e.path for e in errors] == [path for path, _ in expected], [str(e) for e in errors]
    for error, (_, words) in zip(errors, expected, strict=True):
        assert words in error.message
    with pytest.raises(policy.PolicyDocumentError) as raised:
        policy.parse(document)
    assert raised.value.errors == errors


TRUST_VALID = [
    (
        "account root",
        {
            "Version": "1",
            "Statement": [
                {
                    "Action": "sts:AssumeRole",
                    "Effect": "Allow",
                    "Principal": {"RAM": ["acs:ram::123456789012****:root"]},
                }
            ],
        },
    ),
    (
        "service",
        doc({"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["ecs.aliyuncs.com"]}}),
    ),
    (
        "federated with condition",
        doc(
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Federated": ["acs:ram::1234567890123456:saml-provider/idp"]},
                "Condition": {
                    "StringEquals": {"saml:recipient": "https://signin.alibabacloud.com/saml-role/sso"}
                },
            }
        ),
    ),
]


@pytest.mark.parametrize("document", [c[1] for c in TRUST_VALID], ids=[c[0] for c in TRUST_VALID])
def test_trust_valid(document: Any) -> None:
    assert policy.validate(document, kind="trust") == []


TRUST_INVALID = [
    (
        "Principal missing",
        doc({"Action": "sts:AssumeRole", "Effect": "Allow"}),
        [("Statement[0].Principal", "is required in a trust policy")],
    ),
    (
        "Resource in trust policy",
        doc({**allow("sts:AssumeRole"), "Principal": {"RAM": "x"}}),
        [("Statement[0].Resource", "not allowed in trust policies")],
    ),
    (
        "unknown principal kind",
        doc({"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"AWS": "x"}}),
        [("Statement[0].Principal.AWS", "'AWS' is not RAM, Service or Federated")],
    ),
    (
        "Principal a string",
        doc({"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": "*"}),
        [("Statement[0].Principal", "must be an object")],
    ),
]


@pytest.mark.parametrize(
    ("document", "expected"), [c[1:] for c in TRUST_INVALID], ids=[c[0] for c in TRUST_INVALID]
)
def test_trust_invalid(document: Any, expected: list[tuple[str, str]]) -> None:
    errors = policy.validate(document, kind="trust")
    assert [(e.path, words in e.message) for e, (_, words) in zip(errors, expected, strict=True)] == [
        (path, True) for path, _ in expected
    ]


def test_error_renders_its_place() -> None:
    errors = policy.validate(doc(allow("*", "*", {"IpAddress": {"acs:SourceIp": "nope"}})))
    assert [str(e) for e in errors] == [
        "Statement[0].Condition.IpAddress.acs:SourceIp: 'nope' is not an IP address or CIDR block"
    ]


def test_session_policy_limit() -> None:
    document = json.dumps(doc(allow("*", "*", {"StringEquals": {"a:b": "x" * 2000}})))
    assert policy.validate(document) == []
    assert [str(e) for e in policy.validate(document, max_chars=policy.MAX_SESSION_POLICY_CHARS)] == [
        f"the document has {len(document)} characters; at most 2048"
    ]
