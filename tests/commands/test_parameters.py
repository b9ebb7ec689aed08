"""Parameter placeholders, passed values and rendering (console.commands.parameters): one row per rule."""

import pytest

from console.commands import parameters as p
from console.errors import ServiceError

BUILTINS = {
    "ACS::RegionId": "local",
    "ACS::AccountId": "1234",
    "ACS::InstanceId": "mi-abc",
    "ACS::InstanceName": "web-1",
    "ACS::InvokeId": "t-xyz",
    "ACS::CommandId": "c-123",
}

PARSED = [
    pytest.param("echo hi", (), (), id="no placeholders"),
    pytest.param("echo {{name}}", ("name",), (), id="one name"),
    pytest.param("echo {{ name }} {{\n\tname\n}}", ("name",), (), id="whitespace and newlines ignored"),
    pytest.param("{{Name}} {{NAME}} {{name}}", ("Name",), (), id="case-insensitive, first spelling kept"),
    pytest.param("{{b}} {{a}} {{b}}", ("b", "a"), (), id="order of first appearance"),
    pytest.param("{{a-b_C9}}", ("a-b_C9",), (), id="letters digits hyphen underscore"),
    pytest.param("{{{x}}}", ("x",), (), id="extra braces stay literal"),
    pytest.param("{{ACS::InstanceId}} {{acs::instanceid}}", (), ("ACS::InstanceId",), id="built-in any case"),
    pytest.param(
        "".join(
            f"{{{{ACS::{n}}}}}"
            for n in ("RegionId", "AccountId", "InstanceId", "InstanceName", "InvokeId", "CommandId")
        ),
        (),
        tuple(BUILTINS),
        id="all six built-ins",
    ),  # fmt: skip
    pytest.param(
        " ".join(f"{{{{n{i}}}}}" for i in range(20)),
        tuple(f"n{i}" for i in range(20)),
        (),
        id="20 names allowed",
    ),  # fmt: skip
    pytest.param(
        " ".join(f"{{{{ACS::InstanceId}}}} {{{{n{i}}}}}" for i in range(20)),
        tuple(f"n{i}" for i in range(20)),
        ("ACS::InstanceId",),
        id="built-ins do not count toward 20",
    ),  # fmt: skip
    pytest.param("{{" + "a" * 64 + "}}", ("a" * 64,), (), id="64-byte name"),
    pytest.param("{ {x} } {x}} {{x", (), (), id="no complete placeholder"),
]


@pytest.mark.parametrize(("content", "names", "builtins"), PARSED)
def test_parse(content, names, builtins):
    template = p.parse(content)
    assert (template.names, template.builtins, template.enabled) == (names, builtins, True)


PARSE_REFUSED = [
    pytest.param("echo {{}}", 403, "CmdParam.EmptyKey", "has no name", id="empty"),
    pytest.param("echo {{ \n }}", 403, "CmdParam.EmptyKey", "line 1", id="blank"),
    pytest.param("a\nb\n{{ }}", 403, "CmdParam.EmptyKey", "line 3", id="line number"),
    pytest.param("{{a b}}", 403, "CmdParam.InvalidParamName", "only letters", id="space inside"),
    pytest.param("{{.State.Running}}", 403, "CmdParam.InvalidParamName", ".State", id="go template"),
    pytest.param("{{naïve}}", 403, "CmdParam.InvalidParamName", "naïve", id="non-ascii"),
    pytest.param("{{oos:secret}}", 403, "CmdParam.InvalidParamName", "oos", id="parameter store"),
    pytest.param("{{ACS::Nope}}", 403, "CmdParam.InvalidParamName", "reserved", id="unknown built-in"),
    pytest.param("{{acs::}}", 403, "CmdParam.InvalidParamName", "reserved", id="bare prefix"),
    pytest.param("{{" + "a" * 65 + "}}", 403, "CmdParamName.ExceedLimit", "65", id="65-byte name"),
    pytest.param(
        " ".join(f"{{{{n{i}}}}}" for i in range(21)), 403, "CmdParamCount.ExceedLimit", "21", id="21 names"
    ),  # fmt: skip
]


@pytest.mark.parametrize(("content", "status", "code", "message"), PARSE_REFUSED)
def test_parse_refused(content, status, code, message):
    with pytest.raises(ServiceError) as refused:
        p.parse(content)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert message in refused.value.message


def test_disabled_content_is_not_parsed():
    template = p.parse("echo {{}} {{.x}} {{ACS::InstanceId}}", enabled=False)
    assert (template.enabled, template.names, template.builtins) == (False, (), ())
    assert p.render(template, {}, BUILTINS) == "echo {{}} {{.x}} {{ACS::InstanceId}}"


VALUES = [
    pytest.param("{{a}}", None, {}, id="no values"),
    pytest.param("{{a}}", {}, {}, id="empty object"),
    pytest.param("{{a}}", {"a": "x"}, {"a": "x"}, id="string"),
    pytest.param("{{a}}", {"A": "x"}, {"a": "x"}, id="key case-insensitive"),
    pytest.param("{{a}}", {"a": ""}, {"a": ""}, id="empty value"),
    pytest.param("{{a}}", {"a": 3}, {"a": "3"}, id="integer"),
    pytest.param("{{a}}", {"a": 1.5}, {"a": "1.5"}, id="float"),
    pytest.param("{{a}}", {"a": True}, {"a": "true"}, id="true"),
    pytest.param("{{a}}", {"a": False}, {"a": "false"}, id="false"),
    pytest.param(
        " ".join(f"{{{{n{i}}}}}" for i in range(20)),
        {f"n{i}": i for i in range(10)},
        {f"n{i}": str(i) for i in range(10)},
        id="10 values",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("content", "values", "texts"), VALUES)
def test_check_values(content, values, texts):
    assert p.check_values(p.parse(content), values) == texts


VALUES_REFUSED = [
    pytest.param("{{a}}", False, {"a": "x"}, 404, "Parameter.Disabled", "EnableParameter", id="disabled"),
    pytest.param(
        " ".join(f"{{{{n{i}}}}}" for i in range(20)),
        True,
        {f"n{i}": "v" for i in range(11)},
        403,
        "ParameterCount.ExceedLimit",
        "11",
        id="11 values",
    ),  # fmt: skip
    pytest.param("{{a}}", True, {"": "x"}, 403, "CmdParam.EmptyKey", "empty name", id="empty key"),
    pytest.param("{{a}}", True, {"a" * 65: "x"}, 403, "ParameterKey.ExceedLimit", "65", id="long key"),
    pytest.param("{{a}}", True, {"a": "1", "A": "2"}, 403, "ParameterKey.Duplicate", "'A'", id="dup case"),
    pytest.param(
        "{{a}}", True, {"b": "x"}, 403, "Parameter.NotMatched", "parameters: a", id="not in content"
    ),
    pytest.param("echo", True, {"b": "x"}, 403, "Parameter.NotMatched", "parameters: none", id="no names"),
    pytest.param(
        "{{ACS::InstanceId}}",
        True,
        {"ACS::InstanceId": "x"},
        403,
        "Parameter.NotMatched",
        "ACS::InstanceId",
        id="built-in cannot be set",
    ),  # fmt: skip
    pytest.param("{{a}}", True, {"a": None}, 403, "ParameterType.NotSupported", "NoneType", id="null"),
    pytest.param("{{a}}", True, {"a": [1]}, 403, "ParameterType.NotSupported", "list", id="array"),
    pytest.param("{{a}}", True, {"a": {"b": 1}}, 403, "ParameterType.NotSupported", "dict", id="object"),
]


@pytest.mark.parametrize(("content", "enabled", "values", "status", "code", "message"), VALUES_REFUSED)
def test_check_values_refused(content, enabled, values, status, code, message):
    with pytest.raises(ServiceError) as refused:
        p.check_values(p.parse(content, enabled=enabled), values)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert message in refused.value.message


JSON = [
    pytest.param("", {}, id="absent"),
    pytest.param("  ", {}, id="blank"),
    pytest.param("{}", {}, id="empty object"),
    pytest.param('{"a": "x", "b": 2, "c": true}', {"a": "x", "b": 2, "c": True}, id="scalars"),
    pytest.param('{"a": "中文 {{b}}"}', {"a": "中文 {{b}}"}, id="unicode"),
]


@pytest.mark.parametrize(("text", "parsed"), JSON)
def test_parse_values_json(text, parsed):
    assert p.parse_values_json(text) == parsed


JSON_REFUSED = [
    pytest.param("{'a': 'x'}", "InvalidParameter.Parameters", id="python repr"),
    pytest.param("[1]", "InvalidParameter.Parameters", id="array"),
    pytest.param('"a"', "InvalidParameter.Parameters", id="string"),
    pytest.param('{"a": NaN}', "InvalidParameter.Parameters", id="NaN"),
    pytest.param('{"a": 1, "a": 2}', "ParameterKey.Duplicate", id="duplicate key"),
]


@pytest.mark.parametrize(("text", "code"), JSON_REFUSED)
def test_parse_values_json_refused(text, code):
    with pytest.raises(ServiceError) as refused:
        p.parse_values_json(text)
    assert refused.value.code == code and refused.value.message


RENDERED = [
    pytest.param("echo {{name}}", {"name": "Jack"}, None, "echo Jack", id="the doc's example"),
    pytest.param("{{ name }}-{{NAME}}", {"name": "x"}, None, "x-x", id="every spelling replaced"),
    pytest.param("echo [{{a}}]", {}, None, "echo []", id="missing value is empty"),
    pytest.param("echo [{{a}}]", {}, {"A": "dflt"}, "echo [dflt]", id="missing value takes default"),
    pytest.param("echo [{{a}}]", {"a": ""}, {"a": "dflt"}, "echo []", id="given empty beats default"),
    pytest.param("{{a}}", {"a": "{{b}}"}, None, "{{b}}", id="one pass: values not re-rendered"),
    pytest.param("{{a}}", {"a": "$(id) `x` 'q'"}, None, "$(id) `x` 'q'", id="value used as it is"),
    pytest.param("{{{a}}}", {"a": "x"}, None, "{x}", id="outer braces literal"),
    pytest.param("{{ACS::InstanceId}}/{{acs::instancename}}", {}, None, "mi-abc/web-1", id="built-ins"),
    pytest.param(
        "{{ACS::RegionId}} {{ACS::AccountId}} {{ACS::InvokeId}} {{ACS::CommandId}}",
        {},
        None,
        "local 1234 t-xyz c-123",
        id="other built-ins",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("content", "values", "defaults", "rendered"), RENDERED)
def test_render(content, values, defaults, rendered):
    assert p.render(p.parse(content), values, BUILTINS, defaults) == rendered


@pytest.mark.parametrize(
    ("text", "size"), [("", 0), ("a", 4), ("abc", 4), ("abcd", 8), ("é", 4), ("x" * 18432, 24576)]
)
def test_base64_size(text, size):
    assert p.base64_size(text) == size


def test_rendered_size_limit():
    assert p.check_rendered_size("x" * 18432, 24576) == "x" * 18432
    with pytest.raises(ServiceError) as refused:
        p.check_rendered_size("x" * 18433, 24576, "instance mi-abc")
    assert (refused.value.status, refused.value.code) == (403, "CmdContent.ExceedLimit")
    assert "instance mi-abc" in refused.value.message and "24580" in refused.value.message


def test_names_in_tolerates_bad_content():
    assert p.names_in("{{a}} {{b}}") == ("a", "b")
    assert p.names_in("{{a b}}") == ()
