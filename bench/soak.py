"""Soak: the fault-injection scenario of tests/reliability/ at a larger size, several rounds, each round
every fault of issue 9 (web, worker, Redis, PostgreSQL, agent kill, network cut) in a seeded order.
Prints the figures the closing note of issue 9 asks for: invocations, faults injected, results lost,
duplicate runs. Needs redis-server and the PostgreSQL binaries (/usr/lib/postgresql/*/bin); it starts
private ones and never touches the machine's services.

    python bench/soak.py [--rounds 3] [--invocations 60] [--agents 4] [--seed 1]
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reliability.harness import FAULTS, have_private_services, run_scenario  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="scenarios to run, each with a new seed")
    parser.add_argument("--invocations", type=int, default=60, help="RunCommands per round (at least)")
    parser.add_argument("--agents", type=int, default=4, help="agents, every invocation targets all")
    parser.add_argument("--faults-per-round", type=int, default=2, help="times each fault is injected")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first round")
    args = parser.parse_args()
    missing = have_private_services()
    if missing:
        print(f"soak needs {missing}", file=sys.stderr)
        return 2
    totals = {"invocations": 0, "results": 0, "faults": 0, "lost": 0, "duplicates": 0, "gaps": 0}
    started = time.monotonic()
    for round_number in range(args.rounds):
        seed = args.seed + round_number
        tmp = tempfile.mkdtemp(prefix="assist-soak-")
        figures = run_scenario(
            Path(tmp),
            seed=seed,
            invocations=args.invocations,
            faults=list(FAULTS) * args.faults_per_round,
            agents=args.agents,
            settle_timeout=180,
        )
        print(figures.summary(), flush=True)
        if figures.problems():
            print(f"  logs and agents' state dirs kept in {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        for name, examples in figures.problems().items():
            print(f"  {name}: {examples}", flush=True)
        totals["invocations"] += figures.invocations
        totals["results"] += figures.results
        totals["faults"] += len(figures.faults)
        totals["lost"] += figures.results_lost
        totals["duplicates"] += len(figures.duplicate_runs)
        totals["gaps"] += len(figures.chunk_gaps)
    print(
        f"soak: {args.rounds} rounds in {time.monotonic() - started:.0f} s: "
        f"{totals['invocations']} invocations, {totals['results']} results, "
        f"faults injected {totals['faults']}, results lost {totals['lost']}, "
        f"duplicate runs {totals['duplicates']}, chunk gaps {totals['gaps']}"
    )
    return 1 if totals["lost"] or totals["duplicates"] or totals["gaps"] else 0


if __name__ == "__main__":
    sys.exit(main())
