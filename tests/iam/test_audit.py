"""The audit trail through its doors: signed RPC calls, console POSTs, log-ins, refusals from
``authorize`` with no request around them; the /audit/ page and its export; append-only rows."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.test import Client

from console.audit.models import AppendOnlyError, AuditEvent
from console.audit.redact import MAX_VALUE_CHARS, REDACTED, redact
from console.iam import services
from console.iam.authz import AccessDenied, authorize
from console.iam.models import Policy, User
from console.iam.principal import Principal, arn
from console.invocations.models import Invocation
from tests.api.conftest import Rpc, Tenant, make_instance, make_tenant

pytestmark = pytest.mark.django_db

REGION = "local"


@pytest.fixture
def tenant() -> Tenant:
    return make_tenant("acme")


@pytest.fixture
def other() -> Tenant:
    return make_tenant("globex")


def ram_tenant(root: Tenant, name: str, *system: str) -> Tenant:
    """A RAM user of root's account with the given system policies and an access key of its own."""
    user = services.ram_user_create(principal=root.principal, name=name)
    for policy_name in system:
        policy = Policy.objects.get(account=None, name=policy_name)
        services.policy_attach(principal=root.principal, policy=policy, to_user=user)
    key = services.access_key_create(user=user)
    return Tenant(user=user, access_key_id=key.access_key_id, access_key_secret=key.access_key_secret)


def logged_in(user: User) -> Client:
    client = Client(REMOTE_ADDR="192.0.2.7", HTTP_USER_AGENT="pytest-browser")
    client.force_login(user)
    return client


def run_params(instance_id: str, **extra: str) -> dict[str, str]:
    return {
        "RegionId": REGION,
        "Type": "RunShellScript",
        "CommandContent": "echo {{dbPassword}} {{who}}",
        "InstanceId.1": instance_id,
        "EnableParameter": "true",
        "Parameters": json.dumps({"dbPassword": "hunter2", "who": "ops"}),
        **extra,
    }


# ---------------------------------------------------------------------------------------------- API


@pytest.mark.parametrize("style", ["v1", "v3"])
def test_an_api_call_is_recorded_with_secrets_redacted(client, tenant, style) -> None:
    instance_id = make_instance(tenant)
    response = getattr(Rpc(client, tenant), style)("RunCommand", run_params(instance_id))
    assert response.status_code == 200, response.content
    body = response.json()
    event = AuditEvent.objects.get()
    assert (event.event_name, event.event_type, event.source, event.event_rw) == (
        "RunCommand",
        "ApiCall",
        "api",
        "Write",
    )
    assert event.account_id == tenant.account_id
    assert (event.identity_type, event.user_name, event.access_key_id) == (
        "root-account",
        "root",
        tenant.access_key_id,
    )
    assert (event.success, event.allowed, event.error_code, event.http_status) == (True, True, "", 200)
    assert event.request_id == body["RequestId"]
    params = event.request_parameters
    assert params["CommandContent"] == "echo {{dbPassword}} {{who}}"  # content is kept
    assert json.loads(params["Parameters"]) == {"dbPassword": REDACTED, "who": "ops"}
    if style == "v1":
        assert params["Signature"] == REDACTED
    assert "hunter2" not in json.dumps(params) and tenant.access_key_secret not in json.dumps(params)
    referenced = event.additional["referencedResources"]
    assert referenced["InstanceId"] == [instance_id] and referenced["InvokeId"] == [body["InvokeId"]]


def test_a_denied_api_call_is_recorded_once_as_denied(client, tenant) -> None:
    """Item 4: a RAM user's own key signs calls; read-only access cannot RunCommand (403 Forbidden.RAM),
    nothing is created, and the trail holds exactly one event for the call, marked denied."""
    instance_id = make_instance(tenant)
    reader = ram_tenant(tenant, "reader", "AliyunECSAssistantReadonlyAccess")
    rpc = Rpc(client, reader)
    allowed = rpc.v1("DescribeInvocationResults", {"RegionId": REGION})
    assert allowed.status_code == 200, allowed.content
    response = rpc.v1("RunCommand", run_params(instance_id, SecurityToken="sts-token-value"))
    assert response.status_code == 403 and response.json()["Code"] == "Forbidden.RAM"
    assert not Invocation.objects.exists()
    read, denied = AuditEvent.objects.order_by("pk")
    assert (read.event_name, read.event_rw, read.success, read.allowed) == (
        "DescribeInvocationResults",
        "Read",
        True,
        True,
    )
    assert (denied.event_name, denied.success, denied.allowed, denied.error_code) == (
        "RunCommand",
        False,
        False,
        "Forbidden.RAM",
    )
    assert (denied.identity_type, denied.user_name, denied.access_key_id) == (
        "ram-user",
        "reader",
        reader.access_key_id,
    )
    assert denied.account_id == tenant.account_id and denied.http_status == 403
    instance_arn = arn(tenant.account_id, REGION, "instance", instance_id)
    assert denied.additional["denied"] == [{"action": "ecs:RunCommand", "resource": instance_arn}]
    assert instance_arn in denied.resources
    assert denied.request_parameters["SecurityToken"] == REDACTED
    assert "hunter2" not in json.dumps(denied.request_parameters)


def test_failed_authentication_is_recorded_in_the_keys_account_only_when_the_key_exists(
    client, tenant
) -> None:
    rpc = Rpc(client, tenant)
    wrong = rpc.v1("DescribeInvocationResults", {"RegionId": REGION}, secret="not-the-secret")
    assert wrong.json()["Code"] == "SignatureDoesNotMatch"
    event = AuditEvent.objects.get()
    assert (event.account_id, event.access_key_id, event.error_code) == (
        tenant.account_id,
        tenant.access_key_id,
        "SignatureDoesNotMatch",
    )
    assert not event.success and event.allowed
    unknown = rpc.v1("DescribeInvocationResults", {"RegionId": REGION}, access_key_id="LTAInope")
    assert unknown.json()["Code"] == "InvalidAccessKeyId.NotFound"
    assert AuditEvent.objects.count() == 1  # no account to file it under: logged, not stored


def test_a_failure_to_record_never_breaks_the_call(client, tenant, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(AuditEvent, "save", broken)
    response = Rpc(client, tenant).v1("DescribeInvocationResults", {"RegionId": REGION})
    assert response.status_code == 200
    assert not AuditEvent.objects.exists()


DEEP = '{"a":' * 100_000 + "1" + "}" * 100_000
DEEP_WITH_SECRET = '{"a":' * 100_000 + '{"dbPassword": "hunter2"}' + "}" * 100_000


def cut(value: str) -> str:
    return value[:MAX_VALUE_CHARS] + f"…(cut, {len(value)} characters)"


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("CommandContent", "echo {{dbPassword}}", "echo {{dbPassword}}"),
        ("Signature", "c2lnbmVk", REDACTED),
        ("X-Acs-Security-Token", "sts", REDACTED),
        ("Parameters", '{"dbPassword": "hunter2", "who": "ops"}', '{"dbPassword": "******", "who": "ops"}'),
        ("Parameters", '{"a": [{"apiSecret": 1}], "b": 2}', '{"a": [{"apiSecret": "******"}], "b": 2}'),
        ("Parameters", '{"who":  "ops"}', '{"who":  "ops"}'),  # nothing secret: kept as sent
        ("Parameters", "{not json, password}", "{not json, password}"),
        ("Parameters", "x" * (MAX_VALUE_CHARS + 1), cut("x" * (MAX_VALUE_CHARS + 1))),
        # Too deep to parse or walk: kept as cut text, or hidden whole if a secret name is anywhere in it.
        ("Parameters", DEEP, cut(DEEP)),
        ("Parameters", f" {DEEP} ", cut(f" {DEEP} ")),
        ("Parameters", DEEP_WITH_SECRET, REDACTED),
        (
            "Parameters",
            '{"a":' + "[" * 100_000 + "]" * 100_000 + "}",
            cut('{"a":' + "[" * 100_000 + "]" * 100_000 + "}"),
        ),
        ("Parameters", '{"a":' * 100_000 + '"my token"' + "}" * 100_000, REDACTED),
    ],
)
def test_redaction_is_total(name, value, kept) -> None:
    assert redact({name: value}) == {name: kept}


def test_a_deeply_nested_parameter_gets_its_error_and_its_record(client, tenant) -> None:
    instance_id = make_instance(tenant)
    rpc = Rpc(client, tenant)
    for parameters in (DEEP, DEEP_WITH_SECRET):
        response = rpc.v1("RunCommand", run_params(instance_id, Parameters=parameters))
        assert response.status_code == 400, response.content
        assert response.json()["Code"] == "InvalidParameter.Parameters"
    deep, secret = AuditEvent.objects.order_by("pk")
    for event in (deep, secret):
        assert (event.event_name, event.success, event.error_code, event.http_status) == (
            "RunCommand",
            False,
            "InvalidParameter.Parameters",
            400,
        )
        assert event.request_parameters["CommandContent"] == "echo {{dbPassword}} {{who}}"
    assert deep.request_parameters["Parameters"] == cut(DEEP)
    assert secret.request_parameters["Parameters"] == REDACTED
    assert "hunter2" not in json.dumps(secret.request_parameters)
    assert not Invocation.objects.exists()


# ------------------------------------------------------------------------------------------ console


def test_a_console_post_is_recorded_with_its_outcome(tenant) -> None:
    client = logged_in(tenant.user)
    ok = client.post("/activations/", {"instance_count": "3", "ttl_hours": "4", "description": "rack 7"})
    bad = client.post("/activations/", {"instance_count": "many", "ttl_hours": "4"})
    assert (ok.status_code, bad.status_code) == (200, 400)
    first, second = AuditEvent.objects.order_by("pk")
    assert (first.event_name, first.event_type, first.source) == ("activations", "ConsoleCall", "console")
    assert (first.success, first.allowed, first.http_status) == (True, True, 200)
    assert (first.user_name, first.source_ip, first.user_agent) == ("root", "192.0.2.7", "pytest-browser")
    assert first.request_parameters["description"] == "rack 7"
    assert "csrfmiddlewaretoken" not in first.request_parameters
    assert (second.success, second.http_status) == (False, 400)


def test_a_console_post_refused_by_a_policy_is_one_denied_event(tenant) -> None:
    nobody = ram_tenant(tenant, "nobody")
    response = logged_in(nobody.user).post("/activations/", {"instance_count": "3", "ttl_hours": "4"})
    assert response.status_code == 400
    event = AuditEvent.objects.get()
    assert (event.event_name, event.allowed, event.error_code) == ("activations", False, "Forbidden.RAM")
    assert event.additional["denied"][0]["action"] == "ecs:CreateActivation"


def test_gets_are_not_recorded(tenant) -> None:
    client = logged_in(tenant.user)
    assert client.get("/instances/").status_code == 200
    assert not AuditEvent.objects.exists()


def test_log_ins_are_recorded_without_the_password(tenant) -> None:
    client = Client(REMOTE_ADDR="198.51.100.4")
    assert client.post("/login/", {"username": "root@acme", "password": "wrong-password"}).status_code == 200
    assert client.post("/login/", {"username": "ghost@acme", "password": "x"}).status_code == 200
    assert client.post("/login/", {"username": "root@nowhere", "password": "x"}).status_code == 200
    assert client.post("/login/", {"username": "root@acme", "password": "correct horse"}).status_code == 302
    assert client.post("/logout/").status_code == 302
    failed, ghost, success, logout = AuditEvent.objects.order_by("pk")  # nowhere: no account, not stored
    assert (failed.event_type, failed.success, failed.error_code) == (
        "ConsoleSignin",
        False,
        "InvalidCredentials",
    )
    assert (failed.user_name, failed.identity_type, failed.source_ip) == (
        "root",
        "root-account",
        "198.51.100.4",
    )
    assert (ghost.user_name, ghost.identity_type, ghost.account_id) == ("ghost", "", tenant.account_id)
    assert (success.event_name, success.success, success.user_name) == ("ConsoleSignin", True, "root")
    assert (logout.event_name, logout.user_name) == ("logout", "root")
    for event in (failed, ghost, success):
        assert set(event.request_parameters) == {"username"}


def test_a_failed_log_in_by_someone_logged_in_is_a_failure(tenant) -> None:
    client = logged_in(tenant.user)
    assert client.post("/login/", {"username": "root@acme", "password": "wrong-password"}).status_code == 200
    event = AuditEvent.objects.get()
    assert (event.event_name, event.success, event.error_code) == (
        "ConsoleSignin",
        False,
        "InvalidCredentials",
    )


# ------------------------------------------------------------------------- refusals with no door


def test_a_refusal_outside_any_request_is_stored_at_once(tenant) -> None:
    """A websocket consumer or task builds its principal without a collector."""
    nobody = ram_tenant(tenant, "nobody")
    principal = Principal.for_user(nobody.user, source_ip="203.0.113.9", via="websocket")
    resource = arn(tenant.account_id, REGION, "instance", "mi-1")
    with pytest.raises(AccessDenied):
        authorize(principal, "ecs:StartTerminalSession", [resource])
    event = AuditEvent.objects.get()
    assert (event.event_type, event.event_name, event.source, event.source_ip) == (
        "AccessDenied",
        "ecs:StartTerminalSession",
        "websocket",
        "203.0.113.9",
    )
    assert not event.allowed and event.resources == [resource]
    with pytest.raises(AccessDenied), transaction.atomic():
        authorize(principal, "ecs:StartTerminalSession", [resource])
    assert AuditEvent.objects.count() == 1  # inside a transaction that rolls back: logged only


# ---------------------------------------------------------------------------------- append-only


def test_events_cannot_be_changed_or_deleted(tenant) -> None:
    assert logged_in(tenant.user).post("/activations/", {"instance_count": "1", "ttl_hours": "1"})
    event = AuditEvent.objects.get()
    event.success = False
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(success=False)
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    client = logged_in(tenant.user)
    for url in ("/audit/", "/audit/export.jsonl"):
        assert client.post(url, {"id": event.pk}).status_code == 405
    assert AuditEvent.objects.get(pk=event.pk).success
    assert AuditEvent.objects.filter(http_status=405, success=False).count() == 2  # the attempts, too


# ------------------------------------------------------------------------------ page and export


def _event(tenant: Tenant, name: str, *, user: str = "root", at: datetime | None = None) -> AuditEvent:
    """A stored event; ``at`` backdates it (the services always stamp "now")."""
    return AuditEvent.objects.create(
        event_name=name,
        event_type="ApiCall",
        event_rw="Write",
        source="api",
        account_id=tenant.account_id,
        user_name=user,
        success=True,
        event_time=at or datetime.now(UTC),
    )


def test_the_page_shows_only_the_accounts_own_events(tenant, other) -> None:
    _event(tenant, "RunCommand")
    _event(other, "SecretOtherEvent", user="mallory")
    page = logged_in(tenant.user).get("/audit/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "RunCommand" in body and "SecretOtherEvent" not in body and "mallory" not in body
    export = logged_in(tenant.user).get("/audit/export.jsonl")
    lines = [json.loads(line) for line in b"".join(export.streaming_content).decode().splitlines()]
    assert [line["eventName"] for line in lines] == ["RunCommand"]
    assert lines[0]["recipientAccountId"] == tenant.account_id
    assert set(lines[0]) >= {"eventId", "eventTime", "userIdentity", "requestParameters", "errorCode"}
    other_view = logged_in(other.user).get("/audit/", {"event": "RunCommand"})
    assert other_view.status_code == 200 and list(other_view.context["events"]) == []


def test_filters_and_paging(tenant) -> None:
    now = datetime.now(UTC)
    for i in range(55):
        _event(tenant, "DescribeInvocations", at=now - timedelta(minutes=i))
    _event(tenant, "RunCommand", user="alice", at=now - timedelta(days=2))
    client = logged_in(tenant.user)
    first = client.get("/audit/")
    assert len(first.context["events"]) == 50 and first.context["has_next"]
    second = client.get("/audit/", {"page": "2"})
    assert len(second.context["events"]) == 6 and not second.context["has_next"]
    assert [e.user_name for e in client.get("/audit/", {"user": "alice"}).context["events"]] == ["alice"]
    assert len(client.get("/audit/", {"event": "runcomm"}).context["events"]) == 1
    since = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    recent = client.get("/audit/", {"since": since, "page": "2"}).context["events"]
    assert len(recent) == 5
    until = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert [e.event_name for e in client.get("/audit/", {"until": until}).context["events"]] == ["RunCommand"]
    export = client.get("/audit/export.jsonl", {"user": "alice"})
    assert len(b"".join(export.streaming_content).splitlines()) == 1
    assert client.get("/audit/", {"since": "yesterday"}).status_code == 400
    assert client.get("/audit/", {"result": "maybe"}).status_code == 400


def test_results_filter(tenant, client) -> None:
    reader = ram_tenant(tenant, "reader", "AliyunECSAssistantReadonlyAccess")
    instance_id = make_instance(tenant)
    rpc = Rpc(client, reader)
    rpc.v1("DescribeInvocationResults", {"RegionId": REGION})
    rpc.v1("RunCommand", run_params(instance_id))
    rpc.v1("DescribeInvocationResults", {})  # MissingParameter.RegionId
    page = logged_in(tenant.user)

    def names(result: str) -> list[tuple[str, str]]:
        events = page.get("/audit/", {"result": result}).context["events"]
        return [(e.event_name, e.error_code) for e in events]

    assert names("success") == [("DescribeInvocationResults", "")]
    assert names("denied") == [("RunCommand", "Forbidden.RAM")]
    assert names("error") == [("DescribeInvocationResults", "MissingParameter.RegionId")]


@pytest.mark.parametrize(
    ("system", "status"),
    [((), 404), (("AliyunECSAssistantFullAccess",), 404), (("AdministratorAccess",), 200)],
)
def test_the_page_needs_lookup_events(tenant, system, status) -> None:
    user = ram_tenant(tenant, "auditor", *system).user
    client = logged_in(user)
    assert client.get("/audit/").status_code == status
    assert client.get("/audit/export.jsonl").status_code == status
    if status == 404:  # the refused look-ups are themselves on the trail
        denied = AuditEvent.objects.filter(allowed=False, user_name="auditor")
        assert denied.count() == 2
        assert denied.first().additional["denied"][0]["action"] == "actiontrail:LookupEvents"


def test_search_by_resource_and_access_key(tenant, other, client) -> None:
    """The page finds what happened to one instance (its id or part of its ARN, whether the request named
    it or was refused on it) and what one key signed; the export selects the same events."""
    first, second = make_instance(tenant, "first"), make_instance(tenant, "second")
    assert Rpc(client, tenant).v1("RunCommand", run_params(first)).status_code == 200
    reader = ram_tenant(tenant, "reader", "AliyunECSAssistantReadonlyAccess")
    assert Rpc(client, reader).v1("RunCommand", run_params(second)).status_code == 403
    assert Rpc(client, reader).v1("DescribeInvocations", {"RegionId": REGION}).status_code == 200
    # Another account naming the same instance: on its own trail only.
    assert Rpc(client, other).v1("RunCommand", run_params(first)).status_code == 404
    page = logged_in(tenant.user)

    def found(**query: str) -> list[tuple[str, str]]:
        response = page.get("/audit/", query)
        assert response.status_code == 200
        listed = [(e.event_name, e.user_name) for e in response.context["events"]]
        export = page.get("/audit/export.jsonl", query)
        lines = [json.loads(line) for line in b"".join(export.streaming_content).splitlines()]
        assert [(line["eventName"], line["userIdentity"]["userName"]) for line in lines] == listed
        return listed

    assert found(resource=first) == [("RunCommand", "root")]
    assert found(resource=f"instance/{second}") == [("RunCommand", "reader")]
    assert found(resource=second.upper()) == [("RunCommand", "reader")]  # ids are matched ignoring case
    by_reader = [("DescribeInvocations", "reader"), ("RunCommand", "reader")]
    assert found(access_key=reader.access_key_id) == by_reader
    assert found(access_key=reader.access_key_id, resource=second) == [("RunCommand", "reader")]
    assert found(resource="mi-nothing-like-it") == []
    assert found(access_key=reader.access_key_id[:-1]) == []  # a key id is matched whole
    theirs = logged_in(other.user).get("/audit/", {"resource": first}).context["events"]
    assert [(e.event_name, e.error_code) for e in theirs] == [("RunCommand", "InvalidInstance.NotFound")]

    body = page.get("/audit/", {"result": "denied"}).content.decode()
    instance_arn = arn(tenant.account_id, REGION, "instance", second)
    assert f"<code>ecs:RunCommand</code> on <code>{instance_arn}</code>" in body
