#!/bin/sh
# ACS-ECS-InstanceHealthCheck-for-linux.sh, version 2: a read-only health report of the machine
# (uptime, load, every local file system, memory, the Assist agent) ending with one verdict line:
# "health: OK", or "health: WARNING" and one line per problem. Changes nothing.
# Parameters: disk_threshold (percent of a file system in use that counts as a problem).
set -eu

disk_threshold='{{disk_threshold}}'
problems=0

warn() {
    echo "problem: $*"
    problems=$((problems + 1))
}

echo "== health check of $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "uptime: $(uptime)"
read -r load1 load5 load15 _rest < /proc/loadavg
cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
echo "load average (1/5/15 min): $load1 $load5 $load15 on $cpus CPU(s)"
if awk -v load="$load5" -v cpus="$cpus" 'BEGIN { exit !(load > 2 * cpus) }'; then
    warn "the 5-minute load $load5 is more than twice the $cpus CPU(s)"
fi

echo "== file systems (threshold ${disk_threshold}%)"
df -P -x tmpfs -x devtmpfs -x overlay -x squashfs 2>/dev/null || df -P
over=$(df -P -x tmpfs -x devtmpfs -x overlay -x squashfs 2>/dev/null \
    | awk -v limit="$disk_threshold" 'NR > 1 { used = $5; sub(/%/, "", used); if (used + 0 >= limit + 0) print $6 " is " $5 " full" }')
if [ -n "$over" ]; then
    echo "$over" | while IFS= read -r line; do echo "problem: $line"; done
    problems=$((problems + $(echo "$over" | wc -l)))
fi

echo "== memory"
free
available_kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
total_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
if [ -n "$available_kb" ] && [ "$((available_kb * 20))" -lt "$total_kb" ]; then
    warn "less than 5% of memory is available ($available_kb kB of $total_kb kB)"
fi

echo "== assist agent"
# The agent's command line: "python -m assist_agent run ..." or ".../bin/assist-agent run".
if pgrep -f 'assist[-_]agent run' >/dev/null 2>&1; then
    echo "agent: running"
else
    warn "no Assist agent process (assist-agent run) is running"
fi

if [ "$problems" -eq 0 ]; then
    echo "health: OK"
else
    echo "health: WARNING ($problems problem(s))"
fi
