#!/bin/sh
# ACS-ECS-InstanceHealthCheck-for-linux.sh, version 1: a read-only health report of the machine
# (uptime, load, root file system, memory). Changes nothing.
set -eu

echo "== health check of $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "uptime: $(uptime)"
echo "load average (1/5/15 min): $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "== root file system"
df -P /
echo "== memory"
free
