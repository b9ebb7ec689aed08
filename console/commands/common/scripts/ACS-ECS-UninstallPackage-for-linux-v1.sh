#!/bin/sh
# ACS-ECS-UninstallPackage-for-linux.sh: remove one or more packages with the machine's package manager
# (apt-get, dnf, yum or zypper, detected in that order). Configuration files are kept.
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
        run env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q $packages
        ;;
    dnf | yum)
        run "$manager" remove -y $packages
        ;;
    zypper)
        run zypper --non-interactive remove $packages
        ;;
esac
echo "done: removed $packages"
