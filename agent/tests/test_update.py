"""Self-update, pure parts: version order, the update state machine, offer decisions, release verification
and the install layout (side by side, atomic switch, commit, rollback marker)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest
from assist_agent import __version__, protocol, update
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# --- versions -----------------------------------------------------------------------------------------

ORDERED = [
    ("0.1.0", "0.1.1"),
    ("0.1.9", "0.1.10"),
    ("0.1", "0.1.0.1"),
    ("1.0rc1", "1.0"),
    ("1.0a1", "1.0b1"),
    ("1.0", "1.0.1"),
    ("0.9.9", "1.0"),
    ("2.2.3.317", "2.2.4.1065"),
]


@pytest.mark.parametrize(("older", "newer"), ORDERED)
def test_version_order(older: str, newer: str) -> None:
    assert update.compare_versions(older, newer) == -1
    assert update.compare_versions(newer, older) == 1


@pytest.mark.parametrize(("a", "b"), [("1.0", "1.0"), ("1.0+build7", "1.0"), ("1-0", "1.0")])
def test_version_equal(a: str, b: str) -> None:
    assert update.compare_versions(a, b) == 0


@pytest.mark.parametrize(
    ("value", "valid"),
    [("0.1.0", True), ("1.0rc1+g1234", True), ("v2", True), ("", False), (".1", False), ("../x", False),
     ("1/2", False), ("a" * 33, False), ("1 0", False), (None, False)],
)  # fmt: skip
def test_valid_versions_name_directories_safely(value: object, valid: bool) -> None:
    assert update.is_valid_version(value) is valid


# --- the state machine ---------------------------------------------------------------------------------

STEPS = [
    (update.IDLE, "offer", update.DOWNLOADING),
    (update.DOWNLOADING, "downloaded", update.VERIFYING),
    (update.DOWNLOADING, "error", update.FAILED),
    (update.VERIFYING, "verified", update.INSTALLED),
    (update.VERIFYING, "error", update.FAILED),
    (update.INSTALLED, "agent_idle", update.SWITCHING),
    (update.INSTALLED, "offer", update.DOWNLOADING),
    (update.FAILED, "offer", update.DOWNLOADING),
    # ignored: the state stays
    (update.IDLE, "agent_idle", update.IDLE),
    (update.DOWNLOADING, "agent_idle", update.DOWNLOADING),
    (update.VERIFYING, "offer", update.VERIFYING),
    (update.SWITCHING, "offer", update.SWITCHING),
    (update.SWITCHING, "error", update.SWITCHING),
    (update.IDLE, "verified", update.IDLE),
]


@pytest.mark.parametrize(("state", "event", "after"), STEPS)
def test_transitions(state: str, event: str, after: str) -> None:
    assert update.next_state(state, event) == after


OFFERS = [
    # running, offered, state, working_on -> starts an update
    ("0.1.0", "0.1.0", update.IDLE, "", False),  # runs it already
    ("0.1.0", "0.1.1", update.IDLE, "", True),
    ("0.1.0", "0.0.9", update.IDLE, "", True),  # a downgrade the administrator chose
    ("0.1.0", "0.1.1", update.DOWNLOADING, "0.1.1", False),
    ("0.1.0", "0.1.2", update.VERIFYING, "0.1.1", False),  # one at a time; the next check offers again
    ("0.1.0", "0.1.1", update.INSTALLED, "0.1.1", False),  # installed, waiting for idle
    ("0.1.0", "0.1.2", update.INSTALLED, "0.1.1", True),  # the target moved meanwhile
    ("0.1.0", "0.1.1", update.FAILED, "0.1.1", True),  # retried on a later check
    ("0.1.0", "0.1.2", update.SWITCHING, "0.1.1", False),
]


@pytest.mark.parametrize(("running", "offered", "state", "working_on", "starts"), OFFERS)
def test_offer_decisions(running: str, offered: str, state: str, working_on: str, starts: bool) -> None:
    assert (
        update.wants_offer(running_version=running, offered=offered, state=state, working_on=working_on)
        is starts
    )


# --- verification --------------------------------------------------------------------------------------


def _signed_offer(data: bytes, version: str = "9.9.9") -> tuple[protocol.UpdateOffer, bytes]:
    key = Ed25519PrivateKey.generate()
    sha = hashlib.sha256(data).hexdigest()
    signature = key.sign(update.release_statement(version, sha, len(data)))
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    offer = protocol.UpdateOffer(version=version, sha256=sha, signature=signature, size=len(data), url="/x")
    return offer, public


def test_a_signed_release_verifies() -> None:
    offer, public = _signed_offer(b"PK release bytes")
    update.verify_release(b"PK release bytes", offer, public)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o, d: (o, d + b"x"), "size mismatch"),
        (lambda o, d: (o, d[:-1] + b"Y"), "SHA-256 mismatch"),
        (lambda o, d: (o.__class__(**{**o.__dict__, "version": "9.9.8"}), d), "bad signature"),
        (lambda o, d: (o.__class__(**{**o.__dict__, "signature": bytes(64)}), d), "bad signature"),
    ],
)
def test_tampering_is_refused(mutate, message: str) -> None:
    data = b"PK release bytes"
    offer, public = _signed_offer(data)
    offer, data = mutate(offer, data)
    with pytest.raises(update.UpdateError, match=message):
        update.verify_release(data, offer, public)


def test_another_key_is_refused() -> None:
    offer, _ = _signed_offer(b"PK data")
    _, other_public = _signed_offer(b"PK data")
    with pytest.raises(update.UpdateError, match="bad signature"):
        update.verify_release(b"PK data", offer, other_public)


# --- the layout ------------------------------------------------------------------------------------------


@pytest.fixture
def layout(tmp_path: Path) -> update.Layout:
    home, state = tmp_path / "opt", tmp_path / "state"
    (home / "versions/0.1.0").mkdir(parents=True)
    (home / "versions/0.1.0/assist-agent.pyz").write_bytes(b"old")
    os.symlink("versions/0.1.0", home / "current")
    state.mkdir()
    return update.Layout(home, state)


def test_install_switch_commit(layout: update.Layout) -> None:
    assert layout.current_version() == "0.1.0"
    path = layout.install("0.1.1", b"new")
    assert path.read_bytes() == b"new" and oct(path.stat().st_mode & 0o777) == "0o644"
    assert layout.current_version() == "0.1.0"  # installing does not switch
    layout.attempts.parent.mkdir(parents=True, exist_ok=True)
    layout.attempts.write_text("2\n")  # left over from an earlier switch
    layout.switch("0.1.1", "0.1.0")
    assert os.readlink(layout.current) == "versions/0.1.1"
    assert layout.read_pending() == ("0.1.1", "0.1.0") and not layout.attempts.exists()
    assert not layout.commit("0.1.0")  # only the pending version commits
    layout.install("0.0.5", b"ancient")
    assert layout.commit("0.1.1")
    assert layout.read_pending() is None
    assert sorted(p.name for p in layout.versions.iterdir()) == ["0.1.0", "0.1.1"]  # current and previous


def test_rolled_back_marker_is_read_once(layout: update.Layout) -> None:
    assert layout.take_rolled_back() is None
    layout.update_dir.mkdir()
    layout.rolled_back.write_text("0.1.2\n")
    assert layout.take_rolled_back() == "0.1.2"
    assert layout.take_rolled_back() is None


def test_public_key_must_be_usable(layout: update.Layout) -> None:
    with pytest.raises(update.UpdateError, match="no usable release key"):
        layout.read_public_key()
    key = Ed25519PrivateKey.generate().public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    layout.public_key.write_bytes(pem)
    assert len(layout.read_public_key()) == 32


def test_without_a_launcher_offers_are_reported_failed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(update.HOME_ENV, raising=False)
    sent: list = []
    updater = update.Updater(
        tmp_path,
        {"InstanceId": "mi-1", "InstanceSecret": "s", "Server": "http://127.0.0.1:1"},
        send=sent.append,
        is_idle=lambda: True,
        exit=lambda code: None,
    )
    offer, _ = _signed_offer(b"PK", version="99.0")
    updater.on_offer(offer)
    assert [(f.state, f.version) for f in sent] == [("failed", "99.0")]
    assert "not installed by install.sh" in sent[0].detail
    assert __version__ != "99.0"


# --- the frames are strict -------------------------------------------------------------------------------

_OFFER = {
    "type": "update.offer",
    "version": "0.2.0",
    "sha256": "a" * 64,
    "signature": "AQEB" * 21 + "AQ==",
    "size": 10,
    "url": "/agent/releases/0.2.0/assist-agent.pyz",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [("version", "../0.2"), ("version", ""), ("sha256", "A" * 64), ("sha256", "a" * 63),
     ("signature", "AQ=="), ("size", 0), ("size", "10"), ("url", "http://elsewhere/x.pyz"),
     ("url", "//elsewhere/x.pyz")],
)  # fmt: skip
def test_bad_offers_are_refused(field: str, value: object) -> None:
    import json

    with pytest.raises(protocol.ProtocolError):
        protocol.decode(json.dumps({**_OFFER, field: value}), sender="console")


def test_update_frames_come_from_the_right_side() -> None:
    import json

    protocol.decode(json.dumps(_OFFER), sender="console")
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(json.dumps(_OFFER), sender="agent")
    with pytest.raises(protocol.ProtocolError):
        protocol.decode('{"type":"update.check"}', sender="console")
    with pytest.raises(protocol.ProtocolError, match="must be one of"):
        protocol.decode('{"type":"update.status","state":"done","version":"1","detail":""}', sender="agent")


# --- the updater over time: periodic checks, the commit deadline -----------------------------------------

IDENTITY = {"InstanceId": "mi-1", "InstanceSecret": "s", "Server": "http://127.0.0.1:1"}


def _updater(state_dir: Path, layout: update.Layout | None, sent: list, exits: list) -> update.Updater:
    return update.Updater(
        state_dir, IDENTITY, send=sent.append, is_idle=lambda: True, exit=exits.append, layout=layout
    )


def test_after_welcome_the_agent_asks_for_its_target_every_interval(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(update.CHECK_INTERVAL_ENV, "0.05")
    sent: list = []
    updater = _updater(tmp_path, None, sent, [])

    async def scenario() -> None:
        updater.on_welcome()
        await asyncio.sleep(0.32)
        updater.on_welcome()  # a reconnect: still one checker
        await asyncio.sleep(0.32)
        updater.stopping()
        count = len(sent)
        await asyncio.sleep(0.15)
        assert len(sent) == count  # stopped

    asyncio.run(scenario())
    assert sent and all(isinstance(frame, protocol.UpdateCheck) for frame in sent)
    assert 6 <= len(sent) <= 13  # about one per 0.05 s over 0.64 s, never two checkers


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("", 3600.0), ("120", 120.0), ("0.5", 0.5), ("0", 3600.0), ("-1", 3600.0), ("soon", 3600.0)],
)
def test_the_check_interval_comes_from_the_environment(monkeypatch, value: str, seconds: float) -> None:
    monkeypatch.setenv(update.CHECK_INTERVAL_ENV, value)
    assert _updater(Path("/nonexistent"), None, [], []).check_interval == seconds


def test_a_new_version_that_does_not_come_online_in_time_exits_with_a_failure(
    layout: update.Layout, monkeypatch
) -> None:
    """So that its launcher counts a failed start and, past the limit, rolls back (docs/install.md)."""
    monkeypatch.setenv(update.COMMIT_TIMEOUT_ENV, "0.1")
    layout.install("0.0.9", b"older")
    layout.switch(__version__, "0.0.9")  # this process is the switch's new version
    exits: list = []
    updater = _updater(layout.state_dir, layout, [], exits)

    async def scenario() -> None:
        updater.start()
        await asyncio.sleep(0.4)
        updater.stopping()

    asyncio.run(scenario())
    assert exits == [1]
    assert layout.read_pending() == (__version__, "0.0.9")  # not committed: the launcher decides


def test_a_new_version_welcomed_in_time_commits_and_keeps_running(layout: update.Layout, monkeypatch) -> None:
    monkeypatch.setenv(update.COMMIT_TIMEOUT_ENV, "0.2")
    layout.install("0.0.9", b"older")
    layout.switch(__version__, "0.0.9")
    sent: list = []
    exits: list = []
    updater = _updater(layout.state_dir, layout, sent, exits)

    async def scenario() -> None:
        updater.start()
        await asyncio.sleep(0.05)
        updater.on_welcome()
        await asyncio.sleep(0.4)
        updater.stopping()

    asyncio.run(scenario())
    assert exits == []
    assert layout.read_pending() is None
    assert [(f.state, f.version) for f in sent if isinstance(f, protocol.UpdateStatus)] == [
        ("committed", __version__)
    ]


def test_an_agent_that_is_not_a_pending_version_has_no_deadline(layout: update.Layout, monkeypatch) -> None:
    monkeypatch.setenv(update.COMMIT_TIMEOUT_ENV, "0.05")
    layout.install("9.9.9", b"other")
    layout.switch("9.9.9", __version__)  # pending names another version (this one is the previous)
    exits: list = []
    updater = _updater(layout.state_dir, layout, [], exits)

    async def scenario() -> None:
        updater.start()
        await asyncio.sleep(0.2)
        updater.stopping()

    asyncio.run(scenario())
    assert exits == []
