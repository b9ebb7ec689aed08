"""Agent releases on the console: publishing and signing (checked with the agent's own verifier), targets
and pins behind assist:ManageAgentUpdates with accounts as walls, what is offered to whom, rollback
reports, the authenticated download, the release key, self-deregistration and the console page."""

import base64
import hashlib
import json

import pytest
from assist_agent import ed25519, protocol
from assist_agent.update import release_statement
from django.test import Client
from django.urls import reverse

from console.errors import NotFound, ServiceError
from console.fleet import services as fleet_services
from console.fleet.models import Instance
from console.iam import services as iam_services
from console.iam.authz import AccessDenied
from console.iam.models import User
from console.iam.principal import Principal
from console.releases import selectors, services, signing
from console.releases.models import AgentRelease
from console.releases.offers import offer_frame
from tests.iam.samples import allow, doc

pytestmark = pytest.mark.django_db

PYZ = b"PK\x03\x04 pretend zipapp"


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.ASSIST_RELEASE_KEY_FILE = ""
    return tmp_path


def register(principal: Principal, name: str = "web-1") -> tuple[Instance, str]:
    issued = fleet_services.activation_create(principal=principal, instance_count=5)
    registration = fleet_services.instance_register(
        activation_id=issued.activation.id, activation_code=issued.code, source_ip="127.0.0.1", hostname=name
    )
    return registration.instance, registration.secret


def ram_user(root: Principal, name: str, *statements) -> Principal:
    user = iam_services.ram_user_create(principal=root, name=name)
    if statements:
        policy = iam_services.policy_create(principal=root, name=f"{name}-policy", document=doc(*statements))
        iam_services.policy_attach(principal=root, policy=policy, to_user=user)
    return Principal.for_user(user)


def test_a_published_release_is_signed_for_the_agents_verifier(data_dir):
    release = services.release_publish(data=PYZ, version="1.2.3", notes="fixes")
    assert release.sha256 == hashlib.sha256(PYZ).hexdigest() and release.size == len(PYZ)
    assert (data_dir / "agent-releases" / release.file_name).read_bytes() == PYZ
    public = ed25519.public_key_from_pem(signing.public_key_pem())
    statement = release_statement("1.2.3", release.sha256, release.size)
    assert ed25519.verify(public, statement, base64.b64decode(release.signature))
    assert (data_dir / "release-signing-key.pem").stat().st_mode & 0o777 == 0o600
    # The same bytes again are a no-op; other bytes under a published version are refused.
    assert services.release_publish(data=PYZ, version="1.2.3").pk == release.pk
    with pytest.raises(ServiceError, match="already published"):
        services.release_publish(data=PYZ + b"!", version="1.2.3")


@pytest.mark.parametrize(
    ("data", "version", "message"),
    [(PYZ, "../evil", "letters, digits"), (PYZ, "", "letters, digits"), (b"", "1.0", "empty"),
     (b"MZ not a zipapp", "1.0", "zipapp")],
)  # fmt: skip
def test_bad_releases_are_refused(data, version, message):
    with pytest.raises(ServiceError, match=message):
        services.release_publish(data=data, version=version)


def test_the_consoles_own_build_is_registered(data_dir):
    release = services.builtin_release_ensure()
    from console.gateway import distribution

    build = distribution.current_build()
    assert (release.version, release.sha256, release.builtin) == (build.version, build.sha256, True)
    assert services.builtin_release_ensure().pk == release.pk
    # Changed sources under the same version: the built-in release is refreshed, its old file removed.
    old_file = data_dir / "agent-releases" / release.file_name
    refreshed = services.release_publish(data=PYZ, version=build.version, builtin=True)
    assert refreshed.pk == release.pk and refreshed.sha256 == hashlib.sha256(PYZ).hexdigest()
    assert not old_file.exists() and (data_dir / "agent-releases" / refreshed.file_name).exists()


def test_target_pin_and_offers(root_principal, other_principal):
    web, _ = register(root_principal, "web")
    db, _ = register(root_principal, "db")
    foreign, _ = register(other_principal, "foreign")
    for version in ("1.0", "1.1", "2.0"):
        services.release_publish(data=PYZ + version.encode(), version=version)

    assert offer_frame(web.id, "1.0") is None  # no target: no offers
    services.account_target_set(principal=root_principal, version="1.1")
    frame = offer_frame(web.id, "1.0")
    assert isinstance(frame, protocol.UpdateOffer) and frame.version == "1.1"
    assert frame.url == "/agent/releases/1.1/assist-agent.pyz" and frame.size == len(PYZ + b"1.1")
    protocol.decode(protocol.encode(frame), sender="console")  # a valid frame on the wire
    assert offer_frame(web.id, "1.1") is None  # runs it already
    assert offer_frame(foreign.id, "1.0") is None  # another account's target is not ours

    services.instance_pin_set(principal=root_principal, instance_id=db.id, version="2.0")
    assert offer_frame(db.id, "1.1").version == "2.0" and offer_frame(web.id, "1.0").version == "1.1"
    services.instance_pin_set(principal=root_principal, instance_id=db.id, version="")
    assert offer_frame(db.id, "1.0").version == "1.1"
    services.account_target_set(principal=root_principal, version="")
    assert offer_frame(web.id, "1.0") is None

    with pytest.raises(NotFound):
        services.account_target_set(principal=root_principal, version="9.9")
    with pytest.raises((NotFound, AccessDenied)):  # a wall: another account's instance cannot be pinned
        services.instance_pin_set(principal=root_principal, instance_id=foreign.id, version="1.0")


def test_a_rolled_back_version_is_not_offered_again(root_principal):
    web, _ = register(root_principal)
    services.release_publish(data=PYZ, version="2.0")
    services.account_target_set(principal=root_principal, version="2.0")
    services.instance_update_report(instance_id=web.id, state="switching", version="2.0", detail="")
    # Back on 1.0 after switching to 2.0: not offered at connect, before its rolled_back report arrives.
    assert offer_frame(web.id, "1.0", at_connect=True) is None
    assert offer_frame(web.id, "1.0").version == "2.0"  # a periodic check before any report still may
    services.instance_update_report(
        instance_id=web.id, state="rolled_back", version="2.0", detail="version 2.0 did not come online"
    )
    assert offer_frame(web.id, "1.0") is None
    row = selectors.update_states([web.id])[web.id]
    assert (row.state, row.version, row.rejected_versions) == ("rolled_back", "2.0", ["2.0"])
    # An administrator who pins it explicitly wants it tried again.
    services.instance_pin_set(principal=root_principal, instance_id=web.id, version="2.0")
    assert offer_frame(web.id, "1.0").version == "2.0"
    with pytest.raises(ServiceError):
        services.instance_update_report(instance_id=web.id, state="exploded", version="2.0", detail="")


def test_changing_targets_needs_the_permission(root_principal):
    web, _ = register(root_principal)
    services.release_publish(data=PYZ, version="2.0")
    reader = ram_user(root_principal, "reader", allow("ecs:Describe*"))
    with pytest.raises(AccessDenied):
        services.account_target_set(principal=reader, version="2.0")
    with pytest.raises(AccessDenied):
        services.instance_pin_set(principal=reader, instance_id=web.id, version="2.0")
    pinner = ram_user(
        root_principal, "pinner", allow("assist:ManageAgentUpdates", f"acs:ecs:*:*:instance/{web.id}")
    )
    services.instance_pin_set(principal=pinner, instance_id=web.id, version="2.0")
    with pytest.raises(AccessDenied):  # the account-wide target needs instance/*
        services.account_target_set(principal=pinner, version="2.0")
    admin = ram_user(root_principal, "updater", allow("assist:ManageAgentUpdates"))
    services.account_target_set(principal=admin, version="2.0")


def test_download_needs_the_instances_credentials_and_its_target(root_principal, other_principal):
    web, secret = register(root_principal)
    foreign, foreign_secret = register(other_principal, "foreign")
    services.release_publish(data=PYZ, version="2.0")
    services.release_publish(data=PYZ + b"3", version="3.0")
    services.account_target_set(principal=root_principal, version="2.0")
    client = Client()

    def get(version, instance_id, instance_secret):
        return client.get(
            f"/agent/releases/{version}/assist-agent.pyz",
            HTTP_X_ASSIST_INSTANCE_ID=instance_id,
            HTTP_X_ASSIST_INSTANCE_SECRET=instance_secret,
        )

    response = get("2.0", web.id, secret)
    assert response.status_code == 200 and b"".join(response.streaming_content) == PYZ
    assert response["X-Assist-Agent-SHA256"] == hashlib.sha256(PYZ).hexdigest()
    assert get("2.0", web.id, "wrong").status_code == 403
    assert get("3.0", web.id, secret).status_code == 404  # published, but not this instance's target
    assert get("2.0", foreign.id, foreign_secret).status_code == 404  # the other account targets nothing


def test_release_key_is_served_as_pem():
    response = Client().get("/agent/release-key.pub")
    assert response.status_code == 200
    assert len(ed25519.public_key_from_pem(response.content.decode())) == 32


def test_an_agent_deregisters_itself_with_its_secret(root_principal):
    web, secret = register(root_principal)
    client = Client()

    def post(body):
        return client.post("/agent/deregister", data=json.dumps(body), content_type="application/json")

    assert post({"InstanceId": web.id, "InstanceSecret": "wrong"}).status_code == 401
    assert post({"InstanceId": web.id}).status_code == 400
    assert client.post("/agent/deregister", data="[", content_type="application/json").status_code == 400
    response = post({"InstanceId": web.id, "InstanceSecret": secret})
    assert response.status_code == 200 and response.json() == {"InstanceId": web.id}
    web.refresh_from_db()
    assert web.deregistered_at is not None and web.secret_hash == ""
    assert fleet_services.instance_authenticate(instance_id=web.id, secret=secret) is None
    assert post({"InstanceId": web.id, "InstanceSecret": secret}).status_code == 401  # once only


def test_the_page_shows_versions_and_sets_the_target(root_principal, other_principal):
    web, _ = register(root_principal, "web-host")
    foreign, _ = register(other_principal, "foreign-host")
    services.release_publish(data=PYZ, version="2.0")
    services.instance_update_report(instance_id=web.id, state="rolled_back", version="2.0", detail="boom")
    client = Client()
    client.force_login(User.objects.get(pk=root_principal.user_id))
    page = client.get("/agent-releases/").content.decode()
    assert 'aria-current="page">Agent versions' in page
    assert web.id in page and foreign.id not in page and "rolled back</span> 2.0" in page
    response = client.post("/agent-releases/", {"action": "target", "version": "2.0"})
    assert response.status_code == 302
    assert selectors.target_of(web).version == "2.0"
    response = client.post("/agent-releases/", {"action": "pin", "instance_id": foreign.id, "version": "2.0"})
    assert response.status_code in (403, 404)
    assert selectors.target_of(foreign) is None

    reader = User.objects.get(pk=ram_user(root_principal, "reader", allow("ecs:Describe*")).user_id)
    client.force_login(reader)
    page = client.get("/agent-releases/")
    assert page.status_code == 200 and "Set target" not in page.content.decode()
    response = client.post("/agent-releases/", {"action": "target", "version": ""})
    assert response.status_code == 403 and selectors.target_of(web).version == "2.0"


def test_the_instances_list_shows_the_update_state(root_principal):
    web, _ = register(root_principal, "web-host")
    services.instance_update_report(instance_id=web.id, state="rolled_back", version="2.0", detail="boom")
    client = Client()
    client.force_login(User.objects.get(pk=root_principal.user_id))
    page = client.get(reverse("instances")).content.decode()
    assert '<span class="badge off" title="boom">rolled back 2.0</span>' in page


def test_the_activations_page_explains_how_to_add_machines(root_principal):
    client = Client()
    client.force_login(User.objects.get(pk=root_principal.user_id))
    page = client.get(reverse("activations")).content.decode()
    assert "Adding machines" in page and "/agent/install.sh | sudo sh -s --" in page
    assert 'href="/agent-releases/"' in page and "deregisters the machine" in page


def test_a_release_key_configured_on_the_console_signs_and_is_served(settings, tmp_path, data_dir):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    path = tmp_path / "keys" / "release.pem"
    path.parent.mkdir()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    settings.ASSIST_RELEASE_KEY_FILE = str(path)
    release = services.release_publish(data=PYZ, version="4.0")
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    statement = release_statement("4.0", release.sha256, release.size)
    assert ed25519.verify(public, statement, base64.b64decode(release.signature))
    served = Client().get("/agent/release-key.pub").content.decode()
    assert ed25519.public_key_from_pem(served) == public  # what install.sh gives the agents
    assert not (data_dir / "release-signing-key.pem").exists()  # no key of its own was made


@pytest.mark.parametrize(
    "content",
    [b"not a key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "rsa"],
)
def test_an_unusable_configured_key_is_named_in_a_clear_error(settings, tmp_path, content):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.core.exceptions import ImproperlyConfigured

    if content == "rsa":
        content = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    path = tmp_path / "release.pem"
    path.write_bytes(content)
    settings.ASSIST_RELEASE_KEY_FILE = str(path)
    with pytest.raises(ImproperlyConfigured, match="release signing key .*release.pem"):
        services.release_publish(data=PYZ, version="4.1")
    assert not AgentRelease.objects.filter(version="4.1").exists()
    assert path.read_bytes() == content  # never replaced
