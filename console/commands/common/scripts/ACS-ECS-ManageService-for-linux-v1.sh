#!/bin/sh
# ACS-ECS-ManageService-for-linux.sh: start, stop, restart or show the status of a service, with systemd
# when it runs the machine and the SysV "service" tool otherwise.
# Parameters: service (unit name, e.g. nginx or nginx.service), action (start, stop, restart or status),
# dry_run (true: print the command and change nothing; status changes nothing either way).
set -eu

service_name='{{service}}'
action='{{action}}'
dry_run='{{dry_run}}'

case "$action" in
    start | stop | restart | status) ;;
    *)
        echo "error: action must be start, stop, restart or status, not '$action'" >&2
        exit 2
        ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    set -- systemctl "$action" "$service_name"
    if [ "$action" = "status" ]; then
        set -- systemctl status --no-pager "$service_name"
    fi
    echo "service manager: systemd"
elif command -v service >/dev/null 2>&1; then
    set -- service "$service_name" "$action"
    echo "service manager: sysvinit"
else
    echo "error: neither systemctl (with systemd running) nor service was found" >&2
    exit 2
fi

if [ "$dry_run" = "true" ] && [ "$action" != "status" ]; then
    echo "would run: $*"
    exit 0
fi
echo "running: $*"
"$@"
