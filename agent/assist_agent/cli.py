"""``assist-agent register`` and ``assist-agent run``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from . import __version__


def _import_hiding(module: str, hidden: tuple[str, ...]) -> None:
    """Import ``module`` while the ``hidden`` modules look absent, as in a Python built without them.

    For optional imports the agent never needs, which map shared libraries into every agent on the
    fleet: ``asyncio`` imports ``ssl`` (OpenSSL, about 4.5 MB of resident memory) and ``shutil``
    imports ``bz2`` and ``lzma`` (for archives; about 0.35 MB). Both modules cope with their absence.
    Only names not imported yet are hidden, and only while ``module`` is imported: anything imported
    later gets the real modules.
    """
    if module in sys.modules:
        return
    hide = [name for name in hidden if name not in sys.modules]
    for name in hide:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        __import__(module)
    finally:
        for name in hide:
            sys.modules.pop(name, None)


_import_hiding("shutil", ("bz2", "_bz2", "lzma", "_lzma"))

from .store import Store, default_state_dir  # noqa: E402 - after shutil's import

log = logging.getLogger("assist_agent")


def _fail(message: str, code: int = 1) -> int:
    print(f"assist-agent: {message}", file=sys.stderr)
    return code


def _post_json(url: str, body: dict[str, Any], timeout: float = 30.0) -> tuple[int, Any]:
    """POST a JSON body; return (HTTP status, parsed JSON or None). Network errors raise OSError."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - the scheme is checked by the caller
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": f"assist-agent/{__version__}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def register(args: argparse.Namespace) -> int:
    from . import sysinfo

    server = args.server.rstrip("/")
    if not server.startswith(("http://", "https://")):
        return _fail(f"--server must be an http:// or https:// URL, not {args.server!r}", 2)
    body: dict[str, Any] = {
        "ActivationId": args.activation_id,
        "ActivationCode": args.activation_code,
        "Hostname": sysinfo.hostname(),
        "OsType": sysinfo.os_type(),
        "OsName": sysinfo.os_name(),
        "MachineId": sysinfo.machine_id(),
        "AgentVersion": __version__,
    }
    if args.region:
        body["RegionId"] = args.region
    if args.name:
        body["InstanceName"] = args.name
    url = server + "/agent/register"
    try:
        status, answer = _post_json(url, body)
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        return _fail(f"cannot reach {url}: {reason}")
    if status != 200:
        if isinstance(answer, dict) and "Code" in answer:
            return _fail(f"registration refused: {answer.get('Code')}: {answer.get('Message', '')}")
        return _fail(f"registration failed: HTTP {status} from {url}")
    if not (
        isinstance(answer, dict)
        and isinstance(answer.get("InstanceId"), str)
        and isinstance(answer.get("InstanceSecret"), str)
    ):
        return _fail(f"registration failed: unexpected answer from {url}")
    store = Store(args.state_dir)
    if store.read_identity() is not None:
        log.warning("replacing the identity in %s", store.root)
    identity = {
        "InstanceId": answer["InstanceId"],
        "InstanceSecret": answer["InstanceSecret"],
        "RegionId": str(answer.get("RegionId") or args.region or ""),
        "Server": server,
    }
    try:
        store.write_identity(identity)
    except OSError as exc:
        return _fail(f"cannot write {store.root / 'identity.json'}: {exc}")
    if args.json:
        print(json.dumps({"InstanceId": identity["InstanceId"]}))
    else:
        print(f"registered as {identity['InstanceId']} in region {identity['RegionId']} ({store.root})")
    return 0


def import_runner(server: str) -> Callable[..., int]:
    """Import the asyncio side of the agent for this console URL; return ``runner.run_agent``.

    For an http:// (ws://) console, asyncio is imported with ``ssl`` hidden (see ``_import_hiding``);
    the agent's WebSocket client imports ``ssl`` only for wss://, which needs asyncio's TLS support.
    """
    if server.startswith("http://"):
        _import_hiding("asyncio", ("ssl", "_ssl"))
    from .runner import run_agent

    return run_agent


POWER_ENV = {"poweroff": "ASSIST_AGENT_POWEROFF_COMMAND", "reboot": "ASSIST_AGENT_REBOOT_COMMAND"}


def power_commands(args: argparse.Namespace) -> dict[str, str]:
    """The configured power commands: ``--poweroff-command``/``--reboot-command``, else the environment's
    $ASSIST_AGENT_POWEROFF_COMMAND/$ASSIST_AGENT_REBOOT_COMMAND, else "" (the system's). ValueError names
    a command line that does not split."""
    import shlex

    configured = {}
    for action, env in POWER_ENV.items():
        value = getattr(args, f"{action}_command", None)
        source = f"--{action}-command"
        if value is None:
            value, source = os.environ.get(env, ""), f"${env}"
        try:
            shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"{source} is not a valid command line ({exc}): {value!r}") from None
        configured[action] = value
    return configured


def run(args: argparse.Namespace) -> int:
    try:
        power = power_commands(args)
    except ValueError as exc:
        return _fail(str(exc), 2)
    store = Store(args.state_dir)
    try:
        identity = store.read_identity()
    except (OSError, ValueError) as exc:
        return _fail(f"cannot read {store.root / 'identity.json'}: {exc}")
    if identity is None or not all(k in identity for k in ("InstanceId", "InstanceSecret", "Server")):
        return _fail(f"not registered: no identity in {store.root}; run 'assist-agent register' first", 2)
    run_agent = import_runner(str(identity["Server"]))
    try:
        code: int = run_agent(
            store,
            identity,
            reconnect_initial=args.reconnect_initial,
            reconnect_max=args.reconnect_max,
            power_commands=power,
        )
    except OSError as exc:
        return _fail(f"cannot use the state dir {store.root}: {exc}")
    return code


def deregister(args: argparse.Namespace) -> int:
    """Tell the console this instance is leaving (uninstall.sh calls it): it ends the instance's live
    results and refuses its credentials from then on. Authenticated with the instance's own secret."""
    store = Store(args.state_dir)
    try:
        identity = store.read_identity()
    except (OSError, ValueError) as exc:
        return _fail(f"cannot read {store.root / 'identity.json'}: {exc}")
    if identity is None or not all(k in identity for k in ("InstanceId", "InstanceSecret", "Server")):
        return _fail(f"not registered: no identity in {store.root}", 2)
    url = str(identity["Server"]).rstrip("/") + "/agent/deregister"
    body = {"InstanceId": identity["InstanceId"], "InstanceSecret": identity["InstanceSecret"]}
    try:
        status, answer = _post_json(url, body, timeout=args.timeout)
    except OSError as exc:
        return _fail(f"cannot reach {url}: {getattr(exc, 'reason', exc)}")
    if status != 200:
        if isinstance(answer, dict) and "Code" in answer:
            return _fail(f"deregistration refused: {answer.get('Code')}: {answer.get('Message', '')}")
        return _fail(f"deregistration failed: HTTP {status} from {url}")
    print(f"deregistered {identity['InstanceId']}")
    return 0


RESTART_MIN = 1.0  # supervise: first restart delay (s), doubled per quick exit up to RESTART_MAX
RESTART_MAX = 60.0
STABLE_RUN = 60.0  # a run that lasted this long resets the delay


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def supervise(args: argparse.Namespace) -> int:
    """``run`` in a forked child, started again whenever it ends: the service manager where there is no
    systemd. SIGTERM or SIGINT is passed to the child and, once it has ended, ends the supervisor too.

    The supervisor itself imports no asyncio (the child does, after the fork), so it stays small.
    """
    import signal
    import time

    store = Store(args.state_dir)
    if store.read_identity() is None:
        return _fail(f"not registered: no identity in {store.root}; run 'assist-agent register' first", 2)
    state = {"stopping": False, "child": 0}

    def on_signal(signum: int, _frame: object) -> None:
        state["stopping"] = True
        if state["child"]:
            with suppress(ProcessLookupError):
                os.kill(state["child"], signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    from .update import EXIT_NO_RESTART, EXIT_SWITCHED

    # Installed by install.sh: start each run through the launcher, so that a self-update's switch of
    # <home>/current (and a rollback) takes effect; otherwise run this process's own code.
    launcher = os.environ.get("ASSIST_AGENT_LAUNCHER", "")
    run_argv = [launcher, "run", "--reconnect-initial", str(args.reconnect_initial),
                "--reconnect-max", str(args.reconnect_max)]  # fmt: skip
    for action in POWER_ENV:  # passed on as given; unset ones come from the environment
        if getattr(args, f"{action}_command", None) is not None:
            run_argv += [f"--{action}-command", getattr(args, f"{action}_command")]
    delay = RESTART_MIN
    log.info("supervising the agent (pid %d)", os.getpid())
    while not state["stopping"]:
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the agent
            code = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                if launcher:
                    os.execv(launcher, run_argv)  # noqa: S606 - the launcher install.sh wrote
                code = run(args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                log.exception("the agent failed")
            finally:
                logging.shutdown()
                os._exit(code)
        state["child"] = pid
        if state["stopping"]:  # the signal came between fork() and the line above
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        state["child"] = 0
        code = _exit_code(status)
        if state["stopping"]:
            log.info("the agent stopped (exit code %d); supervisor exiting", code)
            break
        if code in EXIT_NO_RESTART:
            # 2: not registered or a usage error, starting again would not help; 193/194: power actions.
            log.error("the agent exited with code %d; not starting it again", code)
            return code
        if code == EXIT_SWITCHED:  # a self-update switched versions: start the new one now
            log.info("the agent switched versions; starting it again")
            delay = RESTART_MIN / 2
            continue
        delay = RESTART_MIN if time.monotonic() - started >= STABLE_RUN else min(RESTART_MAX, delay * 2)
        log.warning("the agent exited with code %d; starting it again in %g s", code, delay)
        deadline = time.monotonic() + delay
        while not state["stopping"] and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    return 0


def _add_common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """--state-dir and --log-level, accepted before or after the subcommand."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None if top else argparse.SUPPRESS,
        help="state directory (default: $ASSIST_AGENT_STATE_DIR, else /var/lib/assist-agent as root, "
        "else ~/.assist-agent)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO" if top else argparse.SUPPRESS,
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (default INFO); logs go to stderr, one line per event",
    )


def _add_power(parser: argparse.ArgumentParser) -> None:
    for action, what in (("poweroff", "power off"), ("reboot", "reboot")):
        parser.add_argument(
            f"--{action}-command",
            default=None,
            metavar="COMMAND",
            help=f"command line that {what}s the machine when a script exits with the code asking for it "
            f"(default: ${POWER_ENV[action]}, else the system's: systemctl {action}, then shutdown)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assist-agent", description="The Assist machine agent.")
    parser.add_argument("--version", action="version", version=f"assist-agent {__version__}")
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)

    reg = sub.add_parser("register", help="register this machine with an activation code")
    reg.add_argument("--server", required=True, help="console URL, e.g. https://assist.example.com")
    reg.add_argument("--activation-id", required=True)
    reg.add_argument("--activation-code", required=True)
    reg.add_argument("--region", default="", help="region id (default: the activation's)")
    reg.add_argument("--name", default="", help="instance name (default: from the activation)")
    reg.add_argument("--json", action="store_true", help='print {"InstanceId": ...} only')
    _add_common(reg, top=False)
    reg.set_defaults(func=register)

    runp = sub.add_parser("run", help="connect to the console and run tasks (until SIGTERM)")
    runp.add_argument("--reconnect-initial", type=float, default=1.0, help="first reconnect delay cap (s)")
    runp.add_argument("--reconnect-max", type=float, default=60.0, help="largest reconnect delay cap (s)")
    _add_power(runp)
    _add_common(runp, top=False)
    runp.set_defaults(func=run)

    dereg = sub.add_parser("deregister", help="tell the console this instance is leaving (uninstall does)")
    dereg.add_argument("--timeout", type=float, default=15.0, help="HTTP timeout (s)")
    _add_common(dereg, top=False)
    dereg.set_defaults(func=deregister)

    sup = sub.add_parser(
        "supervise", help="run the agent and start it again whenever it ends (where there is no systemd)"
    )
    sup.add_argument("--reconnect-initial", type=float, default=1.0, help="as for run")
    sup.add_argument("--reconnect-max", type=float, default=60.0, help="as for run")
    _add_power(sup)
    _add_common(sup, top=False)
    sup.set_defaults(func=supervise)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.state_dir is None:
        args.state_dir = default_state_dir()
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
