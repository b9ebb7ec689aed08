#!/bin/sh
# ACS-ECS-ChangeHostname-for-linux.sh: set the machine's host name now and for the next boot, with
# hostnamectl when systemd runs the machine, else by writing /etc/hostname and calling hostname.
# Parameters: hostname (letters, digits and hyphens, dot-separated labels), dry_run (true: print the
# commands and change nothing).
set -eu

new_hostname='{{hostname}}'
dry_run='{{dry_run}}'

run() {
    if [ "$dry_run" = "true" ]; then
        echo "would run: $*"
    else
        echo "running: $*"
        "$@"
    fi
}

echo "current hostname: $(hostname)"
if [ -d /run/systemd/system ] && command -v hostnamectl >/dev/null 2>&1; then
    run hostnamectl set-hostname "$new_hostname"
else
    if [ "$dry_run" = "true" ]; then
        echo "would run: echo $new_hostname > /etc/hostname"
    else
        echo "running: echo $new_hostname > /etc/hostname"
        echo "$new_hostname" > /etc/hostname
    fi
    run hostname "$new_hostname"
fi
echo "done: hostname is $new_hostname"
