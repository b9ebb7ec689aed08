"""Terminal sessions and the account's SessionManagerConfig, and sessions opened with STS credentials
(admitted at the websocket by the role's policies while the role session lives)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from console.errors import Forbidden, ServiceError
from console.fleet.services import assistant_settings_modify
from console.iam import services as iam
from console.iam import sts
from console.iam.models import RoleSession
from console.iam.principal import Principal
from console.terminals import services
from tests.conftest import make_instance
from tests.iam.samples import allow, doc

pytestmark = pytest.mark.django_db


def test_turning_session_manager_off_refuses_new_sessions(root_principal) -> None:
    instance = make_instance(root_principal, "box")
    off = json.dumps({"SessionManagerEnabled": False})
    assistant_settings_modify(
        principal=root_principal, region="local", setting_type="SessionManagerConfig", config=off
    )
    with pytest.raises(Forbidden) as refused:
        services.session_start(principal=root_principal, instance_id=instance.id)
    assert refused.value.code == "SessionManager.Disabled"
    on = json.dumps({"SessionManagerEnabled": True})
    assistant_settings_modify(
        principal=root_principal, region="local", setting_type="SessionManagerConfig", config=on
    )
    assert services.session_start(principal=root_principal, instance_id=instance.id).session.id.startswith(
        "s-"
    )


def role_session_principal(root: Principal) -> Principal:
    """A RAM user's session of a role that may open terminals (the user itself may not)."""
    trust = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"RAM": [f"acs:ram::{root.account_id}:root"]}}]}  # fmt: skip
    role = sts.role_create(principal=root, name="Terminal", trust_policy=json.dumps(trust))
    terminals = iam.policy_create(
        principal=root, name="terminals", document=doc(allow("ecs:StartTerminalSession"))
    )
    iam.policy_attach(principal=root, policy=terminals, to_role=role)
    user = iam.ram_user_create(principal=root, name="ops")
    assume = iam.policy_create(principal=root, name="assume", document=doc(allow("sts:AssumeRole")))
    iam.policy_attach(principal=root, policy=assume, to_user=user)
    arn = sts.role_arn_of(root.account_id, "Terminal")
    issued = sts.role_assume(principal=Principal.for_user(user), role_arn=arn, session_name="night-shift")
    return Principal.for_session(issued.session)


def test_a_role_session_opens_a_terminal_with_the_roles_policies(root_principal) -> None:
    instance = make_instance(root_principal, "box")
    principal = role_session_principal(root_principal)
    alone = Principal.for_user(iam.ram_user_create(principal=root_principal, name="x"))
    with pytest.raises(ServiceError) as refused:  # a user without the role's grant may not
        services.session_start(principal=alone, instance_id=instance.id)
    assert refused.value.code == "Forbidden.RAM"
    started = services.session_start(principal=principal, instance_id=instance.id)
    assert started.session.identity_type == "AssumedRoleUser"
    assert started.session.role_session_id == principal.access_key_id
    # At the websocket the role's grant admits it (the agent is offline here, so it stops one step later).
    with pytest.raises(ServiceError) as offline:
        services.session_connect(session_id=started.session.id, token=started.token)
    assert offline.value.code == "AgentNotOnline"


def test_a_terminal_of_an_expired_role_session_is_refused_at_the_websocket(root_principal) -> None:
    instance = make_instance(root_principal, "box")
    principal = role_session_principal(root_principal)
    started = services.session_start(principal=principal, instance_id=instance.id)
    RoleSession.objects.filter(pk=principal.access_key_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(Forbidden) as refused:
        services.session_connect(session_id=started.session.id, token=started.token)
    assert "expired" in refused.value.message
