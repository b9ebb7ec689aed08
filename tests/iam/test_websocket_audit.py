"""Refused websocket connections are audited like refused API calls and console requests: one event each
(who if known, from where, what was attempted on what, the error and the close code), source
``websocket``, through the whole ASGI stack (origin check, session cookie, auth middleware). Accepted
connections leave no refusal; frames and normal disconnects are never recorded."""

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from console.asgi import application
from console.audit.models import AuditEvent
from console.audit.redact import REDACTED
from console.fleet.models import Instance
from console.iam import services as iam
from console.iam.models import Policy, User
from console.iam.principal import Principal, arn
from console.invocations import services as invocations
from console.terminals import services as terminals
from tests.conftest import make_instance
from tests.iam.samples import allow, doc

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_IP = "203.0.113.9"


def cookie_headers(user: User | None) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"user-agent", b"pytest-ws")]
    if user is not None:
        client = Client()
        client.force_login(user)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode()))
    return headers


def knock(path: str, user: User | None = None) -> tuple[bool, int | None, list[str]]:
    """Connect as ``user`` (None: not logged in) from CLIENT_IP; collect the frames until the socket
    closes. An accepted connection that stays open is closed by the client (a normal disconnect)."""

    headers = cookie_headers(user)

    async def scenario():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        communicator.scope["client"] = (CLIENT_IP, 50123)
        connected, code = await communicator.connect(timeout=5)
        frames: list[str] = []
        while connected:
            if await communicator.receive_nothing(timeout=1):  # still open: the client leaves
                await communicator.disconnect()
                return connected, None, frames
            output = await communicator.receive_output(timeout=1)
            if output["type"] == "websocket.close":
                code = output.get("code")
                break
            frames.append(output.get("text") or "")
        await communicator.wait()
        return connected, code, frames

    return async_to_sync(scenario)()


def user_of(principal: Principal) -> User:
    return User.objects.get(pk=principal.user_id)


def ram_user(root: Principal, name: str, *statements: dict[str, Any]) -> User:
    user = iam.ram_user_create(principal=root, name=name)
    if statements:
        policy = iam.policy_create(principal=root, name=f"{name}-policy", document=doc(*statements))
        iam.policy_attach(principal=root, policy=policy, to_user=user)
    return user


def the_refusal(account_id: str, event_name: str, close_code: int, error_code: str) -> AuditEvent:
    """The one event of the whole database (each test makes exactly one refusal)."""
    event = AuditEvent.objects.get()
    assert (event.account_id, event.event_name, event.source) == (account_id, event_name, "websocket")
    assert (event.success, event.error_code, event.error_message != "") == (False, error_code, True)
    assert event.additional["closeCode"] == close_code
    assert (event.source_ip, event.user_agent) == (CLIENT_IP, "pytest-ws")
    return event


@pytest.fixture
def invocation(root_principal):
    instance = make_instance(root_principal, "box-1")
    return invocations.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="echo hi"
    )


@pytest.fixture
def session(root_principal):
    instance = make_instance(root_principal, "box-2")
    return terminals.session_start(principal=root_principal, instance_id=instance.id)


# --------------------------------------------------------------------------------- invocation stream


def test_not_logged_in_is_filed_under_the_invocations_account(root_principal, invocation) -> None:
    connected, code, _ = knock(f"/ws/invocations/{invocation.id}/")
    assert (connected, code) == (False, 4401)
    event = the_refusal(root_principal.account_id, "StreamInvocationOutput", 4401, "AuthFailed")
    assert (event.identity_type, event.user_name, event.principal_id, event.event_type) == (
        "",
        "",
        "",
        "ConsoleCall",
    )
    assert event.resources == [f"invocation_id={invocation.id}"]
    assert event.additional["referencedResources"] == {"InvokeId": [invocation.id]}
    assert event.request_parameters == {"path": f"/ws/invocations/{invocation.id}/"}


def test_not_logged_in_naming_nothing_that_exists_is_not_stored(root_principal) -> None:
    connected, code, _ = knock("/ws/invocations/t-nowhere/")
    assert (connected, code) == (False, 4401)
    assert not AuditEvent.objects.exists()  # no account to file it under: logged only


def test_another_accounts_invocation_is_refused_and_recorded_for_the_caller(
    root_principal, other_principal, invocation
) -> None:
    connected, code, _ = knock(f"/ws/invocations/{invocation.id}/", user_of(other_principal))
    assert (connected, code) == (False, 4404)
    event = the_refusal(
        other_principal.account_id, "StreamInvocationOutput", 4404, "InvalidInvokeId.NotFound"
    )
    assert (event.identity_type, event.user_name) == ("root-account", "admin")
    assert event.resources == [f"invocation_id={invocation.id}"]
    assert not AuditEvent.objects.filter(account_id=root_principal.account_id).exists()


def test_a_missing_invocation_is_refused_and_recorded(root_principal) -> None:
    connected, code, _ = knock("/ws/invocations/t-nowhere/", user_of(root_principal))
    assert (connected, code) == (False, 4404)
    event = the_refusal(root_principal.account_id, "StreamInvocationOutput", 4404, "InvalidInvokeId.NotFound")
    assert event.user_name == "admin" and event.allowed


def test_an_accepted_stream_records_nothing(root_principal, invocation) -> None:
    connected, code, frames = knock(f"/ws/invocations/{invocation.id}/", user_of(root_principal))
    assert connected and code is None, frames
    assert not AuditEvent.objects.exists()


# ------------------------------------------------------------------------------------ terminals


def test_another_users_terminal_session_is_refused_and_recorded(root_principal, session) -> None:
    stranger = ram_user(root_principal, "stranger", allow("ecs:StartTerminalSession"))
    connected, code, frames = knock(f"/ws/terminals/{session.session.id}/", stranger)
    assert connected and code == 4403 and '"Forbidden.NotOwner"' in frames[0]
    event = the_refusal(root_principal.account_id, "ConnectTerminalSession", 4403, "Forbidden.NotOwner")
    assert (event.identity_type, event.user_name, event.event_type) == ("ram-user", "stranger", "ConsoleCall")
    assert event.additional["referencedResources"] == {"SessionId": [session.session.id]}


def test_watching_without_permission_is_one_denied_event(root_principal, session) -> None:
    """authorize's refusal goes into the connection's record, not into a second event."""
    stranger = ram_user(root_principal, "stranger", allow("ecs:StartTerminalSession"))
    connected, code, _ = knock(f"/ws/terminals/{session.session.id}/?watch=1", stranger)
    assert connected and code == 4403
    event = the_refusal(root_principal.account_id, "WatchTerminalSession", 4403, "Forbidden.RAM")
    assert not event.allowed and event.result == "denied"
    instance_arn = arn(root_principal.account_id, "local", "instance", session.session.instance_id)
    assert event.additional["denied"] == [{"action": "assist:WatchTerminalSession", "resource": instance_arn}]
    assert event.request_parameters == {"path": f"/ws/terminals/{session.session.id}/", "watch": "1"}


def test_another_accounts_terminal_session_is_refused_and_recorded_for_the_caller(
    root_principal, other_principal, session
) -> None:
    connected, code, _ = knock(f"/ws/terminals/{session.session.id}/", user_of(other_principal))
    assert connected and code == 4404
    the_refusal(other_principal.account_id, "ConnectTerminalSession", 4404, "InvalidSessionId.NotFound")


def test_not_logged_in_at_a_terminal(root_principal, session) -> None:
    connected, code, _ = knock(f"/ws/terminals/{session.session.id}/")
    assert connected and code == 4401
    event = the_refusal(root_principal.account_id, "ConnectTerminalSession", 4401, "AuthFailed")
    assert (event.identity_type, event.user_name) == ("", "")


def test_a_bad_session_token_is_recorded_without_the_token(root_principal, session) -> None:
    connected, code, _ = knock(f"/ws/terminal-sessions/{session.session.id}/?token=guessed-token&cols=100")
    assert connected and code == 4401
    event = the_refusal(root_principal.account_id, "ConnectTerminalSession", 4401, "AuthFailed")
    assert (event.identity_type, event.user_name, event.event_type) == ("", "", "ApiCall")
    assert event.request_parameters["token"] == REDACTED and event.request_parameters["cols"] == "100"
    assert "guessed-token" not in str(event.request_parameters)


def test_a_revoked_permission_at_the_token_route_is_one_denied_event_of_the_opener(root_principal) -> None:
    instance = make_instance(root_principal, "box-3")
    alice = ram_user(root_principal, "alice", allow("ecs:StartTerminalSession"))
    started = terminals.session_start(principal=Principal.for_user(alice), instance_id=instance.id)
    policy = Policy.objects.get(name="alice-policy")
    iam.policy_detach(principal=root_principal, policy=policy, from_user=alice)
    assert not AuditEvent.objects.exists()
    connected, code, _ = knock(f"/ws/terminal-sessions/{started.session.id}/?token={started.token}")
    assert connected and code == 4403
    event = the_refusal(root_principal.account_id, "ConnectTerminalSession", 4403, "Forbidden.RAM")
    assert (event.identity_type, event.user_name, event.allowed) == ("ram-user", "alice", False)
    assert event.additional["denied"][0]["action"] == "ecs:StartTerminalSession"


def test_an_accepted_terminal_leaves_its_connection_and_end_but_no_refusal(root_principal, session) -> None:
    Instance.objects.filter(pk=session.session.instance_id).update(last_heartbeat_at=timezone.now())
    connected, code, _ = knock(f"/ws/terminals/{session.session.id}/", user_of(root_principal))
    assert connected and code is None
    names = sorted(AuditEvent.objects.values_list("event_name", flat=True))
    assert names == ["TerminalSessionConnected", "TerminalSessionEnded"]
    assert set(AuditEvent.objects.values_list("source", flat=True)) == {"websocket"}
