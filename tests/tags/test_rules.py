"""The tag rules of reference §3.7, one row per rule."""

import pytest

from console.tags import rules


@pytest.mark.parametrize(
    ("pairs", "key_limit", "expected"),
    [
        ([], 64, {}),
        ([{"Key": "env", "Value": "test"}], 64, {"env": "test"}),
        ([{"Key": "env"}], 64, {"env": ""}),
        ([{"Key": "env", "Value": ""}], 64, {"env": ""}),
        ([{"Key": "Env", "Value": "a"}, {"Key": "env", "Value": "b"}], 64, {"Env": "a", "env": "b"}),
        ([{"Key": "k" * 64, "Value": "v" * 128}], 64, {"k" * 64: "v" * 128}),
        ([{"Key": "k" * 128}], 128, {"k" * 128: ""}),
        ([{"Key": f"k{n}"} for n in range(20)], 64, {f"k{n}": "" for n in range(20)}),
        ([{"Key": "中文", "Value": "值"}], 64, {"中文": "值"}),
    ],
)
def test_accepted_tags(pairs, key_limit, expected) -> None:
    assert rules.check_tags(pairs, key_limit=key_limit) == expected


@pytest.mark.parametrize(
    ("pairs", "key_limit", "code"),
    [
        ([{"Key": ""}], 64, "InvalidTagKey.Malformed"),
        ([{"Key": "k" * 65}], 64, "InvalidTagKey.Malformed"),
        ([{"Key": "k" * 129}], 128, "InvalidTagKey.Malformed"),
        ([{"Key": "aliyun-owner"}], 64, "InvalidTagKey.Malformed"),
        ([{"Key": "Aliyun"}], 64, "InvalidTagKey.Malformed"),
        ([{"Key": "acs:rm:rgId"}], 64, "InvalidTagKey.Malformed"),
        ([{"Key": "see https://x"}], 64, "InvalidTagKey.Malformed"),
        ([{"Key": "k", "Value": "v" * 129}], 64, "InvalidTagValue.Malformed"),
        ([{"Key": "k", "Value": "HTTP://x"}], 64, "InvalidTagValue.Malformed"),
        ([{"Value": "v"}], 64, "InvalidParameter.TagValue"),
        ([{"Key": "k"}, {"Key": "k"}], 64, "InvalidTagKey.Duplicate"),
        ([{"Key": f"k{n}"} for n in range(21)], 64, "InvalidTagCount"),
    ],
)
def test_refused_tags(pairs, key_limit, code) -> None:
    with pytest.raises(rules.TagRuleError) as refused:
        rules.check_tags(pairs, key_limit=key_limit)
    assert refused.value.code == code


def test_a_value_can_be_required() -> None:
    with pytest.raises(rules.TagRuleError) as refused:
        rules.check_tags([{"Key": "k"}], require_value=True)
    assert refused.value.code == "MissingParameter.TagValue"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("command", "command"),
        ("Invocation", "invocation"),
        (" ACTIVATION ", "activation"),
        ("ManagedInstance", "managedinstance"),
    ],
)
def test_resource_types(value, expected) -> None:
    assert rules.check_resource_type(value) == expected


@pytest.mark.parametrize("value", ["instance", "", "disk", "commands"])
def test_unknown_resource_types(value) -> None:
    with pytest.raises(rules.TagRuleError) as refused:
        rules.check_resource_type(value)
    assert refused.value.code == "InvalidResourceType.NotSupported"


@pytest.mark.parametrize(
    ("count", "code"), [(0, "MissingParameter.ResourceId"), (51, "InvalidResourceIds.ExceedLimit")]
)
def test_resource_count(count, code) -> None:
    with pytest.raises(rules.TagRuleError) as refused:
        rules.check_resource_count(count)
    assert refused.value.code == code


@pytest.mark.parametrize("count", [1, 50])
def test_resource_count_accepted(count) -> None:
    rules.check_resource_count(count)


@pytest.mark.parametrize(
    ("existing", "added", "allowed"),
    [
        ({}, {f"k{n}": "" for n in range(20)}, True),
        ({f"k{n}": "" for n in range(20)}, {"k0": "new"}, True),  # overwriting does not add
        ({f"k{n}": "" for n in range(20)}, {"k20": ""}, False),
        ({f"k{n}": "" for n in range(15)}, {f"j{n}": "" for n in range(6)}, False),
    ],
)
def test_tags_per_resource(existing, added, allowed) -> None:
    if allowed:
        rules.check_merged_count(existing, added, "mi-1")
    else:
        with pytest.raises(rules.TagRuleError) as refused:
            rules.check_merged_count(existing, added, "mi-1")
        assert refused.value.code == "InvalidTagCount"
