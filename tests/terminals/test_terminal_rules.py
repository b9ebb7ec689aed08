"""Terminal sessions without processes: the pure rules (status, asciicast), the services' permission checks,
tokens and audit, and the API's parameter handling."""

import asyncio
import io
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from console.audit.models import AuditEvent
from console.errors import Forbidden, NotFound, ServiceError
from console.iam import services as iam
from console.iam.authz import AccessDenied
from console.iam.principal import Principal
from console.terminals import services
from console.terminals import status as st
from console.terminals.models import TerminalSession
from console.terminals.recording import TRUNCATED_MARKER, AsciicastWriter, read_events
from console.terminals.selectors import sessions_visible
from tests.api.conftest import (  # noqa: F401 - fixtures
    fast_password_hashing,
    instance_id,
    region,
    rpc,
    tenant,
)
from tests.conftest import make_instance
from tests.iam.samples import allow, doc

# --- pure rules ---------------------------------------------------------------------------------------

CLOSE_CASES = [
    (st.CONNECTING, st.CLIENT_CLOSED, st.TERMINATED),
    (st.CONNECTING, st.ENDED_BY_API, st.TERMINATED),
    (st.CONNECTING, st.DELIVERY_TIMEOUT, st.FAILED),
    (st.CONNECTING, st.USER_NOT_EXISTS, st.FAILED),
    (st.CONNECTING, st.AGENT_NOT_ONLINE, st.FAILED),
    (st.CONNECTED, st.PROCESS_EXITED, st.TERMINATED),
    (st.CONNECTED, st.AGENT_SOCKET_CLOSED, st.TERMINATED),
    (st.TERMINATED, st.AGENT_SOCKET_CLOSED, st.TERMINATED),  # the first end wins
    (st.FAILED, st.CLIENT_CLOSED, st.FAILED),
]


@pytest.mark.parametrize(("current", "reason", "expected"), CLOSE_CASES)
def test_status_after_close(current, reason, expected):
    assert st.status_after_close(current, reason) == expected


@pytest.mark.parametrize(
    ("agent_reason", "stored"),
    [
        ("AgentStopped", "AgentSocketClosed"),
        ("IdleTimeout", "IdleTimeout"),
        ("Weird", "Weird"),
        ("", "OpenFailed"),
    ],
)
def test_agent_reasons_map_to_closed_reasons(agent_reason, stored):
    assert st.closed_reason_of_agent(agent_reason) == stored


def test_opened_never_revives_an_ended_session():
    assert st.status_after_open(st.CONNECTING) == st.CONNECTED
    assert st.status_after_open(st.TERMINATED) == st.TERMINATED


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_asciicast_header_events_and_split_utf8():
    out, clock = io.BytesIO(), Clock()
    writer = AsciicastWriter(out, cols=100, rows=30, max_bytes=10_000, title="t", clock=clock)
    clock.now += 0.5
    writer.output("héllo ".encode()[:2])  # "h" and half of "é"
    clock.now += 0.25
    writer.output("héllo ".encode()[2:] + b"\x1b[31mred")
    writer.resize(120, 40)
    writer.close()
    header, events = read_events(out.getvalue().decode().splitlines())
    expected = {"version": 2, "width": 100, "height": 30, "timestamp": 1000}
    expected["env"] = {"TERM": "xterm-256color"}
    assert header == {**expected, "title": "t"}
    assert events == [[0.5, "o", "h"], [0.75, "o", "éllo \x1b[31mred"], [0.75, "r", "120x40"]]
    assert writer.size == len(out.getvalue()) and not writer.truncated


def test_asciicast_stops_at_its_cap_with_a_marker():
    out = io.BytesIO()
    writer = AsciicastWriter(out, cols=80, rows=24, max_bytes=300, clock=Clock())
    for _ in range(20):
        writer.output(b"x" * 40)
    writer.close()
    lines = out.getvalue().decode().splitlines()
    _, events = read_events(lines)
    assert writer.truncated and events[-1][1:] == ["m", TRUNCATED_MARKER]
    assert all(event[1] == "o" for event in events[:-1]) and len(events) < 20
    assert len(out.getvalue()) - len(lines[-1]) - 1 <= 300  # only the marker may pass the cap


# --- services -------------------------------------------------------------------------------------------


@pytest.fixture
def acme(root_principal):
    instance = make_instance(root_principal, "box-1")
    return root_principal, instance


def ram_user(root: Principal, name: str, *statements) -> Principal:
    user = iam.ram_user_create(principal=root, name=name)
    if statements:
        policy = iam.policy_create(principal=root, name=f"{name}-policy", document=doc(*statements))
        iam.policy_attach(principal=root, policy=policy, to_user=user)
    return Principal.for_user(user)


def test_the_default_user_needs_a_plain_allow_and_others_a_statement_naming_them(acme):
    root, instance = acme
    plain = ram_user(root, "plain", allow("ecs:StartTerminalSession"))
    assert services.session_start(principal=plain, instance_id=instance.id).session.username == "assist-user"
    with pytest.raises(Forbidden) as refused:
        services.session_start(principal=plain, instance_id=instance.id, username="root")
    assert "ecs:SessionUsername" in refused.value.message
    named = ram_user(
        root,
        "named",
        allow("ecs:StartTerminalSession", condition={"StringEquals": {"ecs:SessionUsername": "root"}}),
    )
    assert (
        services.session_start(principal=named, instance_id=instance.id, username="root").session.username
        == "root"
    )
    with pytest.raises(AccessDenied):  # the condition names root only
        services.session_start(principal=named, instance_id=instance.id, username="postgres")
    nobody = ram_user(root, "nobody")
    with pytest.raises(AccessDenied):
        services.session_start(principal=nobody, instance_id=instance.id)
    # The account's root user may do both.
    assert services.session_start(
        principal=root, instance_id=instance.id, username="root"
    ).session.identity_type == ("Account")


@pytest.mark.parametrize(
    ("username", "command_line", "code"),
    [
        ("-rf", "", "InvalidUsername.Malformed"),
        ("a" * 33, "", "InvalidUsername.Malformed"),
        ("bob smith", "", "InvalidUsername.Malformed"),
        ("", "x" * 513, "InvalidCommandLine.LengthExceeded"),
        ("", "a\x00b", "InvalidCommandLine.Malformed"),
    ],
)
def test_bad_input_is_refused(acme, username, command_line, code):
    root, instance = acme
    with pytest.raises(ServiceError) as refused:
        services.session_start(
            principal=root, instance_id=instance.id, username=username, command_line=command_line
        )
    assert refused.value.code == code


def test_another_account_cannot_open_see_end_or_watch(acme, other_principal):
    root, instance = acme
    started = services.session_start(principal=root, instance_id=instance.id)
    with pytest.raises(NotFound):
        services.session_start(principal=other_principal, instance_id=instance.id)
    assert not sessions_visible(other_principal).exists()
    for call in (services.session_end, services.session_watch):
        with pytest.raises(NotFound):
            call(principal=other_principal, session_id=started.session.id)
    with pytest.raises(NotFound):
        services.session_connect(session_id=started.session.id, principal=other_principal)


def test_token_works_once_and_only_the_right_one(acme):
    root, instance = acme
    started = services.session_start(principal=root, instance_id=instance.id)
    with pytest.raises(ServiceError) as wrong:
        services.session_connect(session_id=started.session.id, token="nope")
    assert wrong.value.code == "AuthFailed"
    stored = TerminalSession.objects.get(pk=started.session.id)
    assert started.token not in stored.token_hash and len(stored.token_hash) == 64
    # The instance never heartbeated: the token is used up and the session fails as AgentNotOnline.
    with pytest.raises(ServiceError) as offline:
        services.session_connect(session_id=started.session.id, token=started.token)
    assert offline.value.code == "AgentNotOnline"
    stored.refresh_from_db()
    assert (stored.status, stored.closed_reason) == (st.FAILED, st.AGENT_NOT_ONLINE)
    with pytest.raises(ServiceError) as again:
        services.session_connect(session_id=started.session.id, token=started.token)
    assert again.value.code == "InvalidSession.State"


def test_a_token_nobody_used_for_ten_minutes_has_expired(acme):
    root, instance = acme
    started = services.session_start(principal=root, instance_id=instance.id)
    TerminalSession.objects.filter(pk=started.session.pk).update(
        created_at=timezone.now() - services.CONNECT_WITHIN - timedelta(seconds=1)
    )
    with pytest.raises(ServiceError) as expired:
        services.session_connect(session_id=started.session.id, token=started.token)
    assert expired.value.code == "InvalidSession.Expired"
    stored = TerminalSession.objects.get(pk=started.session.pk)
    assert (stored.status, stored.closed_reason) == (st.FAILED, st.TOKEN_EXPIRED)


def test_visibility_ending_and_watching_follow_policy(acme):
    root, instance = acme
    alice = ram_user(root, "alice", allow("ecs:StartTerminalSession"))
    auditor = ram_user(
        root,
        "auditor",
        allow(
            ["ecs:DescribeTerminalSessions", "ecs:DescribeManagedInstances", "assist:WatchTerminalSession"]
        ),
    )
    stranger = ram_user(root, "stranger", allow("ecs:StartTerminalSession"))
    mine = services.session_start(principal=alice, instance_id=instance.id).session
    assert list(sessions_visible(alice)) == [mine]
    assert list(sessions_visible(auditor)) == [mine]
    assert list(sessions_visible(stranger)) == []
    assert services.session_watch(principal=auditor, session_id=mine.id) == mine
    with pytest.raises(AccessDenied):
        services.session_watch(principal=stranger, session_id=mine.id)
    with pytest.raises(AccessDenied):
        services.session_end(principal=stranger, session_id=mine.id)
    ended = services.session_end(principal=alice, session_id=mine.id)
    assert (ended.status, ended.closed_reason) == (st.TERMINATED, st.ENDED_BY_API)


def test_the_end_is_audited_with_who_where_and_how_long(acme):
    root, instance = acme
    started = services.session_start(principal=root, instance_id=instance.id, client_ip="198.51.100.7")
    assert services.session_opened(session_id=started.session.id, instance_id=instance.id)
    assert not services.session_opened(session_id=started.session.id, instance_id="mi-someone-else")
    services.session_closed(
        session_id=started.session.id, instance_id=instance.id, closed_reason=st.PROCESS_EXITED, exit_code=0
    )
    assert services.session_closed(
        session_id=started.session.id, instance_id=instance.id, closed_reason=st.CLIENT_CLOSED
    ) is None  # fmt: skip
    event = AuditEvent.objects.get(event_name="TerminalSessionEnded")
    assert event.source == "websocket" and event.source_ip == "198.51.100.7" and event.user_name == "admin"
    params = event.request_parameters
    assert params["SessionId"] == started.session.id and params["InstanceId"] == instance.id
    assert params["ClosedReason"] == "ProcessExited" and params["DurationSeconds"] >= 0
    assert any(instance.id in resource for resource in event.resources)


# --- API parameters -------------------------------------------------------------------------------------


def answer(response) -> dict:
    return json.loads(response.content)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "MissingParameter.InstanceId.N"),
        ({"InstanceId.2": "mi-b"}, "InvalidParameter"),
        ({"PortNumber": "22"}, "InvalidParameter.PortNumber"),
        ({"TargetServer": "10.0.0.5", "PortNumber": "22"}, "InvalidParameter.PortNumber"),
        ({"CommandLine": "x" * 513}, "InvalidCommandLine.LengthExceeded"),
        ({"EncryptionOptions": '{"Mode": "Kms", "KMSKeyId": "k"}'}, "InvalidParameter.EncryptionOptions"),
    ],
)
def test_start_terminal_session_refuses_what_it_cannot_do(rpc, instance_id, params, code):  # noqa: F811
    full = {"RegionId": "local", "InstanceId.1": instance_id, **params}
    if "InstanceId.2" not in params and not params:
        full.pop("InstanceId.1")
    response = rpc.v1("StartTerminalSession", full)
    assert response.status_code >= 400
    assert answer(response)["Code"].startswith(code), answer(response)


def test_start_describe_and_end_through_the_api(rpc, instance_id):  # noqa: F811
    body = answer(rpc.v1("StartTerminalSession", {"RegionId": "local", "InstanceId.1": instance_id}))
    assert body["SessionId"].startswith("s-") and body["SecurityToken"]
    assert body["WebSocketUrl"] == f"/ws/terminal-sessions/{body['SessionId']}/?token={body['SecurityToken']}"
    for _ in range(2):
        rpc.v1("StartTerminalSession", {"RegionId": "local", "InstanceId.1": instance_id})
    page = answer(rpc.v1("DescribeTerminalSessions", {"RegionId": "local", "MaxResults": "2"}))
    assert len(page["Sessions"]["Session"]) == 2 and page["NextToken"]
    rest = answer(rpc.v1("DescribeTerminalSessions", {"RegionId": "local", "NextToken": page["NextToken"]}))
    assert len(rest["Sessions"]["Session"]) == 1 and rest["NextToken"] == ""
    over = rpc.v1("DescribeTerminalSessions", {"RegionId": "local", "MaxResults": "101"})
    assert answer(over)["Code"] == "InvalidParam.MaxResults"
    one = answer(rpc.v1("DescribeTerminalSessions", {"RegionId": "local", "SessionId": body["SessionId"]}))
    (row,) = one["Sessions"]["Session"]
    assert row["Connections"]["Connection"][0]["Status"] == "Connecting"
    assert row["Username"] == "assist-user" and row["IdentityType"] == "Account"
    assert answer(rpc.v1("EndTerminalSession", {"RegionId": "local", "SessionId": body["SessionId"]}))[
        "RequestId"
    ]
    one = answer(rpc.v1("DescribeTerminalSessions", {"RegionId": "local", "SessionId": body["SessionId"]}))
    connection = one["Sessions"]["Session"][0]["Connections"]["Connection"][0]
    assert (connection["Status"], connection["ClosedReason"]) == ("Terminated", "EndTerminalSession")
    missing = rpc.v1("EndTerminalSession", {"RegionId": "local", "SessionId": "s-doesnotexist"})
    assert answer(missing)["Code"] == "InvalidSessionId.NotFound"


def test_pages_need_a_login_and_show_the_instance(client: Client, acme):
    root, instance = acme
    assert client.get(f"/instances/{instance.id}/").status_code == 302
    from console.iam.models import User

    client.force_login(User.objects.get(pk=root.user_id))
    page = client.get(f"/instances/{instance.id}/")
    assert page.status_code == 200 and b"Connect" in page.content and b"assist-user" in page.content
    response = client.post(f"/instances/{instance.id}/", {"username": "assist-user"})
    assert response.status_code == 302 and "/terminals/s-" in response["Location"]
    refused = client.post(f"/instances/{instance.id}/", {"username": "bad name"})
    assert refused.status_code == 400 and b"not a valid user name" in refused.content


def test_the_instance_page_offers_replay_and_watch_only_where_they_open(client: Client, acme):
    from console.iam.models import User

    root, instance = acme
    mine = services.session_start(principal=root, instance_id=instance.id).session
    describe = ["ecs:DescribeTerminalSessions", "ecs:DescribeManagedInstances"]
    for name, actions, offered in (
        ("reader", describe, False),
        ("auditor", [*describe, "assist:WatchTerminalSession"], True),
    ):
        viewer = ram_user(root, name, allow(actions))
        client.force_login(User.objects.get(pk=viewer.user_id))
        page = client.get(f"/instances/{instance.id}/").content.decode()
        assert mine.id in page  # the session is listed either way
        assert (f"/terminals/{mine.id}/replay/" in page, f"/terminals/{mine.id}/?watch=1" in page) == (
            offered,
            offered,
        ), name
        replay = client.get(f"/terminals/{mine.id}/replay/")
        assert replay.status_code == (200 if offered else 404), name


# --- the relay on the agent's connection ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_relay_records_and_forwards_only_sessions_opened_on_its_connection(acme, settings, tmp_path):
    from assist_agent import protocol as p
    from channels.layers import InMemoryChannelLayer

    from console.terminals.relay import AgentTerminals

    settings.DATA_DIR = tmp_path
    root, instance = acme
    session = services.session_start(principal=root, instance_id=instance.id).session
    layer = InMemoryChannelLayer()
    relay = AgentTerminals(instance.id, layer)

    async def scenario():
        client = await layer.new_channel()
        await layer.group_add(services.terminal_group(session.id), client)
        await relay.from_agent(p.SessionOutput(session_id=session.id, seq=1, data=b"forged"))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(client), 0.2)  # not opened here: dropped
        opening = p.SessionOpen(
            session_id=session.id,
            username="assist-user",
            create_user=True,
            command_line="",
            cols=90,
            rows=30,
            idle_timeout=600.0,
            max_duration=600.0,
            window=1 << 20,
        )
        assert await relay.to_agent(p.encode(opening)) == p.encode(opening)
        await relay.from_agent(p.SessionOpened(session_id=session.id, pid=42))
        await relay.from_agent(p.SessionOutput(session_id=session.id, seq=1, data=b"hello \xe2\x82"))
        await relay.to_agent(p.encode(p.SessionResize(session_id=session.id, cols=100, rows=40)))
        await relay.from_agent(p.SessionOutput(session_id=session.id, seq=2, data=b"\xac"))
        closed = p.SessionClosed(session_id=session.id, reason="ProcessExited", detail="", exit_code=0)
        await relay.from_agent(closed)
        return [await layer.receive(client) for _ in range(4)]

    messages = asyncio.run(scenario())
    kinds = [m["type"] for m in messages]
    assert kinds == ["terminal.opened", "terminal.output", "terminal.output", "terminal.closed"]
    assert messages[1]["data"] + messages[2]["data"] == "hello €".encode()
    assert messages[3]["reason"] == "ProcessExited" and messages[3]["exit_code"] == 0
    stored = TerminalSession.objects.get(pk=session.pk)
    assert (stored.status, stored.closed_reason, stored.exit_code) == (st.TERMINATED, "ProcessExited", 0)
    header, events = read_events(stored.recording_path.read_text().splitlines())
    assert (header["width"], header["height"]) == (90, 30)
    assert [e[1:] for e in events] == [["o", "hello "], ["r", "100x40"], ["o", "€"]]
    assert stored.recording_bytes == stored.recording_path.stat().st_size and not stored.recording_truncated
