"""Activations, managed instances and agent status through the RPC API (reference sections 3.4, 3.6 and
Appendix A): exact response shapes (bare ``ActivationList[]`` and ``Instances[]``), filters, both paging
styles, every refusal, account isolation and RAM."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from console.fleet import services as fleet_services
from console.fleet.models import Activation, Instance
from console.iam.models import User
from console.iam.services import access_key_create, policy_attach, policy_create
from console.invocations import status as st
from console.invocations.models import InvocationResult
from tests.api.conftest import Rpc, Tenant, make_instance

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ACTIVATION_ID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")

ACTIVATION_FIELDS = {
    "ActivationId",
    "CreationTime",
    "DeregisteredCount",
    "Description",
    "InstanceCount",
    "InstanceName",
    "IpAddressRange",
    "RegisteredCount",
    "TimeToLiveInHours",
}
MANAGED_FIELDS = {
    "ActivationId",
    "AgentVersion",
    "Hostname",
    "InstanceId",
    "InstanceName",
    "InternetIp",
    "IntranetIp",
    "InvocationCount",
    "LastInvokedTime",
    "MachineId",
    "OsType",
    "OsVersion",
    "RegistrationTime",
    "ResourceGroupId",
}
STATUS_FIELDS = {
    "ActiveTaskCount",
    "CloudAssistantStatus",
    "CloudAssistantVersion",
    "InstanceId",
    "InvocationCount",
    "LastHeartbeatTime",
    "LastInvokedTime",
    "OSType",
    "SupportSessionManager",
}


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["Code"] == code, response.content


def register(tenant: Tenant, **activation: object) -> tuple[Activation, Instance]:
    issued = fleet_services.activation_create(principal=tenant.principal, **activation)
    registration = fleet_services.instance_register(
        activation_id=issued.activation.id,
        activation_code=issued.code,
        source_ip="127.0.0.1",
        hostname="host-x",
        machine_id="m-123",
        agent_version="1.2.3",
    )
    return Activation.objects.get(pk=issued.activation.id), registration.instance


def hello(instance: Instance, *, ips: list[str] | None = None, os_type: str = "linux") -> None:
    fleet_services.instance_hello(
        instance=instance,
        agent_version="2.0.0",
        os_type=os_type,
        os_name="Debian 12",
        hostname="web-1",
        ips=ips or ["127.0.0.1", "10.0.0.5", "8.8.4.4"],
        boot_id="b",
    )


def run_on(rpc: Rpc, region: str, *instance_ids: str) -> str:
    params = {"RegionId": region, "Type": "RunShellScript", "CommandContent": "echo hi"}
    params.update({f"InstanceId.{n}": i for n, i in enumerate(instance_ids, start=1)})
    return ok(rpc.v1("RunCommand", params))["InvokeId"]


def ram_rpc(client, tenant: Tenant, actions: list[str] | None = None, resource: str = "*") -> Rpc:
    """An Rpc signing as a RAM user of ``tenant`` allowed ``actions`` (none: no policy at all)."""
    user = User.objects.create(account_id=tenant.account_id, name="dev", login_name="dev@acme", is_root=False)
    if actions:
        policy = policy_create(
            principal=tenant.principal,
            name="fleet",
            document={
                "Version": "1",
                "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}],
            },
        )
        policy_attach(principal=tenant.principal, policy=policy, to_user=user)
    key = access_key_create(user=user)
    return Rpc(
        client, Tenant(user=user, access_key_id=key.access_key_id, access_key_secret=key.access_key_secret)
    )


# --- CreateActivation ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["v1", "v3"])
def test_create_activation(rpc, tenant, region, style) -> None:
    body = ok(
        getattr(rpc, style)(
            "CreateActivation",
            {
                "RegionId": region,
                "InstanceCount": "12",
                "TimeToLiveInHours": "2",
                "InstanceName": "web.a_b-c:d",
                "IpAddressRange": "10.0.0.0/8",
                "Description": "rack 7",
                "ResourceGroupId": "rg-1",
                "ClientToken": "t",
            },
        )
    )
    assert set(body) == {"RequestId", "ActivationId", "ActivationCode"}
    assert ACTIVATION_ID.match(body["ActivationId"])
    assert body["ActivationCode"].startswith("a-")
    row = Activation.objects.get(pk=body["ActivationId"])
    assert (row.account_id, row.region, row.instance_count, row.time_to_live_hours) == (
        tenant.account_id,
        region,
        12,
        2,
    )
    assert (row.instance_name, row.ip_address_range, row.description) == (
        "web.a_b-c:d",
        "10.0.0.0/8",
        "rack 7",
    )
    assert row.code_hash == fleet_services.secret_hash(body["ActivationCode"])
    assert timedelta(hours=1, minutes=59) < row.expires_at - row.created_at <= timedelta(hours=2)


@pytest.mark.django_db
def test_create_activation_defaults(rpc, region) -> None:
    body = ok(rpc.v1("CreateActivation", {"RegionId": region}))
    row = Activation.objects.get(pk=body["ActivationId"])
    assert (row.instance_count, row.time_to_live_hours, row.instance_name, row.description) == (10, 4, "", "")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"InstanceCount": "0"}, 400, "InvalidParameter.InstanceCount"),
        ({"InstanceCount": "1001"}, 400, "InvalidParameter.InstanceCount"),
        ({"InstanceCount": "ten"}, 400, "InvalidParameter.InstanceCount"),
        ({"TimeToLiveInHours": "0"}, 400, "InvalidParameter.TimeToLiveInHours"),
        ({"TimeToLiveInHours": "5"}, 400, "InvalidParameter.TimeToLiveInHours"),
        ({"InstanceName": "a"}, 400, "InvalidParameter.InstanceName"),
        ({"InstanceName": "1web"}, 400, "InvalidParameter.InstanceName"),
        ({"InstanceName": "web 1"}, 400, "InvalidParameter.InstanceName"),
        ({"InstanceName": "w" * 51}, 400, "InvalidParameter.InstanceName"),
        ({"IpAddressRange": "not-an-ip"}, 400, "InvalidParameter.IpAddressRange"),
        ({"Description": "d" * 101}, 400, "InvalidParameter.Description"),
        ({"Tag.1.Key": "k", "Tag.1.Value": "https://x"}, 400, "InvalidTagValue.Malformed"),
        ({"RegionId": ""}, 400, "MissingParameter.RegionId"),
    ],
)
def test_create_activation_refusals(rpc, region, params, status, code) -> None:
    refused(rpc.v1("CreateActivation", {"RegionId": region, **params}), status, code)
    assert Activation.objects.count() == 0


@pytest.mark.django_db
def test_create_activation_limits_are_inclusive(rpc, region) -> None:
    for params in (
        {"InstanceCount": "1", "TimeToLiveInHours": "1", "InstanceName": "ab"},
        {
            "InstanceCount": "1000",
            "TimeToLiveInHours": "4",
            "InstanceName": "w" * 50,
            "Description": "d" * 100,
        },
        {"IpAddressRange": "2001:db8::1"},
    ):
        ok(rpc.v1("CreateActivation", {"RegionId": region, **params}))
    assert Activation.objects.count() == 3


def test_console_form_keeps_its_longer_lifetime(db, tenant) -> None:
    issued = fleet_services.activation_create(principal=tenant.principal, time_to_live_hours=48)
    assert issued.activation.time_to_live_hours == 48


# --- DescribeActivations / DisableActivation / DeleteActivation ---------------------------------------


@pytest.mark.django_db
def test_describe_activations_shape_and_counts(rpc, tenant, other_tenant, region) -> None:
    activation, instance = register(tenant, instance_count=3, instance_name="web", description="d")
    fleet_services.instance_deregister(principal=tenant.principal, instance_id=instance.id, region=region)
    register(other_tenant)
    body = ok(rpc.v1("DescribeActivations", {"RegionId": region}))
    assert set(body) == {"RequestId", "ActivationList", "PageNumber", "PageSize", "TotalCount"}
    assert (body["PageNumber"], body["PageSize"], body["TotalCount"]) == (1, 10, 1)
    [row] = body["ActivationList"]
    assert set(row) == ACTIVATION_FIELDS | {"Disabled", "ResourceGroupId", "Tags"}
    assert ISO_Z.match(row["CreationTime"])
    assert row | {"CreationTime": ""} == {
        "ActivationId": activation.id,
        "CreationTime": "",
        "DeregisteredCount": 1,
        "Description": "d",
        "Disabled": False,
        "InstanceCount": 3,
        "InstanceName": "web",
        "IpAddressRange": "",
        "RegisteredCount": 1,
        "ResourceGroupId": "",
        "Tags": [],
        "TimeToLiveInHours": 4,
    }


@pytest.mark.django_db
def test_describe_activations_filters_and_paging(rpc, tenant, region) -> None:
    made = [
        fleet_services.activation_create(
            principal=tenant.principal, region=region, instance_name=f"n{i}"
        ).activation
        for i in range(5)
    ]
    newest_first = [a.id for a in reversed(made)]

    def ids(body: dict) -> list[str]:
        return [row["ActivationId"] for row in body["ActivationList"]]

    assert ids(ok(rpc.v1("DescribeActivations", {"RegionId": region, "ActivationId": made[1].id}))) == [
        made[1].id
    ]
    assert ids(ok(rpc.v1("DescribeActivations", {"RegionId": region, "InstanceName": "n3"}))) == [made[3].id]
    assert ids(ok(rpc.v1("DescribeActivations", {"RegionId": region, "ActivationId": "nope"}))) == []
    assert ok(rpc.v1("DescribeActivations", {"RegionId": "elsewhere"}))["ActivationList"] == []

    page2 = ok(rpc.v1("DescribeActivations", {"RegionId": region, "PageNumber": "2", "PageSize": "2"}))
    assert ids(page2) == newest_first[2:4] and page2["TotalCount"] == 5

    seen, token = [], None
    while True:
        params = {"RegionId": region, "MaxResults": "2"}
        if token:
            params["NextToken"] = token
        body = ok(rpc.v1("DescribeActivations", params))
        assert set(body) == {"RequestId", "ActivationList", "NextToken", "PageSize", "TotalCount"}
        seen += ids(body)
        token = body["NextToken"]
        if not token:
            break
    assert seen == newest_first


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "params", "code"),
    [
        ("DescribeActivations", {"PageSize": "51"}, "InvalidParam.PageSize"),
        ("DescribeActivations", {"PageNumber": "0"}, "InvalidParam.PageNumber"),
        ("DescribeActivations", {"MaxResults": "0"}, "InvalidParam.MaxResults"),
        ("DescribeActivations", {"NextToken": "garbage!"}, "InvalidParameter.NextToken"),
        ("DescribeActivations", {"Tag.1.Value": "v"}, "InvalidParameter.TagValue"),
        ("DescribeManagedInstances", {"PageSize": "51"}, "InvalidParam.PageSize"),
        ("DescribeManagedInstances", {"MaxResults": "99"}, "InvalidParam.MaxResults"),
        ("DescribeManagedInstances", {"Connected": "maybe"}, "InvalidParameter.Connected"),
        ("DescribeManagedInstances", {"OsType": "beos"}, "InvalidParameter.OsType"),
        ("DescribeManagedInstances", {"MachineId": "m" * 37}, "InvalidParameter.MachineId"),
        ("DescribeManagedInstances", {"Tag.1.Key": "aliyun-x"}, "InvalidTagKey.Malformed"),
        ("DescribeCloudAssistantStatus", {"OSType": "beos"}, "InvalidParameter.OSType"),
        ("DescribeActivations", {"RegionId": ""}, "MissingParameter.RegionId"),
        ("DisableActivation", {}, "MissingParameter.ActivationId"),
        ("DeleteActivation", {}, "MissingParameter.ActivationId"),
        ("ModifyManagedInstance", {"InstanceName": "web"}, "MissingParameter.InstanceId"),
        ("DeregisterManagedInstance", {}, "MissingParameter.InstanceId"),
        ("InstallCloudAssistant", {}, "MissingParameter.InstanceId"),
    ],
)
def test_bad_parameters_are_400(rpc, region, action, params, code) -> None:
    refused(rpc.v1(action, {"RegionId": region, **params}), 400, code)


@pytest.mark.django_db
def test_status_paging_errors_are_403_as_other_describes(rpc, region) -> None:
    refused(
        rpc.v1("DescribeCloudAssistantStatus", {"RegionId": region, "PageSize": "51"}),
        403,
        "InvalidParam.PageSize",
    )


@pytest.mark.django_db
def test_disable_activation(rpc, tenant, region) -> None:
    issued = fleet_services.activation_create(principal=tenant.principal, instance_count=2)
    body = ok(rpc.v1("DisableActivation", {"RegionId": region, "ActivationId": issued.activation.id}))
    assert set(body["Activation"]) == ACTIVATION_FIELDS | {"Disabled"}
    assert (
        body["Activation"]["Disabled"] is True and body["Activation"]["ActivationId"] == issued.activation.id
    )
    assert Activation.objects.get(pk=issued.activation.id).disabled
    ok(rpc.v1("DisableActivation", {"RegionId": region, "ActivationId": issued.activation.id}))  # idempotent
    with pytest.raises(Exception) as error:
        fleet_services.instance_register(
            activation_id=issued.activation.id, activation_code=issued.code, source_ip="127.0.0.1"
        )
    assert getattr(error.value, "code", "") == "InvalidActivation.Disabled"


@pytest.mark.django_db
def test_delete_activation_only_when_unused(rpc, tenant, region) -> None:
    unused = fleet_services.activation_create(principal=tenant.principal).activation
    body = ok(rpc.v1("DeleteActivation", {"RegionId": region, "ActivationId": unused.id}))
    assert set(body["Activation"]) == ACTIVATION_FIELDS  # no Disabled in this model
    assert body["Activation"]["ActivationId"] == unused.id
    assert not Activation.objects.filter(pk=unused.id).exists()

    used, _ = register(tenant)
    refused(
        rpc.v1("DeleteActivation", {"RegionId": region, "ActivationId": used.id}),
        403,
        "InvalidActivation.InUse",
    )
    assert Activation.objects.filter(pk=used.id).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["DisableActivation", "DeleteActivation", "DescribeActivations"])
def test_unknown_or_foreign_activation(rpc, other_tenant, region, action) -> None:
    foreign = fleet_services.activation_create(principal=other_tenant.principal).activation
    for activation_id in ("4ECEEE12-56F1-4FBC-9AB1-890F12340000", foreign.id):
        response = rpc.v1(action, {"RegionId": region, "ActivationId": activation_id})
        if action == "DescribeActivations":
            assert ok(response)["ActivationList"] == []
        else:
            refused(response, 404, "InvalidActivationId.NotFound")
    foreign.refresh_from_db()
    assert not foreign.disabled


# --- DescribeManagedInstances -------------------------------------------------------------------------


@pytest.mark.django_db
def test_describe_managed_instances_shape(rpc, tenant, other_tenant, region) -> None:
    activation, instance = register(tenant, instance_name="web", instance_count=12)
    hello(instance)
    make_instance(other_tenant)
    invoke_id = run_on(rpc, region, instance.id)
    body = ok(rpc.v1("DescribeManagedInstances", {"RegionId": region}))
    assert set(body) == {"RequestId", "Instances", "PageNumber", "PageSize", "TotalCount"}
    [row] = body["Instances"]
    assert set(row) == MANAGED_FIELDS | {"Connected", "Tags"}
    assert ISO_Z.match(row["RegistrationTime"]) and ISO_Z.match(row["LastInvokedTime"])
    assert row | {"RegistrationTime": "", "LastInvokedTime": ""} == {
        "ActivationId": activation.id,
        "AgentVersion": "2.0.0",
        "Connected": True,
        "Hostname": "web-1",
        "InstanceId": instance.id,
        "InstanceName": "web-01",
        "InternetIp": "8.8.4.4",
        "IntranetIp": "10.0.0.5",
        "InvocationCount": 1,
        "LastInvokedTime": "",
        "MachineId": "m-123",
        "OsType": "linux",
        "OsVersion": "Debian 12",
        "RegistrationTime": "",
        "ResourceGroupId": "",
        "Tags": [],
    }
    assert InvocationResult.objects.filter(invocation_id=invoke_id).count() == 1


@pytest.mark.django_db
def test_describe_managed_instances_unset_values(rpc, tenant, region) -> None:
    _, instance = register(tenant)
    [row] = ok(rpc.v1("DescribeManagedInstances", {"RegionId": region}))["Instances"]
    assert (row["Connected"], row["InvocationCount"], row["LastInvokedTime"]) == (False, 0, "")
    assert (row["InternetIp"], row["IntranetIp"]) == ("", "")


@pytest.mark.django_db
def test_describe_managed_instances_filters(rpc, tenant, region) -> None:
    first_activation, first = register(tenant, instance_name="alpha")
    _, second = register(tenant, instance_name="beta")
    _, third = register(tenant, instance_name="gamma")
    hello(first, ips=["192.168.1.9"])
    hello(second, ips=["192.168.1.10"], os_type="windows")
    Instance.objects.filter(pk=second.id).update(last_heartbeat_at=timezone.now() - timedelta(minutes=5))

    def ids(**filters: str) -> set[str]:
        body = ok(rpc.v1("DescribeManagedInstances", {"RegionId": region, **filters}))
        return {row["InstanceId"] for row in body["Instances"]}

    assert ids() == {first.id, second.id, third.id}
    assert ids(**{"InstanceId.1": first.id, "InstanceId.2": third.id}) == {first.id, third.id}
    assert ids(**{"InstanceId.1": "mi-unknown"}) == set()
    assert ids(InstanceName=second.name) == {second.id}
    assert ids(InstanceIp="192.168.1.9") == {first.id}
    assert ids(InstanceIp="192.168.1.1") == set()
    assert ids(ActivationId=first_activation.id) == {first.id}
    assert ids(OsType="Windows") == {second.id}
    assert ids(OsType="linux") == {first.id, third.id}
    assert ids(Connected="true") == {first.id}
    assert ids(Connected="FALSE") == {second.id, third.id}
    assert ids(MachineId="m-123") == {first.id, second.id, third.id}
    assert ids(MachineId="m-999") == set()
    refused(
        rpc.v1(
            "DescribeManagedInstances",
            {"RegionId": region, **{f"InstanceId.{n}": f"mi-{n}" for n in range(1, 52)}},
        ),
        403,
        "InstanceIds.ExceedLimit",
    )


@pytest.mark.django_db
def test_describe_managed_instances_paging(rpc, tenant, region) -> None:
    made = [register(tenant)[1].id for _ in range(5)]
    Instance.objects.filter(pk=made[0]).update(registered_at=timezone.now() - timedelta(hours=1))
    body = ok(rpc.v1("DescribeManagedInstances", {"RegionId": region, "PageNumber": "3", "PageSize": "2"}))
    assert [row["InstanceId"] for row in body["Instances"]] == [made[0]]
    assert (body["PageNumber"], body["PageSize"], body["TotalCount"]) == (3, 2, 5)
    seen, token = [], ""
    while True:
        params = {"RegionId": region, "MaxResults": "2", **({"NextToken": token} if token else {})}
        body = ok(rpc.v1("DescribeManagedInstances", params))
        seen += [row["InstanceId"] for row in body["Instances"]]
        token = body["NextToken"]
        if not token:
            break
    assert sorted(seen) == sorted(made) and seen[-1] == made[0]


# --- ModifyManagedInstance / DeregisterManagedInstance ------------------------------------------------


@pytest.mark.django_db
def test_modify_managed_instance(rpc, tenant, region, instance_id) -> None:
    body = ok(
        rpc.v1(
            "ModifyManagedInstance",
            {"RegionId": region, "InstanceId": instance_id, "InstanceName": "db.1:a-b_c"},
        )
    )
    assert body["Instance"] == {"InstanceId": instance_id, "InstanceName": "db.1:a-b_c"}
    assert Instance.objects.get(pk=instance_id).name == "db.1:a-b_c"
    ok(
        rpc.v1(
            "ModifyManagedInstance",
            {"RegionId": region, "InstanceId": instance_id, "InstanceName": "d" * 128},
        )
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "MissingParameter.InstanceName"),
        ("d", "InvalidParameter.InstanceName"),
        ("9db", "InvalidParameter.InstanceName"),
        ("db/1", "InvalidParameter.InstanceName"),
        ("d" * 129, "InvalidParameter.InstanceName"),
    ],
)
def test_modify_managed_instance_bad_names(rpc, region, instance_id, name, code) -> None:
    before = Instance.objects.get(pk=instance_id).name
    refused(
        rpc.v1(
            "ModifyManagedInstance", {"RegionId": region, "InstanceId": instance_id, "InstanceName": name}
        ),
        400,
        code,
    )
    assert Instance.objects.get(pk=instance_id).name == before


@pytest.mark.django_db
def test_deregister_managed_instance(rpc, tenant, region) -> None:
    activation, instance = register(tenant)
    hello(instance)
    invoke_id = run_on(rpc, region, instance.id)
    body = ok(
        rpc.v1(
            "DeregisterManagedInstance", {"RegionId": region, "InstanceId": instance.id, "ClientToken": "x"}
        )
    )
    assert set(body["Instance"]) == MANAGED_FIELDS
    assert body["Instance"]["InstanceId"] == instance.id and body["Instance"]["InvocationCount"] == 1
    activation.refresh_from_db()
    assert (activation.registered_count, activation.deregistered_count) == (1, 1)
    # Gone from the lists and from every instance operation.
    assert ok(rpc.v1("DescribeManagedInstances", {"RegionId": region}))["Instances"] == []
    assert ok(rpc.v1("DescribeCloudAssistantStatus", {"RegionId": region}))["TotalCount"] == 0
    refused(
        rpc.v1("DeregisterManagedInstance", {"RegionId": region, "InstanceId": instance.id}),
        404,
        "InvalidInstance.NotFound",
    )
    refused(
        rpc.v1(
            "RunCommand",
            {
                "RegionId": region,
                "Type": "RunShellScript",
                "CommandContent": "x",
                "InstanceId.1": instance.id,
            },
        ),
        404,
        "InvalidInstance.NotFound",
    )
    # Its past results survive.
    results = ok(rpc.v1("DescribeInvocationResults", {"RegionId": region, "InvokeId": invoke_id}))
    assert [r["InstanceId"] for r in results["Invocation"]["InvocationResults"]["InvocationResult"]] == [
        instance.id
    ]


def test_deregistered_agent_cannot_authenticate(db, tenant) -> None:
    issued = fleet_services.activation_create(principal=tenant.principal)
    registration = fleet_services.instance_register(
        activation_id=issued.activation.id, activation_code=issued.code, source_ip="127.0.0.1"
    )
    instance_id, secret = registration.instance.id, registration.secret
    assert fleet_services.instance_authenticate(instance_id=instance_id, secret=secret) is not None
    fleet_services.instance_deregister(
        principal=tenant.principal, instance_id=instance_id, region=issued.activation.region
    )
    assert fleet_services.instance_authenticate(instance_id=instance_id, secret=secret) is None
    assert fleet_services.instance_authenticate(instance_id=instance_id, secret="") is None


# --- DescribeCloudAssistantStatus / InstallCloudAssistant ---------------------------------------------


@pytest.mark.django_db
def test_describe_cloud_assistant_status(rpc, tenant, other_tenant, region) -> None:
    _, online = register(tenant)
    _, silent = register(tenant)
    _, windows = register(tenant)
    hello(online)
    hello(windows, os_type="windows")
    Instance.objects.filter(pk=windows.id).update(last_heartbeat_at=timezone.now() - timedelta(minutes=3))
    make_instance(other_tenant)
    invoke_id = run_on(rpc, region, online.id, silent.id)
    run_on(rpc, region, online.id)
    InvocationResult.objects.filter(invocation_id=invoke_id, instance_id=online.id).update(status=st.RUNNING)

    body = ok(rpc.v1("DescribeCloudAssistantStatus", {"RegionId": region}))
    assert set(body) == {
        "RequestId",
        "InstanceCloudAssistantStatusSet",
        "PageNumber",
        "PageSize",
        "TotalCount",
    }
    rows = {
        r["InstanceId"]: r for r in body["InstanceCloudAssistantStatusSet"]["InstanceCloudAssistantStatus"]
    }
    assert set(rows) == {online.id, silent.id, windows.id}
    assert all(set(r) == STATUS_FIELDS for r in rows.values())
    up = rows[online.id]
    assert ISO_Z.match(up["LastHeartbeatTime"]) and ISO_Z.match(up["LastInvokedTime"])
    assert up | {"LastHeartbeatTime": "", "LastInvokedTime": ""} == {
        "ActiveTaskCount": 1,
        "CloudAssistantStatus": "true",
        "CloudAssistantVersion": "2.0.0",
        "InstanceId": online.id,
        "InvocationCount": 2,
        "LastHeartbeatTime": "",
        "LastInvokedTime": "",
        "OSType": "Linux",
        "SupportSessionManager": True,
    }
    assert rows[silent.id] | {"LastInvokedTime": ""} == {
        "ActiveTaskCount": 0,
        "CloudAssistantStatus": "false",
        "CloudAssistantVersion": "",
        "InstanceId": silent.id,
        "InvocationCount": 1,
        "LastHeartbeatTime": "",
        "LastInvokedTime": "",
        "OSType": "Linux",
        "SupportSessionManager": True,
    }
    assert rows[windows.id]["CloudAssistantStatus"] == "false"
    assert rows[windows.id]["SupportSessionManager"] is False  # no PTY terminals on Windows
    assert ISO_Z.match(rows[windows.id]["LastHeartbeatTime"])

    def ids(**params: str) -> set[str]:
        body = ok(rpc.v1("DescribeCloudAssistantStatus", {"RegionId": region, **params}))
        return {
            r["InstanceId"] for r in body["InstanceCloudAssistantStatusSet"]["InstanceCloudAssistantStatus"]
        }

    assert ids(OSType="windows") == {windows.id}
    assert ids(**{"InstanceId.1": silent.id}) == {silent.id}
    # MaxResults is ignored when InstanceId is given.
    assert ids(**{"InstanceId.1": silent.id, "InstanceId.2": online.id, "MaxResults": "1"}) == {
        silent.id,
        online.id,
    }
    assert len(ids(MaxResults="1")) == 1
    assert ids(**{"InstanceId.1": "mi-unknown"}) == set()
    refused(
        rpc.v1(
            "DescribeCloudAssistantStatus",
            {"RegionId": region, **{f"InstanceId.{n}": f"mi-{n}" for n in range(1, 102)}},
        ),
        403,
        "InstanceIds.ExceedLimit",
    )


@pytest.mark.django_db
def test_install_cloud_assistant(rpc, tenant, other_tenant, region) -> None:
    mine = make_instance(tenant)
    theirs = make_instance(other_tenant)
    body = ok(rpc.v1("InstallCloudAssistant", {"RegionId": region, "InstanceId.1": mine}))
    assert set(body) == {"RequestId"}
    for ids in (["mi-unknown"], [theirs], [mine, "mi-unknown"]):
        params = {"RegionId": region, **{f"InstanceId.{n}": i for n, i in enumerate(ids, start=1)}}
        refused(rpc.v1("InstallCloudAssistant", params), 404, "InvalidInstance.NotFound")
    refused(
        rpc.v1("InstallCloudAssistant", {"RegionId": "elsewhere", "InstanceId.1": mine}),
        404,
        "InvalidInstance.NotFound",
    )
    refused(
        rpc.v1(
            "InstallCloudAssistant", {"RegionId": region, **{f"InstanceId.{n}": mine for n in range(1, 52)}}
        ),
        403,
        "InstanceIds.ExceedLimit",
    )


# --- isolation and RAM --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "extra"),
    [
        ("ModifyManagedInstance", {"InstanceName": "taken"}),
        ("DeregisterManagedInstance", {}),
        ("InstallCloudAssistant", None),
    ],
)
def test_another_accounts_instance_is_not_found(rpc, other_tenant, region, action, extra) -> None:
    theirs = make_instance(other_tenant)
    params = {
        "RegionId": region,
        **({"InstanceId": theirs, **extra} if extra is not None else {"InstanceId.1": theirs}),
    }
    refused(rpc.v1(action, params), 404, "InvalidInstance.NotFound")
    row = Instance.objects.get(pk=theirs)
    assert row.deregistered_at is None and row.name != "taken" and row.secret_hash
    assert (
        ok(rpc.v1("DescribeManagedInstances", {"RegionId": region, "InstanceId.1": theirs}))["Instances"]
        == []
    )
    status = ok(rpc.v1("DescribeCloudAssistantStatus", {"RegionId": region, "InstanceId.1": theirs}))
    assert status["InstanceCloudAssistantStatusSet"]["InstanceCloudAssistantStatus"] == []


ALL_CALLS = [
    ("CreateActivation", lambda ids: {}),
    ("DescribeActivations", lambda ids: {}),
    ("DisableActivation", lambda ids: {"ActivationId": ids["activation"]}),
    ("DeleteActivation", lambda ids: {"ActivationId": ids["unused"]}),
    ("DescribeManagedInstances", lambda ids: {}),
    ("ModifyManagedInstance", lambda ids: {"InstanceId": ids["instance"], "InstanceName": "renamed"}),
    ("DeregisterManagedInstance", lambda ids: {"InstanceId": ids["instance"]}),
    ("DescribeCloudAssistantStatus", lambda ids: {}),
    ("InstallCloudAssistant", lambda ids: {"InstanceId.1": ids["instance"]}),
]


@pytest.fixture
def fleet_ids(tenant) -> dict[str, str]:
    activation, instance = register(tenant)
    unused = fleet_services.activation_create(principal=tenant.principal).activation
    return {"activation": activation.id, "instance": instance.id, "unused": unused.id}


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "params"), ALL_CALLS, ids=[a for a, _ in ALL_CALLS])
def test_ram_user_without_permission_is_refused(client, tenant, region, fleet_ids, action, params) -> None:
    before = (Activation.objects.count(), list(Instance.objects.values_list("name", "deregistered_at")))
    activations = list(Activation.objects.values_list("id", "disabled"))
    refused(
        ram_rpc(client, tenant).v1(action, {"RegionId": region, **params(fleet_ids)}), 403, "Forbidden.RAM"
    )
    assert (
        Activation.objects.count(),
        list(Instance.objects.values_list("name", "deregistered_at")),
    ) == before
    assert list(Activation.objects.values_list("id", "disabled")) == activations


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "params"), ALL_CALLS, ids=[a for a, _ in ALL_CALLS])
def test_ram_user_with_the_action_is_allowed(client, tenant, region, fleet_ids, action, params) -> None:
    ok(ram_rpc(client, tenant, [f"ecs:{action}"]).v1(action, {"RegionId": region, **params(fleet_ids)}))


@pytest.mark.django_db
def test_ram_user_sees_only_the_instances_it_may_describe(client, tenant, region, fleet_ids) -> None:
    other = make_instance(tenant)
    resource = f"acs:ecs:*:{tenant.account_id}:instance/{fleet_ids['instance']}"
    ram = ram_rpc(
        client, tenant, ["ecs:DescribeManagedInstances", "ecs:DescribeCloudAssistantStatus"], resource
    )
    named = {"RegionId": region, "InstanceId.1": fleet_ids["instance"]}
    assert [r["InstanceId"] for r in ok(ram.v1("DescribeManagedInstances", named))["Instances"]] == [
        fleet_ids["instance"]
    ]
    refused(
        ram.v1("DescribeManagedInstances", {"RegionId": region, "InstanceId.1": other}), 403, "Forbidden.RAM"
    )
    status = ok(ram.v1("DescribeCloudAssistantStatus", named))["InstanceCloudAssistantStatusSet"]
    assert [r["InstanceId"] for r in status["InstanceCloudAssistantStatus"]] == [fleet_ids["instance"]]


@pytest.mark.django_db
def test_bare_arrays_in_xml(rpc, tenant, region) -> None:
    register(tenant)
    register(tenant)
    response = rpc.v1("DescribeActivations", {"RegionId": region}, fmt=None)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("<ActivationList>") == 2 and "<Disabled>false</Disabled>" in body
    assert body.startswith("<?xml") and "<DescribeActivationsResponse>" in body
