"""The ``*`` wildcards of DescribeCommands' Name and Description filters. Pure (``mypy --strict``).

``*`` matches any run of characters (none included); every other character is literal. A pattern
without ``*`` is an exact match. Matching with ``*`` ignores case (the reference is silent; a search box
that cared about case would surprise an operator).
"""

import re


def wildcard_regex(pattern: str) -> str | None:
    """An anchored regular expression for ``pattern``, or None when it has no ``*`` (exact match)."""
    if "*" not in pattern:
        return None
    return "^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$"


def matches(pattern: str, value: str) -> bool:
    """What the database filter does, in Python (for tests and for in-memory lists)."""
    regex = wildcard_regex(pattern)
    if regex is None:
        return value == pattern
    return re.match(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None
