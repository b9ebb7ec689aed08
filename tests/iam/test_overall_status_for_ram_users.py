"""A RAM user who may describe invocations on some instances only sees those instances' entries, while an
invocation's overall status still counts every instance it ran on (the database's aggregate: the page's
rows hold only what the user may see)."""

import pytest

from console.api.actions.registry import ACTIONS
from console.api.params import Params
from console.fleet.models import Instance
from console.iam.principal import arn
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult
from tests.iam.conftest import ram_principal
from tests.iam.samples import allow, doc

pytestmark = pytest.mark.django_db


def test_a_ram_user_sees_its_instances_and_the_status_over_all_of_them(root_principal):
    account_id = root_principal.account_id
    for instance_id in ("mi-seen", "mi-hidden"):
        Instance.objects.create(id=instance_id, account_id=account_id, region="local", name=instance_id)
    statuses = {"t-mixed": (st.SUCCESS, st.FAILED), "t-fine": (st.SUCCESS, st.SUCCESS)}
    for invocation_id, (seen, hidden) in statuses.items():
        Invocation.objects.create(
            id=invocation_id, account_id=account_id, region="local", command_id="c-1",
            command_type="RunShellScript", command_content="id",
        )  # fmt: skip
        for instance_id, status in (("mi-seen", seen), ("mi-hidden", hidden)):
            InvocationResult.objects.create(
                id=f"r-{invocation_id}-{instance_id}", invocation_id=invocation_id, instance_id=instance_id,
                status=status,
            )  # fmt: skip
    only_seen = [arn(account_id, "local", "instance", "mi-seen"), arn(account_id, "local", "invocation", "*")]
    dev = ram_principal(root_principal, "dev", documents=(doc(allow("ecs:DescribeInvocations", only_seen)),))

    for principal, instances in ((dev, ["mi-seen"]), (root_principal, ["mi-hidden", "mi-seen"])):
        page = ACTIONS["DescribeInvocations"](principal, Params({"RegionId": "local"}))
        shown = {row["InvokeId"]: row for row in page["Invocations"]["Invocation"]}
        assert set(shown) == set(statuses)
        for row in shown.values():
            assert [e["InstanceId"] for e in row["InvokeInstances"]["InvokeInstance"]] == instances
        assert shown["t-mixed"]["InvocationStatus"] == "PartialFailed"  # the hidden instance failed
        assert shown["t-fine"]["InvocationStatus"] == st.SUCCESS
