"""Roles and STS: AssumeRole needs the caller's grant and the role's trust policy; the temporary
credentials sign requests with the role's policies (narrowed by a session policy) until they expire.

Signed requests through Django's test client (tests/api/conftest.Rpc) and, end to end, the official
``alibabacloud-sts20150401`` and ``alibabacloud-ecs20140526`` SDKs against the console over HTTP."""

import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import exceptions as tea_exceptions
from alibabacloud_tea_openapi.models import Config
from django.conf import settings
from django.utils import timezone

from console.iam import services as iam
from console.iam import sts
from console.iam.models import RoleSession
from console.invocations.models import Invocation
from tests.api.conftest import Rpc, make_instance, make_tenant

STS = {"Version": "2015-04-01"}


def trust(*principals: str, **condition) -> str:
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": list(principals)}}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "1", "Statement": [statement]})


def allow(actions: list[str], resources: list[str]) -> dict:
    return {"Version": "1", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}]}


RUN_ANYWHERE = allow(
    ["ecs:RunCommand", "ecs:DescribeInvocation*"],
    ["acs:ecs:*:*:instance/*", "acs:ecs:*:*:command/*", "acs:ecs:*:*:invocation/*"],
)


def setup_role(tenant, *, trust_policy: str | None = None, role_name: str = "Operator"):
    """A role trusted by the account (unless told otherwise) that may run commands, and a RAM user
    allowed to assume it."""
    root = tenant.principal
    role = sts.role_create(
        principal=root,
        name=role_name,
        trust_policy=trust_policy or trust(f"acs:ram::{tenant.account_id}:root"),
    )
    runner = iam.policy_create(principal=root, name=f"{role_name}Runs", document=RUN_ANYWHERE)
    iam.policy_attach(principal=root, policy=runner, to_role=role)
    user = iam.ram_user_create(principal=root, name="ops")
    may_assume = iam.policy_create(
        principal=root,
        name="MayAssume",
        document=allow(["sts:AssumeRole"], [f"acs:ram::{tenant.account_id}:role/{role_name.lower()}"]),
    )
    iam.policy_attach(principal=root, policy=may_assume, to_user=user)
    key = iam.access_key_create(user=user)
    return role, user, key


def role_arn(tenant, name: str = "Operator") -> str:
    return f"acs:ram::{tenant.account_id}:role/{name}"


def assume(rpc: Rpc, key, arn: str, **extra: str):
    params = {**STS, "RoleArn": arn, "RoleSessionName": "deploy-42", **extra}
    return rpc.v1("AssumeRole", params, access_key_id=key.access_key_id, secret=key.access_key_secret)


@pytest.mark.django_db
def test_assume_role_then_run_with_the_temporary_credentials(rpc, tenant, region) -> None:
    instance = make_instance(tenant)
    _, user, key = setup_role(tenant)
    answer = assume(rpc, key, role_arn(tenant), DurationSeconds="1200")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    credentials = body["Credentials"]
    assert credentials["AccessKeyId"].startswith("STS.")
    assert credentials["SecurityToken"] and credentials["AccessKeySecret"]
    assert body["AssumedRoleUser"]["Arn"] == f"acs:ram::{tenant.account_id}:assumed-role/Operator/deploy-42"
    session = RoleSession.objects.get(pk=credentials["AccessKeyId"])
    assert timedelta(seconds=1190) < session.expires_at - timezone.now() <= timedelta(seconds=1200)
    assert credentials["AccessKeySecret"] not in session.secret_encrypted  # encrypted at rest

    signed = {"access_key_id": credentials["AccessKeyId"], "secret": credentials["AccessKeySecret"]}
    token = {"SecurityToken": credentials["SecurityToken"]}
    run = {"RegionId": region, "Type": "RunShellScript", "CommandContent": "id", "InstanceId.1": instance}
    ran = rpc.v1("RunCommand", {**run, **token}, **signed)
    assert ran.status_code == 200, ran.content
    assert Invocation.objects.get(pk=ran.json()["InvokeId"]).created_by_id == user.pk
    who = rpc.v1("GetCallerIdentity", {**STS, **token}, **signed).json()
    assert who["IdentityType"] == "AssumedRoleUser"
    assert who["Arn"] == body["AssumedRoleUser"]["Arn"]
    # The user itself has no RunCommand grant: only the role does.
    refused = rpc.v1("RunCommand", run, access_key_id=key.access_key_id, secret=key.access_key_secret)
    assert refused.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("token_change", "code"),
    [
        (lambda token: "", "MissingSecurityToken"),
        (lambda token: token + "x", "InvalidSecurityToken.MismatchWithAccessKey"),
    ],
)
def test_the_security_token_must_match(rpc, tenant, region, token_change, code) -> None:
    _, _, key = setup_role(tenant)
    credentials = assume(rpc, key, role_arn(tenant)).json()["Credentials"]
    params = {**STS}
    if token_change(credentials["SecurityToken"]):
        params["SecurityToken"] = token_change(credentials["SecurityToken"])
    answer = rpc.v1(
        "GetCallerIdentity",
        params,
        access_key_id=credentials["AccessKeyId"],
        secret=credentials["AccessKeySecret"],
    )
    assert answer.status_code == 400
    assert answer.json()["Code"] == code


@pytest.mark.django_db
def test_expired_credentials_are_refused(rpc, tenant) -> None:
    _, _, key = setup_role(tenant)
    credentials = assume(rpc, key, role_arn(tenant), DurationSeconds="900").json()["Credentials"]
    with pytest.raises(Exception) as refused:
        sts.session_authenticate(
            access_key_id=credentials["AccessKeyId"],
            security_token=credentials["SecurityToken"],
            now=timezone.now() + timedelta(seconds=901),
        )
    assert refused.value.code == "InvalidSecurityToken.Expired"
    assert sts.sessions_prune(now=timezone.now() + timedelta(days=2)) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [
        ({"DurationSeconds": "899"}, 400, "InvalidParameter.DurationSeconds"),
        ({"DurationSeconds": "3601"}, 400, "InvalidParameter.DurationSeconds"),  # the role's maximum
        ({"RoleSessionName": "x"}, 400, "InvalidParameter.RoleSessionName"),
        ({"RoleSessionName": "has space"}, 400, "InvalidParameter.RoleSessionName"),
        ({"RoleArn": "arn:aws:iam::1:role/x"}, 400, "InvalidParameter.RoleArn"),
        ({"RoleArn": "acs:ram::999:role/Operator"}, 404, "EntityNotExist.Role"),
        (
            {"Policy": '{"Version": "1", "Statement": [{"Effect": "Maybe"}]}'},
            400,
            "InvalidParameter.PolicyGrammar",
        ),
        ({"Policy": "x" * 2049}, 400, "InvalidParameter.PolicyLength"),
        ({"Version": "2014-05-26"}, 400, "InvalidVersion"),
    ],
)
def test_assume_role_refusals_issue_nothing(rpc, tenant, extra, status, code) -> None:
    _, _, key = setup_role(tenant)
    answer = assume(rpc, key, role_arn(tenant), **extra)
    assert answer.status_code == status, answer.content
    assert answer.json()["Code"] == code
    assert not RoleSession.objects.exists()


@pytest.mark.django_db
def test_both_the_callers_grant_and_the_trust_policy_are_needed(client, tenant) -> None:
    rpc = Rpc(client, tenant)
    # Trust only names another user: ops has the grant but is not trusted.
    _, _, key = setup_role(tenant, trust_policy=trust(f"acs:ram::{tenant.account_id}:user/someone-else"))
    refused = assume(rpc, key, role_arn(tenant))
    assert refused.status_code == 403
    assert refused.json()["Code"] == "Forbidden.RAM"
    # A user trusted by the role but without its own sts:AssumeRole grant is refused too.
    stranger = iam.ram_user_create(principal=tenant.principal, name="stranger")
    stranger_key = iam.access_key_create(user=stranger)
    sts.role_create(
        principal=tenant.principal,
        name="Open",
        trust_policy=trust(f"acs:ram::{tenant.account_id}:root"),
    )
    assert assume(rpc, stranger_key, role_arn(tenant, "Open")).status_code == 403
    # Another account's role does not exist for the caller, whatever its trust policy says.
    other = make_tenant("globex")
    sts.role_create(principal=other.principal, name="Shared", trust_policy=trust("acs:ram::*:root"))
    root_key = type(
        "Key", (), {"access_key_id": tenant.access_key_id, "access_key_secret": tenant.access_key_secret}
    )
    foreign = assume(rpc, root_key, f"acs:ram::{other.account_id}:role/Shared")
    assert foreign.status_code == 404
    assert not RoleSession.objects.exists()


@pytest.mark.django_db
def test_the_trust_policy_can_require_an_external_id(rpc, tenant) -> None:
    _, _, key = setup_role(
        tenant,
        trust_policy=trust(f"acs:ram::{tenant.account_id}:root", StringEquals={"sts:ExternalId": "abc-123"}),
    )
    assert assume(rpc, key, role_arn(tenant)).status_code == 403
    assert assume(rpc, key, role_arn(tenant), ExternalId="wrong-1").status_code == 403
    assert assume(rpc, key, role_arn(tenant), ExternalId="abc-123").status_code == 200


@pytest.mark.django_db
def test_a_session_policy_narrows_the_role(rpc, tenant, region) -> None:
    instance = make_instance(tenant)
    _, _, key = setup_role(tenant)
    read_only = json.dumps(allow(["ecs:DescribeInvocation*"], ["*"]))
    credentials = assume(rpc, key, role_arn(tenant), Policy=read_only).json()["Credentials"]
    signed = {"access_key_id": credentials["AccessKeyId"], "secret": credentials["AccessKeySecret"]}
    token = {"SecurityToken": credentials["SecurityToken"]}
    run = {"RegionId": region, "Type": "RunShellScript", "CommandContent": "id", "InstanceId.1": instance}
    assert rpc.v1("RunCommand", {**run, **token}, **signed).status_code == 403
    assert rpc.v1("DescribeInvocations", {"RegionId": region, **token}, **signed).status_code == 200


def sdk_config(live_server, key_id: str, secret: str, token: str | None = None) -> Config:
    endpoint = urlsplit(live_server.url).netloc.replace("localhost", "127.0.0.1")
    return Config(
        access_key_id=key_id,
        access_key_secret=secret,
        security_token=token,
        endpoint=endpoint,
        protocol="http",
    )


def test_the_official_sdks_assume_a_role_and_use_it_until_it_expires(live_server, transactional_db) -> None:
    region = settings.ASSIST_REGION
    tenant = make_tenant("sdk-sts")
    instance = make_instance(tenant, "sts-box")
    _, _, key = setup_role(tenant)
    sts_client = StsClient(sdk_config(live_server, key.access_key_id, key.access_key_secret))
    assumed = sts_client.assume_role(
        sts_models.AssumeRoleRequest(
            role_arn=role_arn(tenant), role_session_name="sdk-session", duration_seconds=900
        )
    )
    credentials = assumed.body.credentials
    assert credentials.access_key_id.startswith("STS.")
    assert credentials.expiration.endswith("Z")
    assert assumed.body.assumed_role_user.arn.endswith(":assumed-role/Operator/sdk-session")

    as_role = sdk_config(
        live_server, credentials.access_key_id, credentials.access_key_secret, credentials.security_token
    )
    identity = StsClient(as_role).get_caller_identity()
    assert identity.body.identity_type == "AssumedRoleUser"
    assert identity.body.account_id == tenant.account_id
    ecs_client = EcsClient(as_role)
    request = ecs.RunCommandRequest(
        region_id=region, type="RunShellScript", command_content="uptime", instance_id=[instance]
    )
    assert ecs_client.run_command(request).body.invoke_id.startswith("t-")

    RoleSession.objects.filter(pk=credentials.access_key_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(tea_exceptions.ClientException) as expired:
        ecs_client.run_command(request)
    assert expired.value.code == "InvalidSecurityToken.Expired"


@pytest.mark.django_db
def test_the_audit_trail_names_the_role_session_and_keeps_no_secret(rpc, tenant, region) -> None:
    from console.audit.models import AuditEvent

    _, _, key = setup_role(tenant)
    credentials = assume(rpc, key, role_arn(tenant)).json()["Credentials"]
    signed = {"access_key_id": credentials["AccessKeyId"], "secret": credentials["AccessKeySecret"]}
    rpc.v1(
        "DescribeInvocations", {"RegionId": region, "SecurityToken": credentials["SecurityToken"]}, **signed
    )
    event = AuditEvent.objects.get(event_name="DescribeInvocations")
    assert event.identity_type == "assumed-role"
    assert event.user_name == "ops as Operator/deploy-42"
    assert event.access_key_id == credentials["AccessKeyId"]
    stored = " ".join(str(value) for value in AuditEvent.objects.values_list("request_parameters", flat=True))
    assert credentials["SecurityToken"] not in stored
    assert credentials["AccessKeySecret"] not in stored
