#!/bin/sh
# Installs the Assist agent on this machine, registers it with the console and starts it (docs/install.md).
#
#   curl -fsSL <console>/agent/install.sh | sudo sh -s -- --activation-id ID --activation-code CODE \
#       [--name NAME] [--region REGION] [--prefix /opt/assist-agent] [--state-dir /var/lib/assist-agent] \
#       [--no-start] [--server URL]
#
# Needs python3 >= 3.8 and curl. Every external command can be replaced through the environment (for tests
# and unusual systems): ASSIST_PYTHON, ASSIST_CURL, ASSIST_SYSTEMCTL; ASSIST_ROOT is put before every
# system path (a throwaway root), ASSIST_ALLOW_NON_ROOT=1 skips the root check.
#
# Layout: PREFIX/versions/VERSION/assist-agent.pyz, PREFIX/current -> versions/VERSION (switched by
# self-updates), PREFIX/bin/assist-agent (a launcher, never updated, that rolls a failed update back).
set -eu

SERVER=@ASSIST_SERVER@

# Everything runs from main, called on the last line: a script piped into sh is read whole before any of it
# runs (a cut download runs nothing, and no command can read the rest of the script from stdin).
main() {
    ROOT="${ASSIST_ROOT:-}"
    PYTHON="${ASSIST_PYTHON:-python3}"
    CURL="${ASSIST_CURL:-curl}"
    SYSTEMCTL="${ASSIST_SYSTEMCTL:-systemctl}"
    PREFIX="$ROOT/opt/assist-agent"
    STATE_DIR="$ROOT/var/lib/assist-agent"
    UNIT_DIR="$ROOT/etc/systemd/system"
    SYSTEMD_RUNNING="$ROOT/run/systemd/system"
    LINK_DIR="$ROOT/usr/local/bin"
    UNIT=assist-agent.service
    ACTIVATION_ID=""
    ACTIVATION_CODE=""
    NAME=""
    REGION=""
    START=1

    say() { printf 'assist-agent install: %s\n' "$*" >&2; }
    # Printed from here, not read from "$0": piped into sh, $0 is the shell, not this script.
    usage() {
        cat <<USAGE
Installs the Assist agent, registers this machine with $SERVER and starts the agent (run as root):

  curl -fsSL $SERVER/agent/install.sh | sudo sh -s -- --activation-id ID --activation-code CODE [options]

  --activation-id ID, --activation-code CODE
                     the activation to register with (the console's Activations page shows them);
                     not needed to reinstall when the state dir already holds an identity
  --name NAME        the instance name (default: from the activation)
  --region REGION    the region id (default: the activation's)
  --prefix DIR       where the program goes (default: /opt/assist-agent)
  --state-dir DIR    identity, journal and spool (default: /var/lib/assist-agent)
  --no-start         install, register and enable, but do not start
  --server URL       the console to register with (default: $SERVER)

Environment: ASSIST_PYTHON (default python3, 3.8 or newer), ASSIST_CURL, ASSIST_SYSTEMCTL.
Details: docs/install.md; $SERVER/agent/uninstall.sh removes the agent.
USAGE
    }
    die() { say "error: $*"; exit 1; }
    need_value() { [ "$#" -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

    while [ "$#" -gt 0 ]; do
        case "$1" in
            --activation-id) need_value "$@"; ACTIVATION_ID="$2"; shift 2 ;;
            --activation-code) need_value "$@"; ACTIVATION_CODE="$2"; shift 2 ;;
            --name) need_value "$@"; NAME="$2"; shift 2 ;;
            --region) need_value "$@"; REGION="$2"; shift 2 ;;
            --prefix) need_value "$@"; PREFIX="$2"; shift 2 ;;
            --state-dir) need_value "$@"; STATE_DIR="$2"; shift 2 ;;
            --server) need_value "$@"; SERVER="$2"; shift 2 ;;
            --no-start) START=0; shift ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown option: $1 (see --help)" ;;
        esac
    done

    case "$PREFIX" in /?*) ;; *) die "--prefix must be an absolute path other than /" ;; esac
    case "$STATE_DIR" in /?*) ;; *) die "--state-dir must be an absolute path other than /" ;; esac
    PREFIX="${PREFIX%/}"
    STATE_DIR="${STATE_DIR%/}"
    SERVER="${SERVER%/}"
    case "$SERVER" in http://*|https://*) ;; *) die "the console URL must start with http:// or https://: $SERVER" ;; esac

    if [ "$(id -u)" != 0 ] && [ "${ASSIST_ALLOW_NON_ROOT:-}" != 1 ] && [ -z "$ROOT" ]; then
        die "run me as root, e.g. curl -fsSL $SERVER/agent/install.sh | sudo sh -s -- ..."
    fi
    OWNER=""
    if [ "$(id -u)" = 0 ]; then OWNER="-o 0 -g 0"; fi

    if [ ! -f "$STATE_DIR/identity.json" ] && { [ -z "$ACTIVATION_ID" ] || [ -z "$ACTIVATION_CODE" ]; }; then
        die "--activation-id and --activation-code are required (the console's Activations page shows them)"
    fi

    # Python 3.8 or newer: the agent is a zipapp that needs nothing else.
    PYTHON_PATH="$(command -v "$PYTHON" 2>/dev/null)" || die "python3 not found: install Python 3.8 or newer"
    "$PYTHON_PATH" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)' \
        || die "$PYTHON_PATH is older than Python 3.8: install Python 3.8 or newer (or set ASSIST_PYTHON)"
    command -v "$CURL" >/dev/null 2>&1 || die "curl not found"

    umask 022
    TMP="$(mktemp -d "${TMPDIR:-/tmp}/assist-agent-install.XXXXXX")"
    trap 'rm -rf "$TMP"' EXIT
    trap 'exit 130' INT TERM

    say "downloading the agent from $SERVER"
    "$CURL" -fsSL -o "$TMP/assist-agent.pyz" "$SERVER/agent/assist-agent.pyz" || die "cannot download $SERVER/agent/assist-agent.pyz"
    "$CURL" -fsSL -o "$TMP/assist-agent.pyz.sha256" "$SERVER/agent/assist-agent.pyz.sha256" || die "cannot download the checksum"
    EXPECTED="$(cut -d ' ' -f 1 "$TMP/assist-agent.pyz.sha256")"
    ACTUAL="$("$PYTHON_PATH" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$TMP/assist-agent.pyz")"
    [ -n "$EXPECTED" ] && [ "$EXPECTED" = "$ACTUAL" ] || die "checksum mismatch: expected $EXPECTED, got $ACTUAL"
    VERSION="$("$PYTHON_PATH" "$TMP/assist-agent.pyz" --version)" || die "the downloaded agent does not start with $PYTHON_PATH"
    VERSION="${VERSION#assist-agent }"
    case "$VERSION" in ''|*[!0-9A-Za-z.+_-]*) die "the downloaded agent reports a strange version: $VERSION" ;; esac
    "$CURL" -fsSL -o "$TMP/release-key.pub" "$SERVER/agent/release-key.pub" \
        || die "cannot download the console's release key ($SERVER/agent/release-key.pub)"
    grep -q 'BEGIN PUBLIC KEY' "$TMP/release-key.pub" || die "$SERVER/agent/release-key.pub is not a public key"

    say "installing version $VERSION into $PREFIX (state in $STATE_DIR)"
    # shellcheck disable=SC2086 # OWNER is empty or several options
    install -d -m 0755 $OWNER "$PREFIX" "$PREFIX/bin" "$PREFIX/versions" "$PREFIX/versions/$VERSION"
    # shellcheck disable=SC2086
    install -m 0644 $OWNER "$TMP/assist-agent.pyz" "$PREFIX/versions/$VERSION/assist-agent.pyz"
    rm -f "$PREFIX/assist-agent.pyz" "$PREFIX/current.new"  # the layout before self-update; a leftover
    ln -s "versions/$VERSION" "$PREFIX/current.new"
    "$PYTHON_PATH" -c 'import os, sys; os.replace(sys.argv[1], sys.argv[2])' "$PREFIX/current.new" "$PREFIX/current"
    # shellcheck disable=SC2086
    install -d -m 0700 $OWNER "$STATE_DIR"
    chmod 0700 "$STATE_DIR"
    rm -rf "$STATE_DIR/update"  # a fresh install has no pending update
    # shellcheck disable=SC2086
    install -m 0644 $OWNER "$TMP/release-key.pub" "$STATE_DIR/release-key.pub"

    quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

    # The launcher is never updated. It runs PREFIX/current; when a self-update's new version has been
    # started more than ASSIST_AGENT_UPDATE_ATTEMPTS times (default 3) without committing (it commits once
    # the console welcomes it), it points current back at the previous version (docs/install.md).
    {
        printf '#!/bin/sh\n# The Assist agent launcher, installed by %s/agent/install.sh (self-updates never change it).\n' "$SERVER"
        printf 'set -u\nHOME_DIR=%s\nSTATE_DIR=%s\nPYTHON=%s\n' "$(quote "$PREFIX")" "$(quote "$STATE_DIR")" "$(quote "$PYTHON_PATH")"
        cat <<'LAUNCHER'
ASSIST_AGENT_HOME="$HOME_DIR"
ASSIST_AGENT_LAUNCHER="$HOME_DIR/bin/assist-agent"
export ASSIST_AGENT_HOME ASSIST_AGENT_LAUNCHER
UPDATE="$STATE_DIR/update"
if [ "${1:-}" = run ] && [ -f "$UPDATE/pending" ]; then
    new="" previous=""
    read -r new previous <"$UPDATE/pending" || true
    attempts="$(cat "$UPDATE/attempts" 2>/dev/null || true)"
    case "$attempts" in ''|*[!0-9]*) attempts=0 ;; esac
    attempts=$((attempts + 1))
    if [ "$attempts" -gt "${ASSIST_AGENT_UPDATE_ATTEMPTS:-3}" ] && [ -n "$previous" ] \
        && [ -f "$HOME_DIR/versions/$previous/assist-agent.pyz" ]; then
        printf 'assist-agent: version %s did not come online in %s starts; rolling back to %s\n' \
            "$new" "$((attempts - 1))" "$previous" >&2
        rm -f "$HOME_DIR/current.new"
        ln -s "versions/$previous" "$HOME_DIR/current.new"
        "$PYTHON" -c 'import os, sys; os.replace(sys.argv[1], sys.argv[2])' "$HOME_DIR/current.new" "$HOME_DIR/current"
        printf '%s\n' "$new" >"$UPDATE/rolled-back"
        rm -f "$UPDATE/pending" "$UPDATE/attempts"
    else
        printf '%s\n' "$attempts" >"$UPDATE/attempts"
    fi
fi
exec "$PYTHON" "$HOME_DIR/current/assist-agent.pyz" --state-dir "$STATE_DIR" "$@"
LAUNCHER
    } >"$TMP/assist-agent"
    # shellcheck disable=SC2086
    install -m 0755 $OWNER "$TMP/assist-agent" "$PREFIX/bin/assist-agent"

    # Without systemd: starts the supervisor in the background unless it runs already (install and boot).
    {
        printf '#!/bin/sh\n# Starts the Assist agent supervisor in the background unless it runs already.\n'
        printf 'PIDFILE=%s\nLAUNCHER=%s\nLOG=%s\n' "$(quote "$STATE_DIR/supervise.pid")" \
            "$(quote "$PREFIX/bin/assist-agent")" "$(quote "$STATE_DIR/agent.log")"
        cat <<'START'
if [ -f "$PIDFILE" ] && grep -q supervise "/proc/$(cat "$PIDFILE")/cmdline" 2>/dev/null; then exit 0; fi
nohup "$LAUNCHER" supervise >>"$LOG" 2>&1 </dev/null &
echo "$!" >"$PIDFILE"
START
    } >"$TMP/assist-agent-start"
    # shellcheck disable=SC2086
    install -m 0755 $OWNER "$TMP/assist-agent-start" "$PREFIX/bin/assist-agent-start"

    if [ -d "$LINK_DIR" ]; then
        ln -sf "$PREFIX/bin/assist-agent" "$LINK_DIR/assist-agent"
    fi

    if [ -n "$ACTIVATION_ID" ]; then
        say "registering with $SERVER"
        set -- register --server "$SERVER" --activation-id "$ACTIVATION_ID" --activation-code "$ACTIVATION_CODE"
        if [ -n "$NAME" ]; then set -- "$@" --name "$NAME"; fi
        if [ -n "$REGION" ]; then set -- "$@" --region "$REGION"; fi
        "$PREFIX/bin/assist-agent" "$@" || die "registration failed (see above); nothing was started"
    else
        say "already registered ($STATE_DIR/identity.json): keeping that identity"
    fi

    if [ -d "$SYSTEMD_RUNNING" ]; then
        existed=0
        if [ -f "$UNIT_DIR/$UNIT" ]; then existed=1; fi
        mkdir -p "$UNIT_DIR"
        cat >"$TMP/$UNIT" <<EOF
[Unit]
Description=Assist agent (runs the console's commands on this machine)
Documentation=$SERVER/agent/install.sh
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=$PREFIX/bin/assist-agent run
Restart=always
RestartSec=5
# 2: not registered (starting again would not help); 193/194: reserved for power off/reboot (reference 4.10).
# A self-update's switch exits with 75 and is restarted like any other exit.
RestartPreventExitStatus=2 193 194
# Stop only the agent's own process: the commands it runs live in their own sessions, and the agent
# reports them itself when it stops.
KillMode=process
# SIGTERM drains: the agent takes no new task and exits once its running commands have ended and
# reported. A command runs at most 7 days (its Timeout), so the stop waits that long plus a minute for
# the kill and the report, rather than have systemd SIGKILL the agent mid-command.
# 'systemctl kill -s INT assist-agent' (or a second SIGTERM) stops at once, ending commands as interrupted.
TimeoutStopSec=604860
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=multi-user.target
EOF
        install -m 0644 "$TMP/$UNIT" "$UNIT_DIR/$UNIT"
        "$SYSTEMCTL" daemon-reload
        if [ "$START" = 1 ]; then
            if [ "$existed" = 1 ]; then
                "$SYSTEMCTL" enable "$UNIT"
                "$SYSTEMCTL" restart "$UNIT"
            else
                "$SYSTEMCTL" enable --now "$UNIT"
            fi
            say "started: systemctl status $UNIT; logs: journalctl -u $UNIT"
        else
            "$SYSTEMCTL" enable "$UNIT"
            say "installed and enabled, not started (--no-start): systemctl start $UNIT"
        fi
    else
        PIDFILE="$STATE_DIR/supervise.pid"
        START_SCRIPT="$PREFIX/bin/assist-agent-start"
        boot_start
        if [ "$START" = 1 ]; then
            stop_supervisor
            "$START_SCRIPT"
            say "no systemd here: started '$PREFIX/bin/assist-agent supervise' (pid $(cat "$PIDFILE"), log $STATE_DIR/agent.log),"
            say "which starts the agent again whenever it ends."
        else
            say "no systemd here; not started (--no-start): run $START_SCRIPT"
        fi
    fi
    say "done"
}

# A reinstall without systemd: stop the supervisor an earlier install started, and wait until it has ended,
# as 'systemctl restart' does. SIGTERM drains (its agent finishes the running commands first), and starting
# the new one sooner would run two agents on one identity and state dir. The pid is checked to be a
# supervisor (a stale pid file may name another process by now); a zombie has an empty cmdline.
stop_supervisor() {
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    case "$pid" in ''|*[!0-9]*) rm -f "$PIDFILE"; return 0 ;; esac
    if grep -q supervise "/proc/$pid/cmdline" 2>/dev/null && kill "$pid" 2>/dev/null; then
        say "stopping the running agent (supervisor pid $pid): it finishes its running commands first"
        say "(to stop them now instead: kill -INT $pid)"
        while grep -q supervise "/proc/$pid/cmdline" 2>/dev/null; do sleep 1; done
        say "the earlier agent has stopped"
    fi
    rm -f "$PIDFILE"
}

# Without systemd, start the supervisor at boot through what this system has: a cron.d @reboot entry, an
# OpenRC local.d script, or a line in rc.local (uninstall.sh removes each of them).
boot_start() {
    CRON_D="$ROOT/etc/cron.d"
    LOCAL_D="$ROOT/etc/local.d"
    RC_LOCAL="$ROOT/etc/rc.local"
    if [ -d "$CRON_D" ]; then
        printf '# Starts the Assist agent at boot (written by install.sh, removed by uninstall.sh).\n@reboot root %s\n' \
            "$START_SCRIPT" >"$TMP/cron"
        install -m 0644 "$TMP/cron" "$CRON_D/assist-agent"
        say "starts at boot: $CRON_D/assist-agent (@reboot)"
    elif [ -d "$LOCAL_D" ]; then
        printf '#!/bin/sh\n%s\n' "$START_SCRIPT" >"$TMP/local"
        install -m 0755 "$TMP/local" "$LOCAL_D/assist-agent.start"
        say "starts at boot: $LOCAL_D/assist-agent.start (needs OpenRC's local service: rc-update add local default)"
    elif [ -f "$RC_LOCAL" ]; then
        if ! grep -qF "$START_SCRIPT" "$RC_LOCAL"; then
            # Before the final 'exit 0' that Debian's rc.local template ends with.
            awk -v line="$START_SCRIPT # assist-agent" \
                '/^exit 0/ && !done { print line; done = 1 } { print } END { if (!done) print line }' \
                "$RC_LOCAL" >"$TMP/rc.local"
            cat "$TMP/rc.local" >"$RC_LOCAL"
        fi
        say "starts at boot: a line in $RC_LOCAL"
    else
        say "warning: no /etc/cron.d, /etc/local.d or /etc/rc.local: not started at boot; run $START_SCRIPT from your init system"
    fi
}

main "$@"
