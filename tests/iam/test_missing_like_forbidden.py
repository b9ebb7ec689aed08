"""Accounts are walls, and the wall has no door: another account's row answers exactly like a row that does
not exist. Every console route (GET and POST), every RPC operation and every websocket route is asked, as
another account's root, once about the victim's rows and once about ids of the same shape that exist
nowhere; the two answers must be the same (status, redirect, body, close code and frames), the ids asked
for aside. A difference would tell an intruder that the id is someone's.

(Inside one account a RAM user may be told that a row exists and is refused, as RAM's Forbidden.RAM does:
that is not this wall.)

The routes and operations come from the walks of test_isolation.py, test_api_isolation.py and
test_websocket_isolation.py, so a new one is checked here as soon as it is walked there."""

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from console.api.actions import ACTIONS
from console.api.actions.registry import VERSIONS
from console.iam import services
from console.iam.principal import Principal
from tests.api.conftest import Rpc, Tenant
from tests.iam import test_websocket_isolation as ws
from tests.iam.test_api_isolation import CREATES_OWN, victim_params
from tests.iam.test_isolation import ROUTES, World, _body, _client, url_names, world  # noqa: F401

pytestmark = pytest.mark.django_db


def _other(row_id: str) -> str:
    """An id of the same shape and alphabet that names nothing."""
    if not row_id:
        return row_id
    tail = "0000" if not row_id.endswith("0000") else "1111"
    return row_id[:-4] + tail


def _ids(w: World) -> list[str]:
    return [
        i
        for i in (
            w.invocation_id,
            w.command_id,
            w.activation_id,
            w.key_id,
            w.file_transfer_id,
            w.terminal_session_id,
            w.result_id,
            w.markers[0],  # the instance
        )
        if i
    ]


def ghost_of(w: World) -> World:
    return dataclasses.replace(
        w,
        invocation_id=_other(w.invocation_id),
        command_id=_other(w.command_id),
        activation_id=_other(w.activation_id),
        key_id=_other(w.key_id),
        file_transfer_id=_other(w.file_transfer_id),
        terminal_session_id=_other(w.terminal_session_id),
        result_id=_other(w.result_id),
        markers=(_other(w.markers[0]), *w.markers[1:]),
    )


_VARYING = [
    re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"'),
    re.compile(r'"X-CSRFToken": "[^"]*"'),
    re.compile(r'"RequestId":\s*"[^"]*"'),
    re.compile(r"<RequestId>[^<]*</RequestId>"),
    re.compile(r"requestId=[0-9A-Fa-f-]+"),
]


def _same_shape(text: str, w: World) -> str:
    """``text`` without what differs from one request to the next (CSRF tokens, request ids) and with the
    ids that were asked for replaced by a placeholder."""
    for pattern in _VARYING:
        text = pattern.sub("", text)
    for row_id in _ids(w):
        text = text.replace(row_id, "<id>")
    return text


def _isolated(call: Callable[[], Any]) -> Any:
    """Run ``call`` and undo whatever it wrote, so the victim's and the ghost's question meet the same
    database (a create in the intruder's own account would otherwise answer the second time with
    AlreadyExists)."""
    with transaction.atomic():
        savepoint = transaction.savepoint()
        try:
            return call()
        finally:
            transaction.savepoint_rollback(savepoint)


def test_world_and_ghost_differ_only_in_ids(world) -> None:  # noqa: F811
    ghost = ghost_of(world)
    assert all(a != b for a, b in zip(_ids(world), _ids(ghost), strict=True))
    assert [len(i) for i in _ids(world)] == [len(i) for i in _ids(ghost)]


def test_console_routes_answer_another_accounts_rows_like_missing_ones(world, other_principal) -> None:  # noqa: F811
    ghost = ghost_of(world)
    for name in url_names():
        for method in ("get", "post"):
            answers = []
            for w in (world, ghost):
                kwargs, query = ROUTES[name](w)
                url = reverse(name, kwargs=kwargs)
                client: Client = _client(other_principal)
                response = _isolated(lambda: getattr(client, method)(url, query))  # noqa: B023
                answers.append(
                    (
                        response.status_code,
                        _same_shape(response.get("Location", ""), w),
                        _same_shape(_body(response), w),
                    )
                )
            victim, missing = answers
            where = f"{method.upper()} {name}: {victim[0]} for the victim's rows, {missing[0]} for none"
            assert victim[:2] == missing[:2], where
            assert victim[2] == missing[2], f"{where}: the bodies differ"


def _ghost_params(w: World, ghost: World, region: str) -> dict[str, str]:
    params = victim_params(w, region)
    for real, fake in zip(_ids(w), _ids(ghost), strict=True):
        params = {key: value.replace(real, fake) for key, value in params.items()}
    return params


def test_rpc_operations_answer_another_accounts_rows_like_missing_ones(world, client, settings) -> None:  # noqa: F811
    settings.ASSIST_API_RATE_LIMIT = ""
    region = settings.ASSIST_REGION
    ghost = ghost_of(world)
    stranger_user, stranger_key = services.bootstrap(
        account_name="intruders", username="root", password="pw-long-enough"
    )
    rpc = Rpc(client, Tenant(stranger_user, stranger_key.access_key_id, stranger_key.access_key_secret))
    asked = {"victim": victim_params(world, region), "ghost": _ghost_params(world, ghost, region)}
    assert asked["victim"] != asked["ghost"]
    for action in sorted(set(ACTIONS) - CREATES_OWN):
        answers = []
        for w, params in ((world, asked["victim"]), (ghost, asked["ghost"])):
            response = _isolated(lambda: rpc.v1(action, {**params, "Version": VERSIONS[action]}))  # noqa: B023
            answers.append((response.status_code, _same_shape(response.content.decode(errors="replace"), w)))
        victim, missing = answers
        assert victim == missing, f"{action}: {victim} for the victim's rows, {missing} for none"


@pytest.mark.django_db(transaction=True)
def test_websocket_routes_answer_another_accounts_streams_like_missing_ones(world, other_principal) -> None:  # noqa: F811
    ghost = ghost_of(world)
    headers = ws._cookie_headers(other_principal)
    assert isinstance(other_principal, Principal)
    for pattern, address in ws.ROUTES.items():
        answers = []
        for w in (world, ghost):
            path, first = address(w)
            connected, code, frames = ws._walk(path, headers, first, w.markers[0])
            answers.append((connected, code, [_same_shape(frame, w) for frame in frames]))
        victim, missing = answers
        assert victim == missing, f"{pattern}: {victim} for the victim's stream, {missing} for none"
