"""The Send file pages in-process: upload, field errors, audit, visibility and the live fragment."""

import hashlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from console.audit.models import AuditEvent
from console.files import storage
from console.files.models import FileTransfer
from console.iam.models import User
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db


def logged_in(principal) -> Client:
    client = Client()
    client.force_login(User.objects.get(pk=principal.user_id))
    return client


def post_upload(client: Client, data: bytes, **fields):
    form = {"file": SimpleUploadedFile("app.conf", data), "target_dir": "/etc/app", **fields}
    return client.post(reverse("file-send"), form, HTTP_ACCEPT="application/json")


def test_an_upload_is_stored_once_hashed_and_audited(root_principal):
    instance = make_instance(root_principal)
    client = logged_in(root_principal)
    data = b"listen 80;\n" * 1000
    answer = post_upload(client, data, instance_ids=[instance.id], mode="0600", overwrite="on")
    assert answer.status_code == 200, answer.content
    transfer = FileTransfer.objects.get(pk=answer.json()["InvokeId"])
    assert (transfer.name, transfer.mode, transfer.overwrite) == ("app.conf", "0600", True)
    assert (transfer.sha256, transfer.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert storage.content_path(transfer.sha256).read_bytes() == data
    assert list(storage.incoming_dir().iterdir()) == []
    event = AuditEvent.objects.get(event_name="SendFile")
    assert transfer.id in event.resources and instance.id in event.resources and event.success


def test_every_field_of_the_form_reaches_the_transfer(root_principal):
    instance = make_instance(root_principal)
    fields = {"name": "site.conf", "owner": "www-data", "group": "adm", "mode": "640",
              "description": "the site's config", "timeout": "5"}  # fmt: skip
    answer = post_upload(logged_in(root_principal), b"x", instance_ids=[instance.id], **fields)
    assert answer.status_code == 200, answer.content
    transfer = FileTransfer.objects.get(pk=answer.json()["InvokeId"])
    assert (transfer.name, transfer.target_dir, transfer.owner, transfer.group, transfer.mode) == (
        "site.conf",
        "/etc/app",
        "www-data",
        "adm",
        "0640",
    )
    assert (transfer.description, transfer.timeout, transfer.overwrite) == ("the site's config", 10, False)
    assert [r.instance_id for r in transfer.results.all()] == [instance.id]


def test_refusals_name_their_field_and_keep_nothing(root_principal):
    instance = make_instance(root_principal)
    client = logged_in(root_principal)
    cases = [
        ({"instance_ids": [instance.id], "mode": "0999"}, "mode"),
        ({"instance_ids": [instance.id], "name": "../x"}, "name"),
        ({"instance_ids": [instance.id], "target_dir": "etc"}, "target_dir"),
        ({"instance_ids": [instance.id], "owner": "a b"}, "owner"),
        ({}, "instances"),
        ({"instance_ids": ["mi-nope"]}, "instances"),
        ({"instance_ids": [instance.id], "tag": "env=none"}, "instances"),
    ]
    for fields, field in cases:
        answer = post_upload(client, b"x", **fields)
        assert answer.status_code in (400, 403, 404), (fields, answer.status_code)
        assert field in answer.json()["errors"], (fields, answer.json())
    assert FileTransfer.objects.count() == 0
    assert list(storage.incoming_dir().iterdir()) == []
    assert not (storage.files_dir() / "content").exists()
    failed = AuditEvent.objects.filter(event_name="file-send", success=False)
    assert failed.count() == len(cases)


def test_an_upload_over_the_limit_is_refused(root_principal, settings):
    settings.ASSIST_MAX_UPLOAD_BYTES = 10
    instance = make_instance(root_principal)
    answer = post_upload(logged_in(root_principal), b"x" * 11, instance_ids=[instance.id])
    assert answer.status_code == 400 and "larger than the limit" in answer.json()["errors"]["file"]
    assert list(storage.incoming_dir().iterdir()) == []


def test_the_form_page_without_javascript_redirects_to_the_transfer(root_principal):
    instance = make_instance(root_principal)
    client = logged_in(root_principal)
    answer = client.post(
        reverse("file-send"),
        {"file": SimpleUploadedFile("a.txt", b"a"), "target_dir": "/srv", "instance_ids": [instance.id]},
    )
    transfer = FileTransfer.objects.get()
    assert answer.status_code == 302 and answer["Location"] == reverse("file-transfer", args=[transfer.id])
    page = client.get(answer["Location"])
    assert b"a.txt" in page.content and b'hx-trigger="every 1s"' in page.content
    fragment = client.get(answer["Location"], HTTP_HX_REQUEST="true")
    assert fragment.content.lstrip().startswith(b'<div id="transfer-results"')
    transfer.results.update(status="Success")
    done = client.get(answer["Location"], HTTP_HX_REQUEST="true")
    assert b"hx-trigger" not in done.content  # final: the polling stops
    assert transfer.id.encode() in client.get(reverse("file-transfers")).content


def test_another_account_sees_nothing(root_principal, other_principal):
    instance = make_instance(root_principal)
    answer = post_upload(logged_in(root_principal), b"secret", instance_ids=[instance.id])
    transfer_id = answer.json()["InvokeId"]
    other = logged_in(other_principal)
    assert other.get(reverse("file-transfer", args=[transfer_id])).status_code == 404
    assert transfer_id.encode() not in other.get(reverse("file-transfers")).content
    refused = post_upload(other, b"x", instance_ids=[instance.id])
    assert refused.status_code == 404 and json.loads(refused.content)["errors"]["instances"]
