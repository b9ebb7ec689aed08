#!/bin/sh
# Removes what install.sh installed: stops the agent, removes its unit, program files and state (docs/install.md).
#
#   curl -fsSL <console>/agent/uninstall.sh | sudo sh -s -- [--prefix /opt/assist-agent] \
#       [--state-dir /var/lib/assist-agent] [--keep-state]
#
# The instance stays registered in the console (deregister it there). ASSIST_SYSTEMCTL and ASSIST_ROOT work
# as in install.sh.
set -eu

SERVER=@ASSIST_SERVER@

# Everything runs from main, called on the last line: a script piped into sh is read whole before any of it
# runs (a cut download runs nothing, and no command can read the rest of the script from stdin).
main() {
    ROOT="${ASSIST_ROOT:-}"
    SYSTEMCTL="${ASSIST_SYSTEMCTL:-systemctl}"
    PREFIX="$ROOT/opt/assist-agent"
    STATE_DIR="$ROOT/var/lib/assist-agent"
    UNIT_DIR="$ROOT/etc/systemd/system"
    SYSTEMD_RUNNING="$ROOT/run/systemd/system"
    LINK_DIR="$ROOT/usr/local/bin"
    UNIT=assist-agent.service
    KEEP_STATE=0

    say() { printf 'assist-agent uninstall: %s\n' "$*" >&2; }
    die() { say "error: $*"; exit 1; }
    need_value() { [ "$#" -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

    while [ "$#" -gt 0 ]; do
        case "$1" in
            --prefix) need_value "$@"; PREFIX="$2"; shift 2 ;;
            --state-dir) need_value "$@"; STATE_DIR="$2"; shift 2 ;;
            --keep-state) KEEP_STATE=1; shift ;;
            -h|--help) sed -n '2,8p' "$0" 2>/dev/null || true; exit 0 ;;
            *) die "unknown option: $1 (see --help)" ;;
        esac
    done

    case "$PREFIX" in /?*) ;; *) die "--prefix must be an absolute path other than /" ;; esac
    case "$STATE_DIR" in /?*) ;; *) die "--state-dir must be an absolute path other than /" ;; esac
    PREFIX="${PREFIX%/}"
    STATE_DIR="${STATE_DIR%/}"

    if [ "$(id -u)" != 0 ] && [ "${ASSIST_ALLOW_NON_ROOT:-}" != 1 ] && [ -z "$ROOT" ]; then
        die "run me as root, e.g. curl -fsSL $SERVER/agent/uninstall.sh | sudo sh"
    fi
    # Refuse to delete a directory install.sh did not make.
    if [ -e "$PREFIX" ] && [ ! -f "$PREFIX/bin/assist-agent" ]; then
        die "$PREFIX does not look like an agent installation (no bin/assist-agent): not removing it"
    fi
    if [ "$KEEP_STATE" = 0 ] && [ -e "$STATE_DIR" ] && [ ! -f "$STATE_DIR/identity.json" ] \
        && [ ! -d "$STATE_DIR/journal" ] && [ -n "$(ls -A "$STATE_DIR" 2>/dev/null)" ]; then
        die "$STATE_DIR does not look like an agent state dir: not removing it (or pass --keep-state)"
    fi

    if [ -f "$UNIT_DIR/$UNIT" ]; then
        say "stopping and disabling $UNIT"
        if [ -d "$SYSTEMD_RUNNING" ]; then
            "$SYSTEMCTL" disable --now "$UNIT" || say "systemctl disable --now $UNIT failed; going on"
        fi
        rm -f "$UNIT_DIR/$UNIT"
        if [ -d "$SYSTEMD_RUNNING" ]; then
            "$SYSTEMCTL" daemon-reload || true
        fi
    fi

    PIDFILE="$STATE_DIR/supervise.pid"
    if [ -f "$PIDFILE" ]; then
        pid="$(cat "$PIDFILE")"
        if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
            # It passes SIGTERM on to the agent and exits once the agent has stopped.
            tries=0
            while kill -0 "$pid" 2>/dev/null && [ "$tries" -lt 15 ]; do sleep 1; tries=$((tries + 1)); done
            say "stopped the agent's supervisor (pid $pid)"
        fi
        rm -f "$PIDFILE"
    fi

    if [ -L "$LINK_DIR/assist-agent" ]; then
        rm -f "$LINK_DIR/assist-agent"
    fi
    rm -rf "$PREFIX"
    say "removed $PREFIX"
    if [ "$KEEP_STATE" = 0 ]; then
        rm -rf "$STATE_DIR"
        say "removed $STATE_DIR (the instance's identity)"
    else
        say "kept $STATE_DIR (--keep-state)"
    fi
    say "done; the instance is still registered in the console at $SERVER: deregister it there"
}

main "$@"
