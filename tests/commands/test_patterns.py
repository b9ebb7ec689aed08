"""DescribeCommands' ``*`` wildcards (console.commands.patterns)."""

import pytest

from console.commands.patterns import matches, wildcard_regex

ROWS = [
    ("deploy", "deploy", True),
    ("deploy", "Deploy", False),  # no wildcard: exact
    ("deploy", "deploy-web", False),
    ("deploy*", "deploy-web", True),
    ("deploy*", "Deploy-web", True),  # wildcards ignore case
    ("*web", "deploy-web", True),
    ("*web", "web-deploy", False),
    ("*plo*", "deploy-web", True),
    ("d*y*b", "deploy-web", True),
    ("d*x*b", "deploy-web", False),
    ("*", "", True),
    ("a.c*", "abcd", False),  # regex characters are literal
    ("a.c*", "a.cd", True),
    ("(x)*", "(x)y", True),
    ("a+*", "aa", False),
]


@pytest.mark.parametrize(("pattern", "value", "expected"), ROWS)
def test_matches(pattern, value, expected):
    assert matches(pattern, value) is expected


def test_no_wildcard_means_exact():
    assert wildcard_regex("plain") is None
    assert wildcard_regex("a*") == "^a.*$"
