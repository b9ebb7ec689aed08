#!/bin/sh
# ACS-ECS-UpdatePackageFromRepository-for-linux.sh: refresh the package index from the configured
# repositories and upgrade the named packages (only those already installed) to the newest version there,
# with the machine's package manager (apt-get, dnf, yum or zypper, detected in that order).
# Parameters: packages (space-separated names), dry_run (true: print the commands and change nothing).
set -eu

packages='{{packages}}'
dry_run='{{dry_run}}'

run() {
    if [ "$dry_run" = "true" ]; then
        echo "would run: $*"
    else
        echo "running: $*"
        "$@"
    fi
}

manager=""
for candidate in apt-get dnf yum zypper; do
    if command -v "$candidate" >/dev/null 2>&1; then
        manager=$candidate
        break
    fi
done
if [ -z "$manager" ]; then
    echo "error: no supported package manager (apt-get, dnf, yum, zypper) was found" >&2
    exit 2
fi
echo "package manager: $manager"

# The names are split into separate arguments on purpose.
# shellcheck disable=SC2086
case "$manager" in
    apt-get)
        run env DEBIAN_FRONTEND=noninteractive apt-get update -q
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --only-upgrade $packages
        ;;
    dnf | yum)
        run "$manager" makecache
        run "$manager" upgrade -y $packages
        ;;
    zypper)
        run zypper --non-interactive refresh
        run zypper --non-interactive update $packages
        ;;
esac
echo "done: updated $packages"
