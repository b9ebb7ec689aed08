"""The web node's garbage collector (console/gc_tuning.py): set when console.asgi is loaded, and with it a
process holding many long-lived objects no longer runs full collections for objects that only live a
little while (each full collection traverses everything: over a second at 10,000 agent connections)."""

import json
import os
import subprocess
import sys

import pytest

from console import gc_tuning

# A process holding many long-lived objects (as a node holds its connections) that handles bursts of
# objects living a little while (a fan-out's frames in flight until their results come back); prints the
# collections each generation ran.
CHURN = """
import gc, json, sys
from console.gc_tuning import tune_for_long_lived_connections

if sys.argv[1] == "tuned":
    tune_for_long_lived_connections()
runs = [0, 0, 0]


def count(phase, info):
    if phase == "stop":
        runs[info["generation"]] += 1


gc.callbacks.append(count)
held = [[n] for n in range(300_000)]  # lists: always tracked by the collector
for burst in range(40):
    in_flight = [[n] for n in range(30_000)]
    del in_flight
print(json.dumps({"runs": runs, "held": len(held)}))
"""


def _collections(mode: str) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-c", CHURN, mode],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "console.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["runs"]


def test_short_lived_objects_no_longer_cause_full_collections():
    default, tuned = _collections("default"), _collections("tuned")
    assert default[2] >= 3, default  # the problem: full collections over everything held
    assert tuned[2] == 0, tuned
    assert tuned[0] < default[0] / 20  # far fewer young collections too


@pytest.mark.parametrize("module", ["console.asgi"])
def test_the_node_tunes_its_collector_when_it_loads(tmp_path, module):
    probe = (
        f"import gc, json; import {module}; print(json.dumps([gc.get_threshold(), gc.get_freeze_count()]))"
    )
    env = {**os.environ, "ASSIST_DATA_DIR": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    threshold, frozen = json.loads(done.stdout.strip().splitlines()[-1])
    assert threshold == [gc_tuning.YOUNG_THRESHOLD, gc_tuning.MIDDLE_THRESHOLD, gc_tuning.OLD_THRESHOLD]
    assert frozen > 10_000  # what startup built: Django, the URL configuration, the modules
