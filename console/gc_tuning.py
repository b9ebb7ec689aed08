"""The garbage collector of a web node: tuned for thousands of long-lived connections.

A node holding 10,000 agent connections keeps about three million objects alive. CPython's defaults
(a young collection every 700 allocations) promote whatever lives a few milliseconds (a frame being
applied, a task on its way out) to the oldest generation, and once those promotions pass a quarter of the
long-lived objects, a full collection traverses all three million: 1.0-1.7 s of CPU holding the GIL, six of
them during one 10,000-agent fan-out (docs/performance.md, section 2). Young collections every
``YOUNG_THRESHOLD`` allocations let such objects die young instead; what startup built (Django, the URL
configuration, every module) is frozen out of all collections, since it lives as long as the process."""

import gc

YOUNG_THRESHOLD = 50_000  # allocations between young collections (CPython's default: 700)
MIDDLE_THRESHOLD = 20  # young collections between middle ones (default 10)
OLD_THRESHOLD = 10  # middle collections before a full one is considered (default 10)


def tune_for_long_lived_connections() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
