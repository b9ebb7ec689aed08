#!/bin/sh
# ACS-ECS-InstallPatches-for-linux.sh: install pending updates, or only the security ones, with the
# machine's package manager (apt-get, dnf, yum or zypper, detected in that order). Does not reboot.
# Parameters: security_only (true: security updates only), dry_run (true: print the commands and change
# nothing).
set -eu

security_only='{{security_only}}'
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

if [ "$security_only" = "true" ]; then
    case "$manager" in
        apt-get)
            # apt-get has no security filter; unattended-upgrade applies the security origins only.
            if ! command -v unattended-upgrade >/dev/null 2>&1; then
                echo "error: security-only updates on apt need the unattended-upgrades package;" \
                    "install it or run with security_only=false" >&2
                exit 2
            fi
            run env DEBIAN_FRONTEND=noninteractive apt-get update -q
            run unattended-upgrade -v
            ;;
        dnf | yum)
            run "$manager" upgrade -y --security
            ;;
        zypper)
            run zypper --non-interactive refresh
            run zypper --non-interactive patch --category security
            ;;
    esac
else
    case "$manager" in
        apt-get)
            run env DEBIAN_FRONTEND=noninteractive apt-get update -q
            run env DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -q
            ;;
        dnf | yum)
            run "$manager" upgrade -y
            ;;
        zypper)
            run zypper --non-interactive refresh
            run zypper --non-interactive patch
            ;;
    esac
fi
echo "done: updates installed (a reboot may be needed for a new kernel)"
