"""Every websocket route of the console (``console.asgi``), walked as someone who must not reach the
victim's streams: the root user of another account and a RAM user of the victim's account without any
policy, logged in with a real session cookie, through the whole ASGI stack (origin check, session and
auth middleware). Each must be refused (closed with a 44xx code, or an ``error`` frame) without a byte
of the victim's data.

A websocket route missing from ``ROUTES`` fails ``test_every_websocket_route_is_walked``."""

import json

import pytest
from asgiref.sync import async_to_sync
from assist_agent import protocol
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from console.asgi import application
from console.iam import services
from console.iam.models import User
from console.iam.principal import Principal
from tests.iam.test_isolation import World, world  # noqa: F401 - the victim's rows

pytestmark = pytest.mark.django_db(transaction=True)


def _route_patterns() -> list[str]:
    router = application.application_mapping["websocket"]
    assert isinstance(router, URLRouter)
    return sorted(str(route.pattern) for route in router.routes)


# pattern -> (path for the victim's rows, first text frame to send or None)
ROUTES = {
    "ws/agent/": lambda w: ("/ws/agent/", "hello"),
    "ws/invocations/<str:invocation_id>/": lambda w: (f"/ws/invocations/{w.invocation_id}/", None),
    "ws/terminals/<str:session_id>/": lambda w: (f"/ws/terminals/{w.terminal_session_id}/", None),
    "ws/terminal-sessions/<str:session_id>/": lambda w: (
        f"/ws/terminal-sessions/{w.terminal_session_id}/?token=not-the-token",
        None,
    ),
}


def test_every_websocket_route_is_walked() -> None:
    assert _route_patterns() == sorted(ROUTES), "add the new websocket route to ROUTES"


def _cookie_headers(principal: Principal) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(User.objects.get(pk=principal.user_id))
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    return [
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode()),
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
    ]


def _hello_for(victim_instance: str) -> str:
    return protocol.encode(
        protocol.Hello(
            instance_id=victim_instance, secret="guessed", agent_version="1", os_type="Linux", os_name="x",
            hostname="x", ips=(), boot_id="", held_tasks=(),
        )
    )  # fmt: skip


def _walk(path: str, headers: list[tuple[bytes, bytes]], first: str | None, victim_instance: str) -> tuple:
    """Connect, optionally send the first frame, and collect what comes back until the socket closes."""

    async def scenario():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect(timeout=5)
        received: list[str] = []
        if connected:
            if first == "hello":
                await communicator.send_to(_hello_for(victim_instance))
            while True:
                output = await communicator.receive_output(timeout=5)
                if output["type"] == "websocket.close":
                    code = output.get("code")
                    break
                received.append(output.get("text") or (output.get("bytes") or b"").decode(errors="replace"))
        await communicator.wait()
        return connected, code, received

    return async_to_sync(scenario)()


def test_no_websocket_route_reaches_another_accounts_streams(world, root_principal) -> None:  # noqa: F811
    stranger_user, _ = services.bootstrap(
        account_name="intruders", username="root", password="pw-long-enough"
    )
    nobody = services.ram_user_create(principal=root_principal, name="no-policies")
    victim_instance = world.markers[0]
    for who, principal in (
        ("another account's root", Principal.for_user(stranger_user)),
        ("a RAM user without policies", Principal.for_user(nobody)),
    ):
        headers = _cookie_headers(principal)
        for address in ROUTES.values():
            path, first = address(world)
            connected, code, received = _walk(path, headers, first, victim_instance)
            where = f"{who}: {path} -> connected={connected} code={code} frames={received[:3]}"
            assert code is not None and 4400 <= code < 4500, where
            # An error may quote what was asked for (the ids in the path, the instance in the hello).
            asked = {victim_instance, *path.split("?")[0].split("/")}
            leaked = [m for m in world.markers if m not in asked and any(m in frame for frame in received)]
            assert not leaked, f"{where} shows {leaked}"
            for frame in received:
                assert json.loads(frame).get("type") == "error", where
