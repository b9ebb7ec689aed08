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
            -h|--help) sed -n '2,10p' "$0" 2>/dev/null || true; exit 0 ;;
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
    "$PYTHON_PATH" "$TMP/assist-agent.pyz" --version >/dev/null || die "the downloaded agent does not start with $PYTHON_PATH"

    say "installing into $PREFIX (state in $STATE_DIR)"
    # shellcheck disable=SC2086 # OWNER is empty or several options
    install -d -m 0755 $OWNER "$PREFIX" "$PREFIX/bin"
    # shellcheck disable=SC2086
    install -m 0644 $OWNER "$TMP/assist-agent.pyz" "$PREFIX/assist-agent.pyz"
    # shellcheck disable=SC2086
    install -d -m 0700 $OWNER "$STATE_DIR"
    chmod 0700 "$STATE_DIR"

    quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

    cat >"$TMP/assist-agent" <<EOF
#!/bin/sh
# The Assist agent (installed by $SERVER/agent/install.sh); its state is in $STATE_DIR.
exec $(quote "$PYTHON_PATH") $(quote "$PREFIX/assist-agent.pyz") --state-dir $(quote "$STATE_DIR") "\$@"
EOF
    # shellcheck disable=SC2086
    install -m 0755 $OWNER "$TMP/assist-agent" "$PREFIX/bin/assist-agent"

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
# Stop only the agent's own process: the commands it runs live in their own sessions, and the agent
# reports them itself when it stops.
KillMode=process
TimeoutStopSec=30
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
        if [ "$START" = 1 ]; then
            if [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null; then sleep 1; fi
            nohup "$PREFIX/bin/assist-agent" supervise >>"$STATE_DIR/agent.log" 2>&1 </dev/null &
            echo "$!" >"$PIDFILE"
            say "no systemd here: started '$PREFIX/bin/assist-agent supervise' (pid $!, log $STATE_DIR/agent.log),"
            say "which starts the agent again whenever it ends. Not after a reboot: add it to your init system."
        else
            say "no systemd here; not started (--no-start): run '$PREFIX/bin/assist-agent supervise' in the background"
        fi
    fi
    say "done"
}

main "$@"
