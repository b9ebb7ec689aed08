"""Self-update: the console offers a version, the agent downloads, verifies and installs it side by side,
waits until no command runs, switches and exits so that its supervisor starts the new version.

The installed layout (written by install.sh, docs/install.md)::

    <home>/bin/assist-agent                the launcher (POSIX sh, never updated): runs <home>/current
    <home>/current -> versions/<version>   switched atomically (a symlink replaced by rename)
    <home>/versions/<version>/assist-agent.pyz
    <state>/release-key.pub                the console's Ed25519 release key (PEM), fetched at install
    <state>/update/pending                 "<new> <previous>": a switch not yet committed
    <state>/update/attempts                how often the launcher started the pending version
    <state>/update/rolled-back             "<version>": the launcher switched back from it

The new version commits the switch (removes ``pending``) once the console welcomes it. If it cannot start
or cannot come online (it exits with a failure after ``COMMIT_TIMEOUT``), the launcher counts its
attempts and, past the limit, points ``current`` back at the previous version and leaves ``rolled-back``;
that version then reports ``rolled_back`` and the console stops offering the failed one to the instance.

Everything here but ``Updater`` (which the runner drives) is pure or plain file I/O, tested on its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable

from . import __version__, protocol

log = logging.getLogger("assist_agent")

# Exit code of an agent that switched versions: its supervisor starts it again at once (and so does
# systemd's Restart=always). Exit codes 193 and 194 are reserved for power actions (reference 4.10): the
# unit's RestartPreventExitStatus and ``assist-agent supervise`` do not restart after them.
EXIT_SWITCHED = 75
EXIT_NO_RESTART = (2, 193, 194)

MAX_RELEASE_BYTES = 64 << 20
HOME_ENV = "ASSIST_AGENT_HOME"  # set by the launcher: the install prefix
CHECK_INTERVAL_ENV = "ASSIST_AGENT_UPDATE_CHECK_INTERVAL"
COMMIT_TIMEOUT_ENV = "ASSIST_AGENT_UPDATE_COMMIT_TIMEOUT"
CHECK_INTERVAL = 3600.0  # seconds between update.check frames
COMMIT_TIMEOUT = 120.0  # a pending version not welcomed by then exits with a failure
IDLE_POLL = 2.0

_VERSION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}")

# --- versions -------------------------------------------------------------------------------------------


def is_valid_version(value: object) -> bool:
    """1-32 characters of ``[0-9A-Za-z.+_-]``, starting with a letter or digit (it names a directory)."""
    return isinstance(value, str) and _VERSION_RE.fullmatch(value) is not None


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key: dot/dash-separated parts, numbers numerically, numbers above words in the same place
    (``1.2.10 > 1.2.9``, ``1.0 < 1.0.1``, ``1.0rc1 < 1.0``); the part after ``+`` is ignored."""
    parts: list[tuple[int, int | str]] = []
    for piece in re.split(r"[.\-_]", version.split("+", 1)[0]):
        for token in re.findall(r"\d+|[A-Za-z]+", piece):
            parts.append((1, int(token)) if token.isdigit() else (0, token.lower()))
    # A release (no trailing word) sorts after its pre-releases: 1.0 > 1.0rc1.
    parts.append((1, -1) if not parts or parts[-1][0] == 1 else (0, ""))
    return tuple(parts)


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is older than, the same as or newer than ``b``."""
    ka, kb = version_key(a), version_key(b)
    return (ka > kb) - (ka < kb)


# --- what the console signs -----------------------------------------------------------------------------


def release_statement(version: str, sha256: str, size: int) -> bytes:
    """The bytes the console's release key signs: binds the digest and size to the version name."""
    return f"assist-agent release v1\nversion={version}\nsha256={sha256}\nsize={size}\n".encode()


class UpdateError(Exception):
    """A step of an update failed; ``str()`` is the detail reported to the console."""


def verify_release(data: bytes, offer: protocol.UpdateOffer, public_key: bytes) -> None:
    """Size, SHA-256 and the Ed25519 signature over ``release_statement``. Raises ``UpdateError``."""
    import hashlib  # here, not at the top: hashlib maps OpenSSL into the agent

    from . import ed25519  # its curve constants take a few ms to compute: only when an update comes

    if len(data) != offer.size:
        raise UpdateError(f"size mismatch: expected {offer.size} bytes, got {len(data)}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != offer.sha256:
        raise UpdateError(f"SHA-256 mismatch: expected {offer.sha256}, got {digest}")
    if not ed25519.verify(
        public_key, release_statement(offer.version, offer.sha256, offer.size), offer.signature
    ):
        raise UpdateError("bad signature: not signed by the console's release key")


# --- the update state machine (pure) --------------------------------------------------------------------

IDLE = "idle"
DOWNLOADING = protocol.UPDATE_DOWNLOADING
VERIFYING = protocol.UPDATE_VERIFYING
INSTALLED = protocol.UPDATE_INSTALLED
SWITCHING = protocol.UPDATE_SWITCHING
FAILED = protocol.UPDATE_FAILED

# (state, event) -> next state. Events: offer (a new version offered), downloaded, verified, error,
# agent_idle (no command runs). Anything not listed is ignored (the state stays).
TRANSITIONS: dict[tuple[str, str], str] = {
    (IDLE, "offer"): DOWNLOADING,
    (FAILED, "offer"): DOWNLOADING,
    (INSTALLED, "offer"): DOWNLOADING,  # the target changed while we waited for the commands to end
    (DOWNLOADING, "downloaded"): VERIFYING,
    (DOWNLOADING, "error"): FAILED,
    (VERIFYING, "verified"): INSTALLED,
    (VERIFYING, "error"): FAILED,
    (INSTALLED, "agent_idle"): SWITCHING,
}


def next_state(state: str, event: str) -> str:
    return TRANSITIONS.get((state, event), state)


def wants_offer(*, running_version: str, offered: str, state: str, working_on: str) -> bool:
    """Whether an ``update.offer`` of ``offered`` starts (or restarts) an update."""
    if offered == running_version or state == SWITCHING:
        return False
    if state in (DOWNLOADING, VERIFYING):
        return False  # one download at a time; the next check offers again if the target moved
    if state == INSTALLED and offered == working_on:
        return False
    return True


# --- the install layout ---------------------------------------------------------------------------------


class Layout:
    def __init__(self, home: Path, state_dir: Path) -> None:
        self.home = Path(home)
        self.state_dir = Path(state_dir)
        self.versions = self.home / "versions"
        self.current = self.home / "current"
        self.update_dir = self.state_dir / "update"
        self.pending = self.update_dir / "pending"
        self.attempts = self.update_dir / "attempts"
        self.rolled_back = self.update_dir / "rolled-back"
        self.public_key = self.state_dir / "release-key.pub"

    @classmethod
    def from_environment(cls, state_dir: Path) -> Layout | None:
        home = os.environ.get(HOME_ENV, "")
        return cls(Path(home), state_dir) if home else None

    def pyz(self, version: str) -> Path:
        return self.versions / version / "assist-agent.pyz"

    def read_public_key(self) -> bytes:
        from . import ed25519

        try:
            return ed25519.public_key_from_pem(self.public_key.read_text("ascii"))
        except (OSError, UnicodeDecodeError, ed25519.InvalidKey) as exc:
            raise UpdateError(f"no usable release key in {self.public_key}: {exc}") from None

    def install(self, version: str, data: bytes) -> Path:
        """Write ``versions/<version>/assist-agent.pyz`` (complete or not at all)."""
        target = self.pyz(version)
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with open(partial, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(partial, 0o644)
        os.replace(partial, target)
        return target

    def current_version(self) -> str:
        try:
            return os.readlink(self.current).rstrip("/").rsplit("/", 1)[-1]
        except OSError:
            return ""

    def switch(self, version: str, previous: str) -> None:
        """Mark the switch pending, then point ``current`` at ``version`` atomically."""
        self.update_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_atomically(self.pending, f"{version} {previous}\n")
        _unlink(self.attempts)
        link = self.current.with_name("current.new")
        _unlink(link)
        os.symlink(f"versions/{version}", link)
        os.replace(link, self.current)

    def read_pending(self) -> tuple[str, str] | None:
        try:
            words = self.pending.read_text("utf-8").split()
        except OSError:
            return None
        if len(words) != 2:
            return None
        return words[0], words[1]

    def commit(self, version: str) -> bool:
        """The pending switch to ``version`` came online: forget it, keep only current and previous."""
        pending = self.read_pending()
        if pending is None or pending[0] != version:
            return False
        _unlink(self.pending)
        _unlink(self.attempts)
        keep = {pending[0], pending[1]}
        if self.versions.is_dir():
            for entry in self.versions.iterdir():
                if entry.name not in keep and entry.is_dir():
                    for child in entry.iterdir():
                        _unlink(child)
                    try:
                        entry.rmdir()
                    except OSError:
                        pass
        return True

    def take_rolled_back(self) -> str | None:
        try:
            version = self.rolled_back.read_text("utf-8").strip()
        except OSError:
            return None
        _unlink(self.rolled_back)
        return version or None


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".tmp")
    with open(partial, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


# --- downloading ----------------------------------------------------------------------------------------


def download(
    server: str, identity: dict[str, Any], offer: protocol.UpdateOffer, timeout: float = 60.0
) -> bytes:
    """GET the offered release from the console, authenticated as this instance (blocking)."""
    import urllib.error
    import urllib.request

    url = server.rstrip("/") + offer.url
    request = urllib.request.Request(  # noqa: S310 - the server URL is http(s), from identity.json
        url,
        headers={
            "User-Agent": f"assist-agent/{__version__}",
            "X-Assist-Instance-Id": str(identity["InstanceId"]),
            "X-Assist-Instance-Secret": str(identity["InstanceSecret"]),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data: bytes = response.read(min(offer.size, MAX_RELEASE_BYTES) + 1)
    except urllib.error.HTTPError as exc:
        raise UpdateError(f"download refused: HTTP {exc.code} from {url}") from None
    except OSError as exc:
        raise UpdateError(f"download failed: {getattr(exc, 'reason', exc)}") from None
    return data


# --- the agent's side, driven by the runner -------------------------------------------------------------


class Updater:
    """One agent process's update work. The runner calls ``on_welcome``, ``on_offer``, ``poke`` (after a
    task ends) and ``stopping``; the updater calls ``send`` (a frame to the console), ``is_idle`` and
    ``exit`` (stop the agent with an exit code)."""

    def __init__(
        self,
        state_dir: Path,
        identity: dict[str, Any],
        *,
        send: Callable[[Any], None],
        is_idle: Callable[[], bool],
        exit: Callable[[int], None],
        layout: Layout | None = None,
    ) -> None:
        self.identity = identity
        self.server = str(identity["Server"])
        self.layout = layout if layout is not None else Layout.from_environment(Path(state_dir))
        self.send = send
        self.is_idle = is_idle
        self.exit = exit
        self.state = IDLE
        self.working_on = ""
        self.committed = False
        self.check_interval = _env_seconds(CHECK_INTERVAL_ENV, CHECK_INTERVAL)
        self.commit_timeout = _env_seconds(COMMIT_TIMEOUT_ENV, COMMIT_TIMEOUT)
        self._jobs: set[Any] = set()
        self._checker: asyncio.Task[Any] | None = None

    @property
    def switching(self) -> bool:
        return self.state == SWITCHING

    def _spawn(self, coro: Any) -> None:
        job = asyncio.ensure_future(coro)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    def _report(self, state: str, version: str, detail: str = "") -> None:
        log.info("update %s: %s%s", version, state, f" ({detail})" if detail else "")
        self.send(protocol.UpdateStatus(state=state, version=version, detail=detail[:500]))

    # at start ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """If this process is a pending version, it must come online within ``commit_timeout``."""
        if self.layout is None:
            return
        pending = self.layout.read_pending()
        if pending is not None and pending[0] == __version__:
            self._spawn(self._commit_deadline())

    async def _commit_deadline(self) -> None:
        await asyncio.sleep(self.commit_timeout)
        if not self.committed:
            log.error("version %s did not come online within %g s; exiting", __version__, self.commit_timeout)
            self.exit(1)

    # per connection --------------------------------------------------------------------------------

    def on_welcome(self) -> None:
        if self.layout is not None:
            if self.layout.commit(__version__):
                self.committed = True
                self._report(protocol.UPDATE_COMMITTED, __version__, "online after the switch")
            failed = self.layout.take_rolled_back()
            if failed:
                self._report(
                    protocol.UPDATE_ROLLED_BACK,
                    failed,
                    f"version {failed} did not come online; back on {__version__}",
                )
        if self._checker is None or self._checker.done():
            self._checker = asyncio.ensure_future(self._check_periodically())

    async def _check_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            self.send(protocol.UpdateCheck())

    def on_offer(self, offer: protocol.UpdateOffer) -> None:
        if not wants_offer(
            running_version=__version__, offered=offer.version, state=self.state, working_on=self.working_on
        ):
            return
        if self.layout is None:
            self.state = FAILED
            self._report(
                FAILED, offer.version, "not installed by install.sh (no launcher): cannot self-update"
            )
            return
        self.state = next_state(self.state, "offer")
        self.working_on = offer.version
        self._spawn(self._fetch(offer))

    async def _fetch(self, offer: protocol.UpdateOffer) -> None:
        assert self.layout is not None
        layout = self.layout
        loop = asyncio.get_event_loop()
        try:
            self._report(DOWNLOADING, offer.version)
            if offer.size > MAX_RELEASE_BYTES:
                raise UpdateError(f"release too large: {offer.size} bytes")
            data = await loop.run_in_executor(None, download, self.server, self.identity, offer)
            self.state = next_state(self.state, "downloaded")
            self._report(VERIFYING, offer.version)
            key = layout.read_public_key()
            await loop.run_in_executor(None, verify_release, data, offer, key)
            await loop.run_in_executor(None, layout.install, offer.version, data)
        except UpdateError as exc:
            self.state = next_state(self.state, "error")
            self._report(FAILED, offer.version, str(exc))
            return
        except Exception as exc:  # a bug or a full disk: report it, keep running this version
            log.exception("update to %s failed", offer.version)
            self.state = next_state(self.state, "error")
            self._report(FAILED, offer.version, f"{type(exc).__name__}: {exc}")
            return
        self.state = next_state(self.state, "verified")
        self._report(INSTALLED, offer.version, "waiting until no command runs")
        self.poke()
        if self.state == INSTALLED:
            self._spawn(self._wait_idle())

    def poke(self) -> None:
        """Switch now if an installed update waits and no command runs."""
        if self.state != INSTALLED or not self.is_idle() or self.layout is None:
            return
        self.state = next_state(self.state, "agent_idle")
        version = self.working_on
        try:
            self.layout.switch(version, __version__)
        except OSError as exc:
            self.state = FAILED
            self._report(FAILED, version, f"cannot switch: {exc}")
            return
        self._report(SWITCHING, version, f"restarting from {__version__}")
        self.exit(EXIT_SWITCHED)

    async def _wait_idle(self) -> None:
        """While an installed update waits: look for idleness now and then (a task that ends pokes at
        once; terminal sessions and file transfers are noticed here)."""
        while self.state == INSTALLED:
            await asyncio.sleep(IDLE_POLL)
            self.poke()

    def stopping(self) -> None:
        for job in list(self._jobs) + ([self._checker] if self._checker else []):
            job.cancel()


def _env_seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, "") or default)
    except ValueError:
        return default
    return value if value > 0 else default
