#!/bin/sh
# ACS-ECS-SystemResourceReport-for-linux.sh: a read-only report of CPU, memory and disk use, with the
# processes using the most CPU and memory. Changes nothing.
# Parameters: top (how many processes to list in each table, 1-50).
set -eu

top='{{top}}'

echo "== cpu"
echo "cpus: $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo unknown)"
model=$(awk -F ': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "model: ${model:-unknown}"
echo "load average (1/5/15 min): $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "== memory (kB)"
awk '/^(MemTotal|MemAvailable|SwapTotal|SwapFree):/ { print $1, $2 }' /proc/meminfo
echo "== disk"
df -P -h
echo "== top $top processes by cpu"
ps -eo pid,user,pcpu,pmem,comm --sort=-pcpu | head -n "$((top + 1))"
echo "== top $top processes by memory"
ps -eo pid,user,pcpu,pmem,comm --sort=-pmem | head -n "$((top + 1))"
