"""Resource ids: the original's shape (prefix, dash, lowercase letters and digits), unpredictable, and
every character of the alphabet in use at every position."""

import re
from collections import Counter

import pytest

from console.ids import new_id


@pytest.mark.parametrize(("prefix", "length"), [("r", 20), ("t", 20), ("mi", 20), ("c", 12), ("s", 1)])
def test_shape(prefix, length):
    assert re.fullmatch(rf"{prefix}-[a-z0-9]{{{length}}}", new_id(prefix, length))


def test_ids_do_not_repeat_and_use_the_whole_alphabet_everywhere():
    ids = [new_id("r") for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for position in range(2, 22):
        seen = Counter(identifier[position] for identifier in ids)
        assert len(seen) == 36  # 5,000 draws miss one of 36 characters with odds of about 1e-58
