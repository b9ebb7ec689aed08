#!/bin/sh
# Removes what install.sh installed: stops the agent, deregisters the instance from the console, removes
# its unit or boot entry, program files and state (docs/install.md).
#
#   curl -fsSL <console>/agent/uninstall.sh | sudo sh -s -- [--prefix /opt/assist-agent] \
#       [--state-dir /var/lib/assist-agent] [--keep-state] [--keep-registration]
#
# --keep-state keeps the identity (and so the registration). ASSIST_SYSTEMCTL and ASSIST_ROOT work as in
# install.sh.
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
    KEEP_REGISTRATION=0

    say() { printf 'assist-agent uninstall: %s\n' "$*" >&2; }
    # Printed from here, not read from "$0": piped into sh, $0 is the shell, not this script.
    usage() {
        cat <<USAGE
Stops the Assist agent, deregisters this machine from $SERVER and removes the agent (run as root):

  curl -fsSL $SERVER/agent/uninstall.sh | sudo sh -s -- [options]

  --prefix DIR          where the program is (default: /opt/assist-agent)
  --state-dir DIR       its identity, journal and spool (default: /var/lib/assist-agent)
  --keep-state          keep the state dir, and so the identity and the registration
  --keep-registration   remove everything but do not deregister from the console

Environment: ASSIST_SYSTEMCTL. Details: docs/install.md.
USAGE
    }
    die() { say "error: $*"; exit 1; }
    need_value() { [ "$#" -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

    while [ "$#" -gt 0 ]; do
        case "$1" in
            --prefix) need_value "$@"; PREFIX="$2"; shift 2 ;;
            --state-dir) need_value "$@"; STATE_DIR="$2"; shift 2 ;;
            --keep-state) KEEP_STATE=1; shift ;;
            --keep-registration) KEEP_REGISTRATION=1; shift ;;
            -h|--help) usage; exit 0 ;;
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
        # Only a supervisor (a stale pid file may name another process by now; a zombie's cmdline is
        # empty). It passes SIGTERM on to the agent, which drains: it finishes its running commands and
        # reports them, then both exit. Wait for that, as 'systemctl disable --now' does, before removing
        # the state dir the agent reports from.
        case "$pid" in ''|*[!0-9]*) pid="" ;; esac
        if [ -n "$pid" ] && grep -q supervise "/proc/$pid/cmdline" 2>/dev/null && kill "$pid" 2>/dev/null; then
            say "stopping the agent (supervisor pid $pid): it finishes its running commands first"
            say "(to stop them now instead: kill -INT $pid)"
            while grep -q supervise "/proc/$pid/cmdline" 2>/dev/null; do sleep 1; done
            say "stopped the agent's supervisor (pid $pid)"
        fi
        rm -f "$PIDFILE"
    fi

    START_SCRIPT="$PREFIX/bin/assist-agent-start"
    for boot_entry in "$ROOT/etc/cron.d/assist-agent" "$ROOT/etc/local.d/assist-agent.start"; do
        if [ -f "$boot_entry" ]; then rm -f "$boot_entry"; say "removed the boot entry $boot_entry"; fi
    done
    RC_LOCAL="$ROOT/etc/rc.local"
    if [ -f "$RC_LOCAL" ] && grep -qF "$START_SCRIPT" "$RC_LOCAL"; then
        TMP="$(mktemp "${TMPDIR:-/tmp}/assist-agent-rc.XXXXXX")"
        grep -vF "$START_SCRIPT" "$RC_LOCAL" >"$TMP" || true
        cat "$TMP" >"$RC_LOCAL"
        rm -f "$TMP"
        say "removed the agent's line from $RC_LOCAL"
    fi

    # Deregister (the agent is stopped by now): the console ends the instance's live results and refuses
    # its credentials. Kept with --keep-state (the identity stays) or --keep-registration.
    DEREGISTERED=0
    if [ "$KEEP_STATE" = 0 ] && [ "$KEEP_REGISTRATION" = 0 ] && [ -f "$STATE_DIR/identity.json" ] \
        && [ -x "$PREFIX/bin/assist-agent" ]; then
        if "$PREFIX/bin/assist-agent" deregister; then
            DEREGISTERED=1
        else
            say "warning: could not deregister from the console (see above): deregister the instance there"
        fi
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
    if [ "$DEREGISTERED" = 1 ]; then
        say "done; the instance is deregistered from the console at $SERVER"
    else
        say "done; the instance is still registered in the console at $SERVER"
    fi
}

main "$@"
