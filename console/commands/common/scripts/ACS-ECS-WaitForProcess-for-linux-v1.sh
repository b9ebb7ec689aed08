#!/bin/sh
# ACS-ECS-WaitForProcess-for-linux.sh: wait until a process with the given name runs (exit 0, printing
# its pids), or give up after a time (exit 1). Read-only.
# Parameters: process_name (the executable's name as pgrep -x matches it, at most 15 characters),
# wait_seconds (how long to wait), interval_seconds (how often to look).
set -eu

process_name='{{process_name}}'
wait_seconds='{{wait_seconds}}'
interval_seconds='{{interval_seconds}}'

# Count the seconds slept rather than reading the clock: `date +%s` has whole-second steps, so a
# start just before a step would give up up to a second early.
waited=0
while :; do
    if pids=$(pgrep -x "$process_name"); then
        echo "process $process_name is up: pid(s) $(echo "$pids" | tr '\n' ' ')"
        exit 0
    fi
    if [ "$waited" -ge "$wait_seconds" ]; then
        echo "process $process_name did not start within $wait_seconds seconds" >&2
        exit 1
    fi
    echo "waiting for $process_name (${waited}s of ${wait_seconds}s)"
    sleep "$interval_seconds"
    waited=$((waited + interval_seconds))
done
