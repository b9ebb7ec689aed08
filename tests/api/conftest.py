"""Fixtures for the RPC API tests: tenants and instances made with the real services, and a client that
signs requests with the official SDK's own signing code (an oracle independent of console.api)."""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest
from django.conf import settings
from django.test import Client

from console.fleet.services import activation_create, instance_register
from console.iam.models import User
from console.iam.principal import Principal
from console.iam.services import bootstrap

HOST = "testserver"
VERSION = "2014-05-26"


@dataclass(frozen=True)
class Tenant:
    user: User
    access_key_id: str
    access_key_secret: str

    @property
    def principal(self) -> Principal:
        return Principal.for_user(self.user)

    @property
    def account_id(self) -> str:
        return self.user.account_id


def make_tenant(name: str) -> Tenant:
    user, key = bootstrap(account_name=name, username="root", password="correct horse")
    return Tenant(user=user, access_key_id=key.access_key_id, access_key_secret=key.access_key_secret)


def make_instance(tenant: Tenant, hostname: str = "h") -> str:
    issued = activation_create(principal=tenant.principal)
    registration = instance_register(
        activation_id=issued.activation.id,
        activation_code=issued.code,
        source_ip="127.0.0.1",
        hostname=hostname,
    )
    return registration.instance.id


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenant(db) -> Tenant:
    return make_tenant("acme")


@pytest.fixture
def other_tenant(db) -> Tenant:
    return make_tenant("globex")


@pytest.fixture
def instance_id(tenant) -> str:
    return make_instance(tenant)


@pytest.fixture
def region() -> str:
    return settings.ASSIST_REGION


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_query(params: dict[str, str]) -> str:
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in params.items())


class Rpc:
    """Sends RPC requests through Django's test client, signed the way the official SDK signs them."""

    def __init__(self, client: Client, tenant: Tenant) -> None:
        self.client = client
        self.tenant = tenant

    def v1_params(
        self,
        action: str,
        params: dict[str, str],
        *,
        method: str = "POST",
        timestamp: str | None = None,
        nonce: str | None = None,
        fmt: str | None = "JSON",
        access_key_id: str | None = None,
        secret: str | None = None,
    ) -> dict[str, str]:
        signed = {
            "Action": action,
            "Version": VERSION,
            "AccessKeyId": access_key_id or self.tenant.access_key_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": nonce or uuid.uuid4().hex,
            "Timestamp": timestamp or now_stamp(),
            **params,
        }
        if fmt is not None:
            signed["Format"] = fmt
        signed["Signature"] = Utils.get_rpcsignature(
            dict(signed), method, secret or self.tenant.access_key_secret
        )
        return signed

    def v1(self, action: str, params: dict[str, str] | None = None, *, method: str = "POST", **kwargs: Any):
        query = encode_query(self.v1_params(action, params or {}, method=method, **kwargs))
        return self.client.generic(method, "/?" + query, b"", content_type="")

    def v3_headers(
        self,
        action: str,
        query: dict[str, str],
        *,
        body: bytes = b"",
        date: str | None = None,
        nonce: str | None = None,
        access_key_id: str | None = None,
        secret: str | None = None,
        content_type: str | None = None,
    ) -> dict[str, str]:
        headers = {
            "host": HOST,
            "x-acs-version": VERSION,
            "x-acs-action": action,
            "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.6 TeaDSL/2",
            "x-acs-date": date or now_stamp(),
            "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
            "accept": "application/json",
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        }
        if content_type:
            headers["content-type"] = content_type
        request = DaraRequest()
        request.method = "POST"
        request.pathname = "/"
        request.query = dict(query)
        request.headers = dict(headers)
        headers["Authorization"] = Utils.get_authorization(
            request,
            "ACS3-HMAC-SHA256",
            hashlib.sha256(body).hexdigest(),
            access_key_id or self.tenant.access_key_id,
            secret or self.tenant.access_key_secret,
        )
        return headers

    def v3(self, action: str, params: dict[str, str] | None = None, **kwargs: Any):
        query = dict(params or {})
        headers = self.v3_headers(action, query, **kwargs)
        content_type = headers.pop("content-type", "")
        body = kwargs.get("body", b"")
        return self.client.generic(
            "POST", "/?" + encode_query(query), body, content_type=content_type, headers=headers
        )


@pytest.fixture
def rpc(client, tenant) -> Rpc:
    return Rpc(client, tenant)
