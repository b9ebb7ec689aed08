from typing import Any

import pytest

from console.iam import services
from console.iam.models import Policy
from console.iam.principal import Principal


def ram_principal(
    root: Principal,
    name: str,
    *,
    system: tuple[str, ...] = (),
    documents: tuple[dict[str, Any], ...] = (),
    group_documents: tuple[dict[str, Any], ...] = (),
    source_ip: str = "",
    secure: bool = False,
) -> Principal:
    """A RAM user of root's account, built with the services, with system policies and custom documents
    attached to it and (``group_documents``) to a group it is in."""
    user = services.ram_user_create(principal=root, name=name, password="long-enough-pw")
    for policy_name in system:
        policy = Policy.objects.get(account=None, name=policy_name)
        services.policy_attach(principal=root, policy=policy, to_user=user)
    for i, document in enumerate(documents):
        policy = services.policy_create(principal=root, name=f"{name}-p{i}", document=document)
        services.policy_attach(principal=root, policy=policy, to_user=user)
    if group_documents:
        group = services.group_create(principal=root, name=f"{name}-group")
        services.group_add_user(principal=root, group=group, user=user)
        for i, document in enumerate(group_documents):
            policy = services.policy_create(principal=root, name=f"{name}-g{i}", document=document)
            services.policy_attach(principal=root, policy=policy, to_group=group)
    return Principal.for_user(user, source_ip=source_ip, secure=secure)


@pytest.fixture
def make_ram_principal(root_principal):
    def make(name: str = "dev", **kwargs: Any) -> Principal:
        return ram_principal(root_principal, name, **kwargs)

    return make


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
