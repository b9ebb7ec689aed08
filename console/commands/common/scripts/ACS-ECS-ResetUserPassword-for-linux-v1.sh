#!/bin/sh
# ACS-ECS-ResetUserPassword-for-linux.sh: set a local user's password with chpasswd. The password is
# never printed. Note: the rendered script (with the password) is kept in the invocation's record.
# Parameters: username (an existing local user), password, dry_run (true: print the command with the
# password masked and change nothing).
set -eu

username='{{username}}'
dry_run='{{dry_run}}'
# A quoted here-document keeps every character of the password literal.
password=$(cat <<'ASSIST_PASSWORD_END'
{{password}}
ASSIST_PASSWORD_END
)

if ! id "$username" >/dev/null 2>&1; then
    echo "error: there is no user named '$username' on this machine" >&2
    exit 2
fi
if [ -z "$password" ]; then
    echo "error: the password must not be empty" >&2
    exit 2
fi
if [ "$dry_run" = "true" ]; then
    echo "would run: echo '$username:********' | chpasswd"
    exit 0
fi
echo "running: echo '$username:********' | chpasswd"
printf '%s:%s\n' "$username" "$password" | chpasswd
echo "done: the password of $username was changed"
