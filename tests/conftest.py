import pytest

from console.fleet import services as fleet_services
from console.iam import services as iam_services
from console.iam.principal import Principal


@pytest.fixture
def root_principal(db):
    user, _ = iam_services.bootstrap(account_name="acme", username="admin", password="long-enough-pw")
    return Principal.for_user(user)


@pytest.fixture
def other_principal(db):
    user, _ = iam_services.bootstrap(account_name="other", username="admin", password="long-enough-pw")
    return Principal.for_user(user)


def make_instance(principal: Principal, name: str = "web-1"):
    issued = fleet_services.activation_create(principal=principal, instance_count=5)
    return fleet_services.instance_register(
        activation_id=issued.activation.id, activation_code=issued.code, source_ip="127.0.0.1", hostname=name
    ).instance
